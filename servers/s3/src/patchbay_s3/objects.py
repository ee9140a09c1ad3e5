"""Reading an object body under the size cap, and the checks before writing or deleting.

Blocking functions: they run in a worker thread (through the upstream helper, or as a
confirmation question), so they may call S3 several times.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from patchbay.audit import current_call
from patchbay.confirm import Question, check_unchanged, fingerprint
from patchbay.content import Content, ContentTooLarge, is_text_mime, read_content
from patchbay.errors import InvalidArgument, ToolError
from patchbay.model_text import short_time
from patchbay.scope import BucketAllowlist, OutOfScope
from patchbay_s3.client import S3
from patchbay_s3.scoping import admitted, object_name

Mode = Literal["auto", "text", "base64"]
_GENERIC_TYPES = frozenset({"binary/octet-stream", "application/octet-stream", ""})
MAX_DELETE = 10_000
"""Most objects one delete_objects call removes; more needs a narrower prefix."""


@dataclass(frozen=True)
class Body:
    """An object's body (or a range of it) as MCP content, with what HEAD said about it."""

    content: Content
    head: dict[str, Any]


def declared_type(head: dict[str, Any]) -> str | None:
    """The object's Content-Type, unless it is the generic one S3 gives objects stored without one."""
    declared = str(head.get("ContentType") or "").split(";")[0].strip().lower()
    return None if declared in _GENERIC_TYPES else declared


def _looks_text(mode: Mode, mime: str | None, key: str) -> bool:
    if mode != "auto":
        return mode == "text"
    guessed = mime or mimetypes.guess_type(key, strict=False)[0]
    return guessed is not None and is_text_mime(guessed)


def read_body(
    s3: S3,
    where: tuple[str, str, str | None],
    span: tuple[int, int | None],
    mode: Mode,
    cap: int,
    progress: Callable[[int], None] | None = None,
) -> Body:
    """HEAD first; then at most `cap` bytes of [offset, offset+length), read only if allowed.

    Text is cut at the cap (flagged); anything else over the cap is refused before a byte
    of the body is asked for, offering a range read instead.

    Raises:
        ContentTooLarge: non-text content over the cap; no GET was sent.
    """
    bucket, key, version = where
    offset, length = span
    head = s3.head(bucket, key, version)
    size = int(head.get("ContentLength", 0))
    if offset > size:
        raise InvalidArgument("offset", f"is past the end of the object ({size} bytes)")
    end = size if length is None else min(size, offset + length)
    mime = declared_type(head)
    if end - offset > cap and not _looks_text(mode, mime, key):
        raise ContentTooLarge(
            f"s3://{bucket}/{key} is {size} bytes ({end - offset} asked for), over the {cap}-byte cap for "
            f"content that is not text; nothing was read. Ask for a range (offset={offset}, length={cap}), "
            "or mode='text' to read it as text."
        )

    def read(start: int, count: int) -> bytes:
        return s3.read(bucket, key, start, count, version, progress)

    content = read_content(
        end,
        read,
        max_bytes=cap,
        offset=offset,
        name=key,
        uri=f"s3://{bucket}/{key}",
        mime_type=mime if mode == "auto" else None,
        as_text={"auto": None, "text": True, "base64": False}[mode],
    )
    return Body(content, head)


# Overwriting ------------------------------------------------------------------------------


def overwrite_question(s3: S3, bucket: str, key: str, what: str) -> Question | None:
    """The question before replacing an existing object; None when there is none to replace."""
    head = s3.head_or_none(bucket, key)
    if head is None:
        return None
    size = head.get("ContentLength")
    modified = head.get("LastModified")
    return Question(
        f"Overwrite s3://{bucket}/{key} ({size} bytes, last modified {short_time(modified)} UTC) {what}? "
        "The current content is replaced.",
        fingerprint(bucket, key, head.get("ETag")),
    )


def write_condition(s3: S3, bucket: str, key: str, if_none_match: bool) -> tuple[dict[str, str], bool]:
    """The precondition a write sends, and whether it replaces an object.

    Create-only unless the user confirmed replacing the object (or the operator turned
    confirmation off): then only the very version that was confirmed may be replaced.

    Raises:
        ToolError: the object appeared, or changed, after the question; nothing was written.
    """
    if if_none_match:
        return {"IfNoneMatch": "*"}, False
    head = s3.head_or_none(bucket, key)
    if head is None:
        return {"IfNoneMatch": "*"}, False  # nothing to overwrite, and it must stay that way
    record = current_call()
    if record.confirmation == "not needed":
        record.outcome = "denied"
        raise ToolError(
            f"Refused: s3://{bucket}/{key} was created after this call checked for it, and overwriting needs "
            "the user's confirmation. Nothing was written; call the tool again to confirm."
        )
    check_unchanged(fingerprint(bucket, key, head.get("ETag")), f"s3://{bucket}/{key}")
    return {"IfMatch": str(head.get("ETag"))}, True


# Deleting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Doomed:
    """The objects a delete_objects call would remove, as checked against the allowlist."""

    bucket: str
    keys: list[str]
    facts: list[tuple[str, str]]
    versioning: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.bucket, self.facts)

    def question(self, shown: int = 5) -> Question:
        first = ", ".join(self.keys[:shown]) + (f" and {len(self.keys) - shown} more" if len(self.keys) > shown else "")
        return Question(
            f"Delete {len(self.keys)} objects from s3://{self.bucket} ({first})? {self.note}", self.fingerprint
        )

    @property
    def note(self) -> str:
        if self.versioning in ("Enabled", "Suspended"):
            return f"Versioning is {self.versioning}: S3 adds delete markers and earlier versions remain (restorable)."
        return "Versioning is off: the objects are gone for good."


def doomed(s3: S3, buckets: BucketAllowlist, bucket: str, keys: list[str] | None, prefix: str | None) -> Doomed:
    """Exactly what would be deleted; every key checked first, so one outside key refuses the whole call.

    Raises:
        InvalidArgument: neither or both of keys and prefix, or a malformed key.
        OutOfScope: any key (or any object under the prefix) is outside the allowlist.
    """
    if (keys is None) == (prefix is None):
        raise InvalidArgument("keys", "give either keys (exact keys) or prefix, not both or neither")
    if keys is not None:
        names = [object_name(buckets, bucket, key)[1] for key in keys]
        checked = list(dict.fromkeys(names))
        facts = [(key, "") for key in checked]
    else:
        assert prefix is not None
        _, base = object_name(buckets, bucket, prefix, argument="prefix")
        facts = s3.keys_under(bucket, base, MAX_DELETE)
        if len(facts) > MAX_DELETE:
            raise ToolError(f"More than {MAX_DELETE} objects lie under {base!r}; delete a narrower prefix.")
        outside = next((key for key, _ in facts if not admitted(buckets, bucket, key)), None)
        if outside is not None:
            raise OutOfScope(f"{bucket}/{outside}", buckets.kind.noun, "end the prefix with '/' to stay inside it")
        checked = [key for key, _ in facts]
        if not checked:
            raise ToolError(f"No objects lie under s3://{bucket}/{base}; nothing to delete.")
    return Doomed(bucket, checked, facts, s3.versioning(bucket))
