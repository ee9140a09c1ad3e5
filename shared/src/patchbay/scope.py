"""Scopes: which repositories, channels, buckets or folders a connector may touch upstream.

An `Allowlist` is both a settings field (comma-separated in the environment or on the
command line) and the matcher every tool asks. One `Kind` per scoped thing says how its
names are written and compared; the subclasses below cover GitHub repositories, Slack
channels, S3 buckets and prefixes, and Drive folders and drives.

The rules, the same for every kind:

- Fail-closed: an empty allowlist admits nothing, and the start-up notice says which
  setting to fill in. Allowing everything takes an explicit `--all-<things>` option
  (a bool field `all_<field>` beside the allowlist field), which is logged as a warning.
- Exact on boundaries: an entry admits itself and what lies under it, whole segments
  only (`bucket/logs/` never admits `bucket/logs2/x`; `owner/*` never admits
  `owner-evil/x`; `bucket` never admits `bucket-2`).
- Normalised first, and the normalised name is what the tool then uses: percent-encoding
  decoded once (twice-encoded is refused), Unicode NFKC, `//` and `.` segments dropped.
  What cannot be normalised without guessing is refused rather than matched: `..`
  segments, control and invisible characters (Unicode categories C*, line and paragraph
  separators, spaces other than U+0020), letters of look-alike scripts mixed in one word
  (Latin with Cyrillic or Greek, ...), and non-ASCII letters in names a service keeps ASCII.
- Case as the service compares: GitHub owners and repositories ignore case; S3 buckets
  and keys, Slack channel ids and Drive ids do not; Slack `#names` ignore case.

`check()` raises `InvalidArgument` for a name that is not well formed and `OutOfScope`
(one wording for every connector) for one that is outside. Items that come back from
elsewhere (search results, history, permalinks) go through `filter()`, which says how
many were withheld.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar
from urllib.parse import unquote

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from patchbay.errors import InvalidArgument, ToolError

T = TypeVar("T")

_MAX_CHARS = 2048
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_CONFUSABLE_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC"})
"""Scripts with letters that look like each other; one word may not mix them."""


def within(value: str, prefix: str, sep: str = "/") -> bool:
    """Whether `value` is `prefix` or lies under it, on a `sep` boundary.

    The one boundary rule of every scope: `logs` admits `logs` and `logs/x`, never
    `logs2`. Both sides must already be normalised (no empty or dot segments).
    """
    return value == prefix or value.startswith(prefix.rstrip(sep) + sep)


class OutOfScope(ToolError):
    """A name outside what the operator allowed. Says nothing about what is there."""

    def __init__(self, value: str, noun: str, hint: str) -> None:
        shown = value if len(value) <= 200 else value[:200] + "..."
        super().__init__(f"Access denied: {shown!r} is outside the allowed {noun} ({hint}).")
        self.value = value
        self.noun = noun


class Malformed(ValueError):
    """A name that cannot be normalised without guessing; the message says why."""


def _same(segment: str) -> str:
    return segment


def _lower(segment: str) -> str:
    return segment.casefold()


def _slack(segment: str) -> str:
    return segment.casefold() if segment.startswith("#") else segment


@dataclass(frozen=True)
class Kind:
    """One kind of scoped thing: how its names are written, compared and explained."""

    noun: str
    """Plural, as in "outside the allowed repositories"."""
    grammar: str
    """How one name is written, for error messages: "owner/name"."""
    example: str
    """A setting value to suggest: "octo-org/*,octo-org/app"."""
    segments: tuple[str, ...]
    """A regular expression per `/`-separated segment; the last repeats when `open_ended`."""
    open_ended: bool = False
    """Names may have more segments than `segments` lists (object keys under a bucket)."""
    min_segments: int | None = None
    """Fewest segments of a whole name (default: one per pattern); a bucket alone is a whole name."""
    wildcard: bool = True
    """Entries may end in `/*` (everything under the part before it)."""
    ascii_only: bool = True
    """The service's names are ASCII: any other letter after NFKC is a look-alike."""
    fold: Callable[[str], str] = _same
    """How one segment compares: the service's case rule."""

    def normalise(self, text: str) -> str:
        """The canonical form of a name, in which it is matched and then used.

        Raises:
            Malformed: the name cannot be normalised without guessing, or is not of this kind.
        """
        segments, trailing = self._segments(text)
        if len(segments) < self._whole:
            raise Malformed(f"is not a whole name: write {self.grammar}")
        return "/".join(segments) + ("/" if trailing else "")

    def entry(self, text: str) -> str:
        """The canonical form of an allowlist entry (a name, or a name ending in `/*`).

        Raises:
            Malformed: as for names; also a misplaced `*`, or a partial name without `/*`.
        """
        stripped = text.strip()
        if stripped == "*":
            raise Malformed("is not an entry: to allow every one, use the connector's --all option instead")
        star = self.wildcard and stripped.endswith("/*")
        segments, _ = self._segments(stripped[:-2] if star else stripped)
        if not segments:
            raise Malformed(f"is empty: write {self.grammar}")
        if not star and len(segments) < self._whole:
            raise Malformed(f"is not a whole name: write {self.grammar}, or end it with /* for everything under it")
        return "/".join(segments) + ("/*" if star and len(segments) < self._whole else "")

    @property
    def _whole(self) -> int:
        return len(self.segments) if self.min_segments is None else self.min_segments

    def key(self, canonical: str) -> str:
        """What a canonical name or entry compares as (case folded where the service ignores case)."""
        parts = canonical.removesuffix("/*").rstrip("/").split("/")
        return "/".join(self.fold(part) for part in parts)

    def _segments(self, text: str) -> tuple[list[str], bool]:
        if not isinstance(text, str):
            raise Malformed("is not text")
        if len(text) > _MAX_CHARS:
            raise Malformed(f"is longer than {_MAX_CHARS} characters")
        text = unicodedata.normalize("NFKC", text)  # first, so fullwidth percent-encoding decodes too
        if _PERCENT.search(text):
            try:
                text = unicodedata.normalize("NFKC", unquote(text, errors="strict"))
            except UnicodeDecodeError:
                raise Malformed("is percent-encoded, and the bytes are not UTF-8") from None
            if _PERCENT.search(text):
                raise Malformed("is percent-encoded more than once (or holds a literal %XX); give the plain name")
        _refuse_invisible(text)
        _refuse_mixed_scripts(text)
        if self.ascii_only and not text.isascii():
            char = next(c for c in text if not c.isascii())
            raise Malformed(
                f"contains {_describe_char(char)}, which looks like an ASCII character; {self.noun} are ASCII"
            )
        parts = text.split("/")
        if ".." in parts:
            raise Malformed("contains a '..' segment; name the item itself")
        segments = [part for part in parts if part not in ("", ".")]
        trailing = self.open_ended and len(segments) > 1 and text.endswith("/")
        if not self.open_ended and len(segments) > len(self.segments):
            raise Malformed(f"has too many parts: write {self.grammar}")
        for index, segment in enumerate(segments):
            pattern = self.segments[min(index, len(self.segments) - 1)]
            if not re.fullmatch(pattern, segment):
                raise Malformed(f"is not of the form {self.grammar}")
        return segments, trailing


