"""Bytes into MCP content (`patchbay.content`), and the cap on one tool result (`max_result_bytes`)."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Annotated, Any

import mcp_types as types
import pytest
from pydantic import BaseModel, Field

from patchbay import Connector, ConnectorSettings, Cursor, Page
from patchbay.content import (
    META_KEY,
    ContentTooLarge,
    aread_content,
    read_content,
    result_size,
    shrink,
    sniff_mime,
    to_content,
)
from patchbay.testing import connect

pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + b"\x00" * 17 + zlib.compress(b"x")
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 24


class Body:
    """An upstream body behind a range reader that records every read it is asked for."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads: list[tuple[int, int]] = []

    def read(self, start: int, length: int) -> bytes:
        self.reads.append((start, length))
        return self.data[start : start + length]

    async def aread(self, start: int, length: int) -> bytes:
        return self.read(start, length)


# MIME sniffing ---------------------------------------------------------------------------


def test_magic_bytes_win_over_the_name() -> None:
    assert sniff_mime(PNG, "notes.txt") == "image/png"
    assert sniff_mime(WAV, "x.bin") == "audio/wav"
    assert sniff_mime(b"RIFF\x00\x00\x00\x00WEBPVP8 ", None) == "image/webp"
    assert sniff_mime(b"%PDF-1.7\n...", "report") == "application/pdf"
    assert sniff_mime(b"PK\x03\x04rest", "archive.txt") == "application/zip"
    assert sniff_mime(b"\x00\x00\x00\x18ftypisom", None) == "video/mp4"


def test_the_name_decides_when_the_bytes_say_nothing_then_text_or_binary() -> None:
    assert sniff_mime(b"a,b\n1,2\n", "table.csv") == "text/csv"
    assert sniff_mime(b"plain words", None) == "text/plain"
    assert sniff_mime(b"\x01\x00\x02\x00", None) == "application/octet-stream"


# Bytes to content --------------------------------------------------------------------------


def test_text_in_utf8_a_bom_a_given_or_a_detected_encoding() -> None:
    plain = to_content("grüße\n".encode())
    assert isinstance(plain.block, types.TextContent)
    assert (plain.text, plain.encoding, plain.mime_type) == ("grüße\n", "utf-8", "text/plain")
    utf16 = to_content("hello".encode("utf-16"))  # a BOM, and NUL bytes that are not binary
    assert (utf16.text, utf16.encoding) == ("hello", "utf-16")
    given = to_content("café".encode("cp1252"), encoding="cp1252")
    assert (given.text, given.encoding) == ("café", "cp1252")
    detected = to_content(("Ein schöner Tag für Größe und Übermut. " * 20).encode("latin-1"))
    assert detected.text is not None and detected.text.startswith("Ein schöner Tag")
    assert detected.encoding != "utf-8"
    with pytest.raises(Exception, match="Unknown encoding 'klingon'"):
        to_content(b"x", encoding="klingon")


def test_binary_becomes_image_audio_or_an_embedded_blob() -> None:
    image = to_content(PNG, name="pixel")
    assert isinstance(image.block, types.ImageContent)
    assert (image.block.mime_type, base64.b64decode(image.block.data)) == ("image/png", PNG)
    audio = to_content(WAV)
    assert isinstance(audio.block, types.AudioContent) and audio.block.mime_type == "audio/wav"
    archive = to_content(b"PK\x03\x04" + b"\x00" * 40, uri="s3://bucket/a.zip")
    assert isinstance(archive.block, types.EmbeddedResource)
    assert isinstance(archive.block.resource, types.BlobResourceContents)
    assert (archive.block.resource.uri, archive.block.resource.mime_type) == ("s3://bucket/a.zip", "application/zip")
    assert not archive.truncated and (archive.start, archive.end) == (0, 44)


def test_svg_is_text_and_a_text_name_over_binary_bytes_is_still_binary() -> None:
    svg = to_content(b"<svg xmlns='http://www.w3.org/2000/svg'/>", name="logo.svg")
    assert isinstance(svg.block, types.TextContent) and svg.mime_type == "image/svg+xml"
    fake = to_content(b"\x00\x01\x02binary", name="readme.txt")
    assert isinstance(fake.block, types.EmbeddedResource)
    assert fake.mime_type == "application/octet-stream"


# Caps checked before reading ---------------------------------------------------------------


