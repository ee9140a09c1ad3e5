"""Pages and cursors: opaque, signed, bound to their query; tools/list pages too."""

import time
from typing import Any, Literal

import jsonschema
import pytest
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, Field

from patchbay.example.server import connector
from patchbay.pagination import CursorCodec, InvalidCursor, Page, Paginated
from patchbay.testing import connect

from .example_tools import ALL_TOOLS

pytestmark = pytest.mark.anyio

QUERY = {"tool": "list_notes", "prefix": ""}


def test_a_cursor_opens_to_the_token_it_sealed() -> None:
    codec = CursorCodec(b"k" * 32)
    cursor = codec.encode("s3-continuation/token==", QUERY)
    assert "s3-continuation" not in cursor  # opaque to the client
    assert codec.decode(cursor, QUERY) == "s3-continuation/token=="


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"), "not issued by this server"),
        (lambda c: "x" + c, "not issued by this server"),
        (lambda c: c.split(".")[0], "not issued by this server"),
        (lambda c: "", "not issued by this server"),
        (lambda c: "%%%.!!!", "not issued by this server"),
    ],
)
def test_an_altered_cursor_is_refused(tamper: Any, reason: str) -> None:
    codec = CursorCodec(b"k" * 32)
    with pytest.raises(InvalidCursor, match=reason):
        codec.decode(tamper(codec.encode("page-2", QUERY)), QUERY)


def test_a_cursor_from_another_key_is_refused() -> None:
    cursor = CursorCodec(b"a" * 32).encode("page-2", QUERY)
    with pytest.raises(InvalidCursor, match="not issued by this server"):
        CursorCodec(b"b" * 32).decode(cursor, QUERY)


def test_a_cursor_for_another_query_is_refused() -> None:
    codec = CursorCodec(b"k" * 32)
    cursor = codec.encode("page-2", QUERY)
    with pytest.raises(InvalidCursor, match="belongs to a different query"):
        codec.decode(cursor, {**QUERY, "prefix": "secret-"})


def test_an_expired_cursor_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = CursorCodec(b"k" * 32, ttl_seconds=60)
    cursor = codec.encode("page-2", QUERY)
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(InvalidCursor, match="expired"):
        codec.decode(cursor, QUERY)


async def test_paging_through_a_tool_visits_every_item_once(era: str) -> None:
    async with connect(connector, {"seed_notes": 25}, era=era) as client:
        keys: list[str] = []
        cursor = None
        pages = 0
        while True:
            args: dict[str, Any] = {"limit": 10} | ({"cursor": cursor} if cursor else {})
            page = (await client.call_tool("list_notes", args)).structured_content
            assert page is not None
            keys += [item["key"] for item in page["items"]]
            cursor = page["next_cursor"]
            pages += 1
            if cursor is None:
                break
    assert pages == 3
    assert keys == [f"note-{i:05d}" for i in range(25)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prefix": "note-0000"}, "belongs to a different query"),
        ({"cursor": "forged"}, "not issued by this server"),
    ],
)
async def test_a_foreign_or_forged_cursor_is_an_invalid_argument(
    era: str, change: dict[str, str], message: str
) -> None:
    async with connect(connector, {"seed_notes": 5}, era=era) as client:
        first = (await client.call_tool("list_notes", {"limit": 2})).structured_content
        assert first is not None
        result = await client.call_tool("list_notes", {"limit": 2, "cursor": first["next_cursor"], **change})
    assert result.is_error
    assert "Invalid argument 'cursor'" in result.content[0].text
    assert message in result.content[0].text


async def test_the_limit_may_change_between_pages(era: str) -> None:
    async with connect(connector, {"seed_notes": 5}, era=era) as client:
        first = (await client.call_tool("list_notes", {"limit": 2})).structured_content
        assert first is not None
        second = await client.call_tool("list_notes", {"limit": 3, "cursor": first["next_cursor"]})
    assert second.structured_content is not None
    assert [i["key"] for i in second.structured_content["items"]] == ["note-00002", "note-00003", "note-00004"]


async def test_tools_list_pages_when_there_are_many_tools(era: str) -> None:
    async with connect(connector, {"allow_writes": True, "tools_page_size": 2}, era=era) as client:
        names: list[str] = []
        cursor = None
        while True:
            page = await client.list_tools(cursor=cursor)
            assert len(page.tools) <= 2
            names += [tool.name for tool in page.tools]
            cursor = page.next_cursor
            if cursor is None:
                break
    assert names == ALL_TOOLS


async def test_tools_list_refuses_a_forged_cursor_as_invalid_params(era: str) -> None:
    async with connect(connector, {"tools_page_size": 2}, era=era) as client:
        with pytest.raises(MCPError) as caught:
            await client.list_tools(cursor="forged")
    assert caught.value.error.code == -32602
    assert "Invalid cursor" in caught.value.error.message


class Entry(BaseModel):
    """One entry."""

    name: str
    kind: Literal["file", "directory"]
    size: int | None = Field(None, description="Bytes.")
    tags: list[str] = []


def test_a_page_says_its_items_fields_in_words_and_leaves_them_untyped() -> None:
    schema = Page[Entry].model_json_schema(mode="serialization")
    assert schema["properties"]["items"] == {
        "type": "array",
        "title": "Items",
        "description": "Each item is an object (Entry): name (string); kind (one of file, directory); "
        "size (integer or null, optional): Bytes; tags (array of string, optional).",
    }
    assert "$defs" not in schema  # the item's own schema is no longer referenced


class Listing(Paginated):
    entries: list[Entry] = Field(description="What the folder holds.")
    names: list[str]


def test_every_list_of_objects_in_a_paginated_result_is_said_in_words_too() -> None:
    properties = Listing.model_json_schema(mode="serialization")["properties"]
    assert "items" not in properties["entries"]
    assert properties["entries"]["description"].startswith(
        "What the folder holds. Each item is an object (Entry): name (string)"
    )
    assert properties["names"]["items"] == {"type": "string"}


def test_a_page_of_plain_values_keeps_its_item_type() -> None:
    schema = Page[int].model_json_schema()
    assert schema["properties"]["items"]["items"] == {"type": "integer"}


async def test_the_clients_check_of_a_page_still_passes_and_still_catches_a_malformed_page(era: str) -> None:
    async with connect(connector, {"seed_notes": 3}, era=era) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        schema = listed["list_notes"].output_schema
        page = (await client.call_tool("list_notes", {})).structured_content  # mcp.Client validated it
    assert schema is not None and page is not None and len(page["items"]) == 3
    assert schema["properties"]["items"]["type"] == "array" and "items" not in schema["properties"]["items"]
    assert schema["properties"]["items"]["description"].startswith("Each item is an object (Note): key (string)")
    assert "title" not in schema and "title" not in schema["properties"]["items"]
    for malformed in ({"items": "not a list"}, {"items": [], "next_cursor": 3}, {"next_cursor": None}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(malformed, schema)