def _describe_char(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed character')}"


def _refuse_invisible(text: str) -> None:
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp") or (category == "Zs" and char != " "):
            raise Malformed(f"contains a control or invisible character ({_describe_char(char)})")


def _refuse_mixed_scripts(text: str) -> None:
    """One word (a run of letters and marks) in two look-alike scripts is refused (a Cyrillic a in paypal)."""
    scripts: set[str] = set()
    for char in text + " ":
        category = unicodedata.category(char)
        if category[0] == "L":
            script = unicodedata.name(char, "").split(" ", 1)[0]
            if script in _CONFUSABLE_SCRIPTS:
                scripts.add(script)
        elif category[0] != "M":
            if len(scripts) > 1:
                names = " and ".join(sorted(s.title() for s in scripts))
                raise Malformed(f"mixes {names} letters in one word (look-alike characters); write it in one script")
            scripts = set()


REPOSITORIES = Kind(
    noun="repositories",
    grammar="owner/name (or owner/* in the allowlist)",
    example="octo-org/*,octo-org/app",
    segments=(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})", r"[A-Za-z0-9._-]{1,100}"),
    fold=_lower,
)
CHANNELS = Kind(
    noun="channels",
    grammar="a channel id like C0123ABC or a name like #general",
    example="C0123ABC,#general",
    segments=(r"[A-Z][A-Z0-9]{2,31}|#[\w.-]{1,80}",),
    wildcard=False,
    ascii_only=False,
    fold=_slack,
)
BUCKETS = Kind(
    noun="buckets and prefixes",
    grammar="bucket or bucket/key",
    example="reports,logs/2024/",
    segments=(r"[A-Za-z0-9._-]{3,63}", r"[^/]+"),
    open_ended=True,
    min_segments=1,
    ascii_only=False,
)
DRIVE_ITEMS = Kind(
    noun="folders and drives",
    grammar="a folder or shared-drive id like 0AbCdEf123",
    example="0AbCdEf123,1XyZ-folder_id",
    segments=(r"[A-Za-z0-9_-]{1,128}",),
    wildcard=False,
)