def test_known_size_over_the_cap_reads_only_the_range_that_fits_and_says_so() -> None:
    body = Body(b"line\n" * 1000)  # 5000 bytes of text
    got = read_content(len(body.data), body.read, max_bytes=1024, name="log.txt")
    assert body.reads == [(0, 1024)]  # never the whole body
    assert got.truncated and (got.start, got.end, got.size) == (0, 1024, 5000)
    assert got.text == (b"line\n" * 1000)[:1024].decode()
    assert got.block.meta == {"patchbay/range": {"start": 0, "end": 1024, "size": 5000}}
    assert got.range_note() == "bytes 0-1023 of 5000"


def test_known_size_binary_over_the_cap_is_refused_before_any_read() -> None:
    body = Body(PNG + b"\x00" * 5000)
    with pytest.raises(ContentTooLarge, match=r"'big.png' is 5\d\d\d bytes, over the 1024-byte cap.*nothing was read"):
        read_content(len(body.data), body.read, max_bytes=1024, name="big.png")
    assert body.reads == []


def test_unknown_size_asks_for_one_byte_more_to_tell_a_cut() -> None:
    body = Body(b"x" * 100)
    whole = read_content(None, body.read, max_bytes=100)
    assert body.reads == [(0, 101)] and not whole.truncated and whole.end == 100
    cut = read_content(None, Body(b"x" * 101).read, max_bytes=100)
    assert cut.truncated and cut.text == "x" * 100 and cut.size is None


def test_unknown_size_binary_over_the_cap_is_refused_unless_cut_is_allowed() -> None:
    data = PNG + b"\x00" * 500
    with pytest.raises(ContentTooLarge):
        read_content(None, Body(data).read, max_bytes=100)
    cut = read_content(None, Body(data).read, max_bytes=100, binary="cut")
    assert isinstance(cut.block, types.ImageContent) and cut.truncated and cut.end == 100


def test_a_range_from_an_offset() -> None:
    body = Body(b"0123456789" * 10)
    got = read_content(100, body.read, max_bytes=10, offset=95)
    assert body.reads == [(95, 5)]
    assert (got.text, got.start, got.end, got.truncated) == ("56789", 95, 100, False)
    assert got.block.meta == {"patchbay/range": {"start": 95, "end": 100, "size": 100}}


async def test_the_async_reader_works_the_same() -> None:
    body = Body(b"abc" * 1000)
    got = await aread_content(3000, body.aread, max_bytes=10)
    assert body.reads == [(0, 10)] and got.text == "abcabcabca" and got.truncated


def test_a_cut_in_the_middle_of_a_character_drops_only_that_fragment() -> None:
    body = Body("ü".encode() * 10)  # 2 bytes each
    got = read_content(20, body.read, max_bytes=5)
    assert got.text == "üü" and got.truncated


# shrink: cutting JSON data to a budget, keeping its shape ---------------------------------


def test_shrink_cuts_the_largest_list_keeping_its_first_items() -> None:
    data = {"items": [{"name": f"file-{i:04d}"} for i in range(1000)], "next_cursor": "abc", "total": 1000}
    cut, cuts = shrink(data, 2000)
    assert len(json.dumps(cut, separators=(",", ":"))) <= 2000
    assert cut["items"] == data["items"][: len(cut["items"])] and cut["items"]
    assert (cut["next_cursor"], cut["total"]) == ("abc", 1000)
    assert [(c.path, c.total, c.unit) for c in cuts] == [("items", 1000, "items")]
    assert data["items"][999] == {"name": "file-0999"}  # the original is untouched


def test_shrink_cuts_a_string_that_alone_holds_the_excess_and_keeps_every_item() -> None:
    data = {"files": [{"path": "a", "content": "x\n" * 5000}, {"path": "b", "content": "small"}]}
    cut, cuts = shrink(data, 3000)
    assert [f["path"] for f in cut["files"]] == ["a", "b"]
    assert cut["files"][1]["content"] == "small"
    assert len(cut["files"][0]["content"]) < 3000
    assert [(c.path, c.unit, c.total) for c in cuts] == [("files[0].content", "bytes", 10000)]


# The cap on one tool result, through a connector whose tools return too much ------------


class BulkySettings(ConnectorSettings):
    model_config = ConnectorSettings.model_config | {"env_prefix": "PATCHBAY_BULKY_"}


bulky: Connector[BulkySettings, None] = Connector("bulky", title="Bulky", version="0", settings=BulkySettings)


class Row(BaseModel):
    """A row."""

    id: int
    name: str


class Text(BaseModel):
    """A long text."""

    path: str
    content: str
    lines: int


@bulky.tool("read", paginated=True)
async def rows(
    count: Annotated[int, Field(ge=1)], cursor: Cursor = None, limit: Annotated[int, Field(ge=1)] = 100_000
) -> Page[Row]:
    """Many rows."""
    start = int(cursor or 0)
    end = min(count, start + limit)
    items = [Row(id=i, name=f"row number {i}") for i in range(start, end)]
    return Page(items=items, next_cursor=str(end) if end < count else None)


