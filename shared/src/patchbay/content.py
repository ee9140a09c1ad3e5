"""Bytes into MCP content, and one cap on the size of any tool result.

`read_content` turns what an upstream holds (a file, an S3 object, a Drive file, a
GitHub blob) into the right MCP content block: text in a detected or given encoding,
or binary as image, audio or an embedded blob resource, its MIME type sniffed from
the magic bytes first and the name second. When the upstream tells the size before
the body (a stat, a HEAD, a listing), the cap is checked before a byte is read, and
only the range that fits is asked for. What came back says whether it was cut and
which byte range it holds.

    got = read_content(head.size, lambda start, length: s3.get_range(key, start, length),
                       max_bytes=settings.max_result_bytes, name=key, uri=f"s3://{bucket}/{key}")
    return CallToolResult(content=[got.block])

`to_content(data, ...)` does the same for bytes already in hand.

`fit_result(result, limit)` is the base's last step on every tool result (see
`toolcall.render`): a result over `max_result_bytes` comes back cut to fit, flagged in
`_meta["patchbay/truncated"]` and by a last line of text that says what was left out
and how to ask for less. Structured content stays valid against the tool's output
schema: lists lose their tail items and long strings their end; nothing changes type
and no required field disappears.
"""

from __future__ import annotations

import base64
import codecs
import mimetypes
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import mcp_types as types
import pydantic_core

from patchbay.errors import InvalidArgument, ToolError

DEFAULT_MAX_BYTES = 1 << 20
META_KEY = "patchbay/truncated"
"""The `_meta` key of a result that was cut to fit `max_result_bytes`."""

Reader = Callable[[int, int], bytes]
"""Reads `length` bytes from offset `start` (a range request; fewer at the end of the body)."""
AsyncReader = Callable[[int, int], Awaitable[bytes]]

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"\x00\x00\x01\x00", "image/x-icon"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"BZh", "application/x-bzip2"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"\x28\xb5\x2f\xfd", "application/zstd"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\xff\xfb", "audio/mpeg"),
    (0, b"\xff\xf3", "audio/mpeg"),
    (0, b"\xff\xf2", "audio/mpeg"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
    (0, b"\x7fELF", "application/x-executable"),
    (0, b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (0, b"\x00asm", "application/wasm"),
)
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
_FTYP = {b"M4A ": "audio/mp4", b"heic": "image/heic", b"avif": "image/avif", b"qt  ": "video/quicktime"}
_TEXT_APPLICATIONS = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-sh",
        "application/sql",
        "application/toml",
        "application/yaml",
        "application/x-yaml",
        "application/ld+json",
        "image/svg+xml",
    }
)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))  # fmt: skip
_SNIFF = 8192


class ContentTooLarge(ToolError):
    """Binary content over the cap: a cut image or archive is no use, so it is refused."""


def sniff_mime(data: bytes, name: str | None = None) -> str:
    """The MIME type of `data`: its magic bytes first, then `name`'s extension, then text or binary."""
    for offset, magic, mime in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return mime
    if data[:4] == b"RIFF" and data[8:12] in _RIFF:
        return _RIFF[data[8:12]]
    if data[4:8] == b"ftyp":
        return _FTYP.get(data[8:12], "video/mp4")
    if name:
        guessed = mimetypes.guess_type(name, strict=False)[0]
        if guessed:
            return guessed
    return "application/octet-stream" if is_binary(data) else "text/plain"


def is_binary(data: bytes) -> bool:
    """Whether `data` looks binary: a NUL byte early on (and no BOM of a UTF-16/32 text)."""
    head = data[:_SNIFF]
    return b"\x00" in head and not any(head.startswith(bom) for bom, _ in _BOMS[1:])


def is_text_mime(mime: str) -> bool:
    """Whether content of this MIME type is text for a model to read."""
    return mime.startswith("text/") or mime in _TEXT_APPLICATIONS or mime.endswith(("+json", "+xml"))