@dataclass(frozen=True)
class Filtered(Generic[T]):
    """Items kept by an allowlist, and how many were withheld."""

    kept: list[T]
    withheld: int
    noun: str

    @property
    def note(self) -> str | None:
        """A sentence for the result when anything was withheld, else None."""
        if not self.withheld:
            return None
        things = "result" if self.withheld == 1 else "results"
        was = "was" if self.withheld == 1 else "were"
        return f"{self.withheld} {things} outside the allowed {self.noun} {was} withheld."


class Allowlist:
    """What the operator allowed of one kind; a settings field and the matcher tools ask.

    Subclasses set `kind`. Used as a `ConnectorSettings` field it reads a comma-separated
    list, and learns its variable name and its `--all-<field>` option (from a bool field
    `all_<field>` beside it) so that its messages can name them.
    """

    kind: ClassVar[Kind]

    def __init__(
        self,
        entries: Iterable[str] = (),
        *,
        setting: str | None = None,
        opt_out: str | None = None,
        everything: bool = False,
    ) -> None:
        canonical: list[str] = []
        problems = []
        for raw in entries:
            try:
                entry = self.kind.entry(raw)
            except Malformed as exc:
                problems.append(f"entry {raw.strip()!r} {exc}")
                continue
            if entry not in canonical:
                canonical.append(entry)
        if problems:
            raise ValueError("; ".join(problems))
        if everything and canonical:
            raise ValueError(
                f"{opt_out or 'the --all option'} allows every one of the {self.kind.noun}, "
                f"so the list in {setting or 'the allowlist'} would mean nothing: give one or the other"
            )
        self.entries: tuple[str, ...] = tuple(canonical)
        self.setting = setting
        self.opt_out = opt_out
        self.everything = everything
        self._keys = tuple(self.kind.key(entry) for entry in canonical)

    # -- as a setting ----------------------------------------------------------------

    @classmethod
    def parse(cls, value: Any) -> Allowlist:
        """The allowlist a setting value means: comma-separated text, or a list of entries."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ValueError("must be a comma-separated list")
        entries = [part for item in value for part in str(item).split(",") if part.strip()]
        return cls(entries)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse, serialization=core_schema.plain_serializer_function_ser_schema(lambda value: list(value))
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "array", "items": {"type": "string"}}

    def bound(self, setting: str, opt_out: str | None, everything: bool) -> Allowlist:
        """The same allowlist, knowing the variable that sets it and the option that lifts it."""
        return type(self)(self.entries, setting=setting, opt_out=opt_out, everything=everything)

    @property
    def is_empty(self) -> bool:
        """Whether nothing is admitted (no entries, and no opt-out)."""
        return not self.entries and not self.everything

    def describe_empty(self) -> str:
        """How to allow something: for start-up notices, and for a connector that refuses to start."""
        setting = self.setting or "the allowlist setting"
        text = f"No {self.kind.noun} are allowed, so every call that names one is refused: set {setting} "
        text += f"(comma-separated, e.g. {self.kind.example})"
        if self.opt_out:
            text += f", or start with {self.opt_out} to allow every one"
        return text + "."

    def startup_notice(self) -> str | None:
        """A warning to log at start-up: nothing allowed, or everything allowed; else None."""
        if self.everything:
            return (
                f"{self.opt_out or 'the --all option'}: every one of the {self.kind.noun} "
                "the credentials reach is in scope; "
                f"name them in {self.setting} instead to narrow it."
            )
        if not self.entries:
            return self.describe_empty()
        return None

    # -- as a matcher ----------------------------------------------------------------

    def admits(self, value: str, *aliases: str) -> bool:
        """Whether `value` (or one of the `aliases` the upstream gives it) is in scope; malformed is not."""
        for name in (value, *aliases):
            try:
                canonical = self.kind.normalise(name)
            except Malformed:
                continue
            if self._admits_canonical(canonical):
                return True
        return False

    def check(self, value: str, *, aliases: Iterable[str] = (), argument: str | None = None) -> str:
        """The canonical form of a name a tool was given, once it is known to be in scope.

        Use the returned name upstream, not the one given: it is the one that was checked.
        `aliases` are other names *the upstream* reports for the same thing, or the
        folders and drives that hold it (a channel's `#name`, a file's parent folder ids);
        never names the client supplied.

        Raises:
            InvalidArgument: the name is not well formed (named by `argument`).
            OutOfScope: the name is outside the allowlist.
        """
        try:
            canonical = self.kind.normalise(value)
        except Malformed as exc:
            raise InvalidArgument(argument or "name", f"{value[:200]!r} {exc}") from None
        if self._admits_canonical(canonical) or any(self.admits(alias) for alias in aliases):
            return canonical
        raise OutOfScope(value, self.kind.noun, self._hint())

    def filter(self, items: Iterable[T], key: Callable[[T], str | Iterable[str]]) -> Filtered[T]:
        """The items in scope, and a count of those withheld (malformed names are withheld).

        `key` gives an item's name, or its names (the first, then aliases as for `check`).
        """
        kept: list[T] = []
        withheld = 0
        for item in items:
            found = key(item)
            names = (found,) if isinstance(found, str) else tuple(found)
            if self.everything or (names and self.admits(*names)):
                kept.append(item)
            else:
                withheld += 1
        return Filtered(kept, withheld, self.kind.noun)

    def entries_within(self, value: str) -> list[str]:
        """The allowed names that lie within `value`, for a listing wider than the scope.

        A tool asked to list `bucket` when only `bucket/logs/` is allowed lists that prefix
        instead; an empty list means nothing under `value` is in scope (refuse with `check`).

        Raises:
            Malformed: `value` is not well formed.
        """
        folded = self.kind.key(self.kind.normalise(value))
        return [
            entry.removesuffix("/*") for entry, key in zip(self.entries, self._keys, strict=True) if within(key, folded)
        ]

    def _admits_canonical(self, canonical: str) -> bool:
        if self.everything:
            return True
        folded = self.kind.key(canonical)
        return any(within(folded, entry) for entry in self._keys)

    def _hint(self) -> str:
        if self.entries:
            return self.setting or "the connector's allowlist"
        where = self.setting or "the connector's allowlist setting"
        hint = f"none are allowed: set {where}, e.g. {self.kind.example}"
        return hint + (f", or start with {self.opt_out}" if self.opt_out else "")

    # -- plumbing --------------------------------------------------------------------

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Allowlist):
            return NotImplemented
        return (self.kind, self.entries, self.everything) == (other.kind, other.entries, other.everything)

    def __hash__(self) -> int:
        return hash((self.kind, self.entries, self.everything))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.entries)!r}, everything={self.everything})"


class RepoAllowlist(Allowlist):
    """GitHub repositories: `owner/name` or `owner/*`, case-insensitive."""

    kind = REPOSITORIES


class ChannelAllowlist(Allowlist):
    """Slack channels: ids like `C0123ABC` (exact) or `#names` (any case)."""

    kind = CHANNELS


class BucketAllowlist(Allowlist):
    """S3 buckets and prefixes: `bucket`, `bucket/prefix/`; case-sensitive."""

    kind = BUCKETS


class DriveAllowlist(Allowlist):
    """Google Drive folder and shared-drive ids; case-sensitive. A file is in scope through its parents."""

    kind = DRIVE_ITEMS


__all__ = [
    "BUCKETS",
    "CHANNELS",
    "DRIVE_ITEMS",
    "REPOSITORIES",
    "Allowlist",
    "BucketAllowlist",
    "ChannelAllowlist",
    "DriveAllowlist",
    "Filtered",
    "Kind",
    "Malformed",
    "OutOfScope",
    "RepoAllowlist",
    "within",
]