@bulky.tool("read")
async def long_text(lines: int) -> Text:
    """A long text."""
    return Text(path="/big.log", content="".join(f"line {i}\n" for i in range(lines)), lines=lines)


@bulky.tool("read")
async def picture(size: int) -> types.CallToolResult:
    """An image and a caption."""
    data = base64.b64encode(PNG + b"\x00" * size).decode()
    return types.CallToolResult(
        content=[
            types.TextContent(type="text", text="A picture:"),
            types.ImageContent(type="image", data=data, mime_type="image/png"),
        ]
    )


LIMIT = 8192


def flag(result: types.CallToolResult) -> dict[str, Any]:
    assert result.meta is not None
    found: dict[str, Any] = result.meta[META_KEY]
    return found


async def test_a_result_under_the_cap_is_untouched() -> None:
    async with connect(bulky, {"max_result_bytes": LIMIT}) as client:
        small = await client.call_tool("rows", {"count": 3})
    assert not small.is_error and META_KEY not in (small.meta or {})
    assert small.structured_content == {
        "next_cursor": None,
        "items": [{"id": i, "name": f"row number {i}"} for i in range(3)],
    }


async def test_a_page_over_the_cap_comes_back_cut_flagged_valid_and_with_a_hint() -> None:
    async with connect(bulky, {"max_result_bytes": LIMIT}) as client:
        # mcp.Client checks structuredContent against the tool's outputSchema: passing means valid
        result = await client.call_tool("rows", {"count": 5000, "limit": 5000})
        more = await client.call_tool("rows", {"count": 6000, "limit": 5000})
    assert not result.is_error
    assert result_size(result) <= LIMIT
    items = result.structured_content["items"]
    assert 10 < len(items) < 5000
    assert items == [{"id": i, "name": f"row number {i}"} for i in range(len(items))]
    info = flag(result)
    assert info["limit"] == LIMIT and info["size"] > 5000 * 30
    assert info["cuts"] == [{"path": "items", "kept": len(items), "total": 5000, "unit": "items"}]
    text = result.content[0].text
    assert text.splitlines()[0].split() == ["id", "name"]  # a table of exactly the rows kept
    assert text.splitlines()[len(items)].split()[0] == str(len(items) - 1)
    last = text.splitlines()[-1]
    assert last.startswith(f"[Cut to fit the {LIMIT}-byte result limit (")
    assert f"items: {len(items)} of 5000 items" in last and "cursor" in last and "range" in last
    # the page's cursor is kept: the client still learns where the next page starts
    assert more.structured_content["next_cursor"] is not None
    assert "More: pass cursor=" not in more.content[0].text or more.content[0].text.count("[Cut") == 1


async def test_a_long_string_is_cut_at_a_line_end_and_the_text_says_so() -> None:
    async with connect(bulky, {"max_result_bytes": LIMIT}) as client:
        result = await client.call_tool("long_text", {"lines": 5000})
    assert result_size(result) <= LIMIT
    content = result.structured_content["content"]
    assert content.endswith("\n") and "line 0\nline 1\n" in content
    assert result.structured_content["lines"] == 5000 and result.structured_content["path"] == "/big.log"
    [cut] = flag(result)["cuts"]
    assert (cut["path"], cut["unit"], cut["kept"], cut["total"]) == ("content", "bytes", len(content), 48890)


async def test_json_text_is_cut_too() -> None:
    async with connect(bulky, {"max_result_bytes": LIMIT, "result_text": "json"}) as client:
        result = await client.call_tool("rows", {"count": 5000})
    assert result_size(result) <= LIMIT
    text, note = result.content[0].text.rsplit("\n", 1)
    assert json.loads(text) == result.structured_content  # the JSON of exactly what was kept
    assert note.startswith("[Cut to fit")


async def test_a_binary_block_that_does_not_fit_is_left_out_and_named() -> None:
    async with connect(bulky, {"max_result_bytes": LIMIT}) as client:
        fits = await client.call_tool("picture", {"size": 100})
        too_big = await client.call_tool("picture", {"size": 20_000})
    assert [b.type for b in fits.content] == ["text", "image"] and META_KEY not in (fits.meta or {})
    assert [b.type for b in too_big.content] == ["text"]
    assert too_big.content[0].text.startswith("A picture:\n[Cut to fit the 8192-byte result limit")
    assert "left out image (image/png, 2" in too_big.content[0].text
    assert flag(too_big)["left_out"][0].startswith("image (image/png, ")