def decode(data: bytes, encoding: str | None = None, *, truncated: bool = False) -> tuple[str, str] | None:
    """Text and the encoding used: `encoding` when given, else a BOM's, else UTF-8, else a detected one.

    A cut at the end of `data` (`truncated`) may split the last character: that fragment is
    dropped. None when no encoding fits (the data is binary after all).

    Raises:
        ToolError: `encoding` is not a known encoding.
    """
    if encoding is not None:
        try:
            return data.decode(encoding, errors="replace"), encoding
        except LookupError:
            raise ToolError(f"Unknown encoding {encoding!r}; try utf-8, latin-1 or cp1252.") from None
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data.decode(name, errors="replace"), name
    try:
        return data.decode("utf-8", errors="ignore" if truncated else "strict"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        import charset_normalizer  # optional: connectors that read arbitrary text install it
    except ImportError:  # pragma: no cover - installed in this workspace
        return None
    best = charset_normalizer.from_bytes(data[:65536]).best()
    if best is None or best.encoding is None:
        return None
    return data.decode(best.encoding, errors="replace"), best.encoding


@dataclass(frozen=True)
class Content:
    """An upstream body as one MCP content block, and what part of it that is."""

    block: types.TextContent | types.ImageContent | types.AudioContent | types.EmbeddedResource
    mime_type: str
    start: int
    end: int
    """The block holds bytes [start, end) of the body."""
    size: int | None
    """The whole body's size, when known."""
    truncated: bool
    """True when the body goes on past `end` (the cap cut it)."""
    encoding: str | None = None
    """The text encoding used, for text."""

    @property
    def text(self) -> str | None:
        """The text, for a text block."""
        return self.block.text if isinstance(self.block, types.TextContent) else None

    def range_note(self) -> str:
        """`bytes 0-1048575 of 5242880`: what a flag or a last line can say about the cut."""
        of = f" of {self.size}" if self.size is not None else ""
        return f"bytes {self.start}-{max(self.start, self.end - 1)}{of}"


def to_content(
    data: bytes,
    *,
    name: str | None = None,
    uri: str | None = None,
    mime_type: str | None = None,
    encoding: str | None = None,
    as_text: bool | None = None,
    start: int = 0,
    size: int | None = None,
    truncated: bool = False,
) -> Content:
    """`data` (bytes [start, start+len) of a body of `size`) as the right MCP content block.

    Text (a text MIME type, or undeclared bytes that decode) becomes `TextContent`; images
    `ImageContent`, audio `AudioContent`, anything else an `EmbeddedResource` blob at `uri`.
    `as_text` forces one way or the other; `mime_type` overrides the sniffing. A cut
    (`truncated`) is recorded in the block's `_meta` as the byte range it holds.
    """
    mime = mime_type or sniff_mime(data, name)
    end = start + len(data)
    meta = {"patchbay/range": {"start": start, "end": end, "size": size}} if truncated or start else None
    want_text = as_text if as_text is not None else (is_text_mime(mime) or (mime_type is None and not is_binary(data)))
    if want_text:
        decoded = decode(data, encoding, truncated=truncated) if as_text or not is_binary(data) else None
        if decoded is not None:
            text, used = decoded
            block_text = types.TextContent(type="text", text=text, _meta=meta)
            mime = mime if is_text_mime(mime) else "text/plain"
            return Content(block_text, mime, start, end, size, truncated, used)
        if mime_type is None and is_text_mime(mime):
            mime = "application/octet-stream"
    blob = base64.b64encode(data).decode()
    block: types.ImageContent | types.AudioContent | types.EmbeddedResource
    if mime.startswith("image/") and not is_text_mime(mime):
        block = types.ImageContent(type="image", data=blob, mime_type=mime, _meta=meta)
    elif mime.startswith("audio/"):
        block = types.AudioContent(type="audio", data=blob, mime_type=mime, _meta=meta)
    else:
        resource = types.BlobResourceContents(
            uri=uri or f"urn:patchbay:blob:{name or 'content'}", mime_type=mime, blob=blob
        )
        block = types.EmbeddedResource(type="resource", resource=resource, _meta=meta)
    return Content(block, mime, start, end, size, truncated)


def _plan(size: int | None, offset: int, max_bytes: int, allow_cut: bool, name: str | None) -> int:
    """How many bytes to ask for: the cap is checked against a known size before any read."""
    if offset < 0:
        raise ToolError("The offset must be 0 or more.")
    if size is not None and size - offset > max_bytes and not allow_cut:
        shown = f"{name!r}" if name else "The content"
        raise ContentTooLarge(
            f"{shown} is {size - offset} bytes, over the {max_bytes}-byte cap for binary content; "
            "nothing was read. Ask for a byte range, or raise the cap."
        )
    if size is not None:
        return max(0, min(size - offset, max_bytes))
    return max_bytes + 1  # unknown size: one byte more tells whether there is more


def _finish(
    data: bytes, size: int | None, offset: int, max_bytes: int, allow_cut: bool, options: dict[str, Any]
) -> Content:
    truncated = len(data) > max_bytes or (size is not None and offset + min(len(data), max_bytes) < size)
    data = data[:max_bytes]
    got = to_content(data, start=offset, size=size, truncated=truncated, **options)
    if truncated and not isinstance(got.block, types.TextContent) and not allow_cut:
        raise ContentTooLarge(
            f"{options.get('name') or 'The content'!r} is over the {max_bytes}-byte cap for binary content. "
            "Ask for a byte range, or raise the cap."
        )
    return got


def read_content(
    size: int | None,
    read: Reader,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    offset: int = 0,
    binary: Literal["refuse", "cut"] = "refuse",
    name: str | None = None,
    uri: str | None = None,
    mime_type: str | None = None,
    encoding: str | None = None,
    as_text: bool | None = None,
) -> Content:
    """The body behind `read` as MCP content, reading at most `max_bytes` from `offset`.

    With `size` known, a body over the cap is never read whole: text is read up to the cap
    and flagged `truncated`; binary (when `mime_type` or `name` says so up front) is refused
    with `ContentTooLarge` before any read unless `binary="cut"`. With `size` unknown, one
    byte past the cap is asked for, to tell whether the body goes on.
    """
    maybe_binary = mime_type or (mimetypes.guess_type(name, strict=False)[0] if name else None)
    allow_cut = binary == "cut" or as_text is True or (maybe_binary is not None and is_text_mime(maybe_binary))
    refuse_early = maybe_binary is not None and not is_text_mime(maybe_binary) and not allow_cut
    length = _plan(size, offset, max_bytes, not refuse_early, name)
    data = read(offset, length) if length else b""
    options = {"name": name, "uri": uri, "mime_type": mime_type, "encoding": encoding, "as_text": as_text}
    return _finish(data, size, offset, max_bytes, binary == "cut", options)


async def aread_content(
    size: int | None,
    read: AsyncReader,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    offset: int = 0,
    binary: Literal["refuse", "cut"] = "refuse",
    name: str | None = None,
    uri: str | None = None,
    mime_type: str | None = None,
    encoding: str | None = None,
    as_text: bool | None = None,
) -> Content:
    """`read_content` with an async range reader (an HTTP client, an async SDK)."""
    maybe_binary = mime_type or (mimetypes.guess_type(name, strict=False)[0] if name else None)
    allow_cut = binary == "cut" or as_text is True or (maybe_binary is not None and is_text_mime(maybe_binary))
    refuse_early = maybe_binary is not None and not is_text_mime(maybe_binary) and not allow_cut
    length = _plan(size, offset, max_bytes, not refuse_early, name)
    data = await read(offset, length) if length else b""
    options = {"name": name, "uri": uri, "mime_type": mime_type, "encoding": encoding, "as_text": as_text}
    return _finish(data, size, offset, max_bytes, binary == "cut", options)


# Content a tool is given ------------------------------------------------------------------


def body_from(
    text: str | None,
    data: str | None,
    *,
    names: tuple[str, str] = ("text", "base64"),
    limit: int | None = None,
) -> bytes | None:
    """The bytes of an upload given as `text` (UTF-8) or as base64 `data`, at most one of them.

    None when neither was given (the caller decides whether that is allowed). `names` are
    the two arguments as the tool calls them, for the error; `limit` caps the decoded size.

    Raises:
        InvalidArgument: both given, the base64 does not decode, or the body is over `limit`.
    """
    if text is not None and data is not None:
        raise InvalidArgument(names[1], f"give {names[0]} or {names[1]}, not both")
    if data is not None:
        try:
            body = base64.b64decode(data, validate=True)
        except ValueError:
            raise InvalidArgument(names[1], "is not valid base64") from None
    elif text is not None:
        body = text.encode()
    else:
        return None
    if limit is not None and len(body) > limit:
        raise InvalidArgument(
            names[1] if data is not None else names[0], f"is {len(body)} bytes, over the {limit}-byte limit"
        )
    return body


# The cap on one tool result -------------------------------------------------------------

HINT = (
    "Ask for less: the next page (cursor) or a smaller limit, a narrower path or query, "
    "or a range (offset/limit, head/tail)."
)


@dataclass(frozen=True)
class Cut:
    """One place a result was cut: a list kept `kept` of `total` items, or a string `kept` of `total` bytes."""

    path: str
    kept: int
    total: int
    unit: Literal["items", "bytes"]

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "kept": self.kept, "total": self.total, "unit": self.unit}

    def describe(self) -> str:
        where = self.path or "the result"
        return f"{where}: {self.kept} of {self.total} {self.unit}"


