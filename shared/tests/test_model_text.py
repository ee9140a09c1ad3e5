"""The text block a result shows the model (`patchbay.model_text`), and `--result-text json`."""

from __future__ import annotations

import json

import pytest

from patchbay.cli import build_parser
from patchbay.example.server import connector
from patchbay.model_text import compact, short_size, short_time, table
from patchbay.testing import connect

pytestmark = pytest.mark.anyio


def test_sizes_and_times_are_short() -> None:
    assert [short_size(n) for n in (0, 1023, 1024, 1536, 10 * 1024, 5 * 1024**2, 3 * 1024**4)] == [
        "0",
        "1023",
        "1.0K",
        "1.5K",
        "10K",
        "5.0M",
        "3.0T",
    ]
    assert short_time("2024-05-01T12:30:59+00:00") == "2024-05-01 12:30"
    assert short_time("2024-05-01T14:30:00+02:00") == "2024-05-01 12:30"  # shown in UTC
    assert short_time(0) == "1970-01-01 00:00"


def test_a_table_aligns_columns_and_writes_no_trailing_spaces() -> None:
    text = table([("a", 1, None), ("longer", 12345, True)], ["name", "n", "ok"], right={1})
    assert text == "name        n  ok\na           1  -\nlonger  12345  yes"
    assert table([("x", ""), ("y", "")]) == "x\ny"  # an empty column takes no room


def test_compact_renders_any_data_without_json_punctuation() -> None:
    data = {"path": "/a", "items": [{"name": "x", "size": 1}, {"name": "yy", "size": 10}], "note": None, "tags": []}
    assert compact(data) == "path: /a\nitems:\n  name  size\n  x        1\n  yy      10"
    assert compact({"text": "two\nlines"}) == "text: two\\nlines"


async def test_results_are_compact_text_by_default_and_full_structured_content() -> None:
    async with connect(connector, {"seed_notes": 3}) as client:
        page = await client.call_tool("list_notes", {"limit": 2})
        counted = await client.call_tool("count_words", {})
    assert page.structured_content is not None
    assert page.structured_content["items"][0] == {"key": "note-00000", "text": "Seed note number 0."}
    cursor = page.structured_content["next_cursor"]
    assert page.content[0].text == (
        "key         text\nnote-00000  Seed note number 0.\nnote-00001  Seed note number 1.\n"
        f"More: pass cursor={cursor}"
    )
    assert counted.content[0].text == "notes: 3\nwords: 12"


async def test_result_text_json_restores_the_json_text() -> None:
    async with connect(connector, {"seed_notes": 3, "result_text": "json"}) as client:
        page = await client.call_tool("list_notes", {"limit": 2})
    assert json.loads(page.content[0].text) == page.structured_content
    assert page.content[0].text.startswith('{"next_cursor":')  # compact JSON, no indentation


def test_the_command_line_sets_result_text_and_the_cap() -> None:
    parser = build_parser("example", distribution="patchbay")
    args = vars(parser.parse_args(["--result-text", "json", "--max-result-bytes", "65536"]))
    settings = connector.load_settings(args)
    assert (settings.result_text, settings.max_result_bytes) == ("json", 65536)
    assert connector.load_settings({}).result_text == "compact"
    with pytest.raises(SystemExit):
        parser.parse_args(["--result-text", "yaml"])


async def test_tools_list_input_schemas_carry_no_titles_or_null_options() -> None:
    async with connect(connector, {"seed_notes": 3}) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        explicit_null = await client.call_tool("list_notes", {"cursor": None, "limit": 1})
    schema = tools["list_notes"].input_schema
    assert "title" not in schema and all("title" not in prop for prop in schema["properties"].values())
    assert schema["properties"]["cursor"] == {
        "type": "string",
        "description": "The previous page's next_cursor; omit for the first page.",
    }
    assert not explicit_null.is_error  # the server still takes an explicit null