def json_size(value: Any) -> int:
    """Bytes of `value` as compact JSON."""
    return len(pydantic_core.to_json(value))


def result_size(result: types.CallToolResult) -> int:
    """Bytes of a tool result's content blocks and structured content, as JSON."""
    size = sum(
        json_size(block.text) + 30  # {"type":"text","text":...}
        if isinstance(block, types.TextContent) and block.meta is None and block.annotations is None
        else json_size(block.model_dump(mode="json", by_alias=True, exclude_none=True))
        for block in result.content
    )
    if result.structured_content is not None:
        size += json_size(result.structured_content)
    return size


def shrink(data: Any, budget: int) -> tuple[Any, list[Cut]]:
    """`data` with its largest lists and strings cut until its JSON fits `budget` bytes.

    Lists keep their first items, strings their first bytes (whole characters): the data
    keeps its shape and types, so it stays valid against a schema without length bounds.
    Returns the cut data (a copy where cut) and the cuts made.
    """
    cuts: dict[str, Cut] = {}
    for _ in range(64):
        size = json_size(data)
        if size <= budget:
            break
        found = _largest(data, size - budget)
        if found is None:
            break
        path, node, node_size = found
        target = max(0, node_size - (size - budget))
        if isinstance(node, str):
            raw = node.encode()
            kept = _cut_text(node, len(raw) * target // max(1, node_size))  # escapes make JSON longer
            total = cuts[path].total if path in cuts else len(raw)
            cut = Cut(path, len(kept.encode()), total, "bytes")
            new: Any = kept
        else:
            kept_items = _cut_list(node, target)
            total = cuts[path].total if path in cuts else len(node)
            cut = Cut(path, len(kept_items), total, "items")
            new = kept_items
        if (len(new) if isinstance(new, list) else len(new.encode())) == (
            len(node) if isinstance(node, list) else len(node.encode())
        ):
            break  # nothing more to take from the largest node
        cuts[path] = cut
        data = _replace(data, path, new)
    return data, list(cuts.values())


def _largest(data: Any, excess: int) -> tuple[str, Any, int] | None:
    """What to cut next, (path, node, JSON size): the largest string when cutting it alone
    is enough (so a list keeps its items), else the largest non-empty list or string."""
    strings: list[tuple[str, Any, int]] = []
    lists: list[tuple[str, Any, int]] = []

    def keep(bucket: list[tuple[str, Any, int]], found: tuple[str, Any, int]) -> None:
        if not bucket or found[2] > bucket[0][2]:
            bucket[:] = [found]

    def visit(node: Any, where: str) -> int:
        if isinstance(node, dict):
            size = 2 + sum(json_size(key) + 1 + visit(value, _join(where, key)) for key, value in node.items())
            return size + max(0, len(node) - 1)
        if isinstance(node, list):
            if all(not isinstance(item, dict | list) for item in node):
                size = json_size(node)  # a row of scalars: one measurement
                texts = [(i, item) for i, item in enumerate(node) if isinstance(item, str) and item]
                if texts:
                    i, longest = max(texts, key=lambda pair: len(pair[1]))
                    keep(strings, (f"{where}[{i}]", longest, json_size(longest)))
            else:
                size = 2 + sum(visit(item, f"{where}[{i}]") for i, item in enumerate(node)) + max(0, len(node) - 1)
            if node:
                keep(lists, (where, node, size))
            return size
        size = json_size(node)
        if isinstance(node, str) and node:
            keep(strings, (where, node, size))
        return size

    visit(data, "")
    if strings and strings[0][2] > excess:
        return strings[0]
    both = strings + lists
    return max(both, key=lambda found: found[2]) if both else None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _cut_list(items: list[Any], budget: int) -> list[Any]:
    kept: list[Any] = []
    used = 2
    for item in items:
        used += json_size(item) + (1 if kept else 0)
        if used > budget:
            break
        kept.append(item)
    return kept


def _cut_text(text: str, budget: int) -> str:
    """The start of `text` within `budget` UTF-8 bytes, at a line end when one is near."""
    raw = text.encode()[:budget]
    kept = raw.decode("utf-8", errors="ignore")
    line_end = kept.rfind("\n")
    return kept[: line_end + 1] if line_end >= len(kept) * 0.9 else kept


def _fit_text(text: str, budget: int) -> str:
    """The start of `text` whose JSON string fits `budget` bytes."""
    kept = _cut_text(text, budget)
    while kept and json_size(kept) > budget:
        kept = _cut_text(kept, len(kept.encode()) * budget // json_size(kept) - 1)
    return kept


def _replace(data: Any, path: str, new: Any) -> Any:
    """A copy of `data` with the node at `path` replaced (copies only along the path)."""
    if not path:
        return new
    steps = _steps(path)

    def go(node: Any, rest: list[str | int]) -> Any:
        if not rest:
            return new
        step, *tail = rest
        if isinstance(node, dict):
            return {**node, step: go(node[step], tail)}
        copy = list(node)
        assert isinstance(step, int)
        copy[step] = go(node[step], tail)
        return copy

    return go(data, steps)


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        name, *indexes = part.split("[")
        if name:
            steps.append(name)
        steps += [int(index.rstrip("]")) for index in indexes]
    return steps


def fit_result(
    result: types.CallToolResult,
    limit: int,
    *,
    rerender: Callable[[Any], str] | None = None,
) -> types.CallToolResult:
    """`result` cut to at most `limit` bytes (content blocks plus structured content), flagged.

    Structured content is cut with `shrink` (so it keeps its shape); its text is then made
    again from the cut data by `rerender` when given, else cut like any text. Binary blocks
    that do not fit are left out and named in a text line. The last text line says what
    was cut and how to ask for less; `_meta["patchbay/truncated"]` says the same for code.
    """
    size = result_size(result)
    if size <= limit or result.is_error:
        return result
    room = max(0, limit - 400)  # the note and the flag
    original = result.structured_content
    structured = original
    cuts: list[Cut] = []
    texts = [block for block in result.content if isinstance(block, types.TextContent)]
    text_size = sum(json_size(block.text) for block in texts)
    rendered: str | None = None
    if original is not None:
        share = json_size(original)
        budget = int(room * share / max(1, share + text_size)) if texts else room
        for _ in range(6):  # the text made again from cut data may not fit at first: cut deeper
            structured, cuts = shrink(original, budget)
            if rerender is None or not cuts:
                break
            rendered = rerender(structured)
            total = json_size(structured) + json_size(rendered) + text_size - json_size(texts[0].text)
            if total <= room:
                break
            budget = int(budget * room / total * 0.95)
    blocks: list[types.ContentBlock] = []
    left_out: list[str] = []
    used = json_size(structured) if structured is not None else 0
    for block in result.content:
        if isinstance(block, types.TextContent):
            text = block.text
            if rendered is not None:
                text, rendered = rendered, None  # the model's text, made again from the cut data
            avail = max(0, room - used)
            if json_size(text) > avail:
                whole = len(text.encode())
                text = _fit_text(text, avail)
                cuts.append(Cut(f"content[{len(blocks)}].text", len(text.encode()), whole, "bytes"))
            blocks.append(block.model_copy(update={"text": text}))
            used += json_size(text) + 30
            continue
        block_size = json_size(block.model_dump(mode="json", by_alias=True, exclude_none=True))
        if used + block_size > room:
            mime = getattr(block, "mime_type", None) or getattr(getattr(block, "resource", None), "mime_type", None)
            left_out.append(f"{block.type} ({mime or 'unknown type'}, {block_size} bytes)")
            continue
        blocks.append(block)
        used += block_size
    parts = [cut.describe() for cut in cuts] + [f"left out {what}" for what in left_out]
    note = f"[Cut to fit the {limit}-byte result limit ({size} bytes in full): {'; '.join(parts)}. {HINT}]"
    last_text = next((i for i in range(len(blocks) - 1, -1, -1) if isinstance(blocks[i], types.TextContent)), None)
    if last_text is None:
        blocks.append(types.TextContent(type="text", text=note))
    else:
        block = blocks[last_text]
        assert isinstance(block, types.TextContent)
        joined = f"{block.text}\n{note}" if block.text and not block.text.endswith("\n") else f"{block.text}{note}"
        blocks[last_text] = block.model_copy(update={"text": joined})
    flag = {
        "limit": limit,
        "size": size,
        "cuts": [cut.as_json() for cut in cuts],
        "left_out": left_out,
        "hint": HINT,
    }
    meta = {**(result.meta or {}), META_KEY: flag}
    return result.model_copy(update={"content": blocks, "structured_content": structured, "meta": meta})
