"""Read-only by default; write and destructive tools exist only when writes are allowed."""

import pytest

from patchbay.example.server import connector
from patchbay.testing import connect

from .example_tools import READ_TOOLS, WRITE_TOOLS

pytestmark = pytest.mark.anyio

READ = set(READ_TOOLS)
WRITES = set(WRITE_TOOLS)


async def test_read_only_by_default_lists_only_read_tools(era: str) -> None:
    async with connect(connector, era=era) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert names == READ


async def test_allow_writes_lists_every_tool(era: str) -> None:
    async with connect(connector, {"allow_writes": True}, era=era) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert names == READ | WRITES


@pytest.mark.parametrize("tool", sorted(WRITES))
async def test_hidden_tool_answers_exactly_like_an_unknown_tool(era: str, tool: str) -> None:
    async with connect(connector, era=era) as client:
        hidden = await client.call_tool(tool, {"key": "note-00000", "text": "x"})
        unknown = await client.call_tool("no_such_tool", {"key": "note-00000", "text": "x"})
        still_there = await client.call_tool("get_note", {"key": "note-00000"})
    assert hidden.is_error and unknown.is_error
    assert hidden.content[0].text.replace(tool, "NAME") == unknown.content[0].text.replace("no_such_tool", "NAME")
    assert still_there.structured_content == {"key": "note-00000", "text": "Seed note number 0."}


async def test_annotations_follow_the_safety_class(era: str) -> None:
    async with connect(connector, {"allow_writes": True}, era=era) as client:
        tools = {tool.name: tool.annotations for tool in (await client.list_tools()).tools}
    for name in READ:
        assert tools[name] is not None
        assert tools[name].read_only_hint is True
        assert tools[name].destructive_hint is False
        assert tools[name].idempotent_hint is True
        assert tools[name].open_world_hint is False  # the notebook is a closed world
    put, delete = tools["put_note"], tools["delete_note"]
    assert put is not None and delete is not None
    assert (put.read_only_hint, put.destructive_hint, put.idempotent_hint) == (False, False, True)
    assert (delete.read_only_hint, delete.destructive_hint, delete.idempotent_hint) == (False, True, False)


def test_destructive_tool_without_a_question_is_refused_at_registration() -> None:
    from patchbay import Connector
    from patchbay.example.settings import ExampleSettings

    other = Connector("example", title="t", version="0", settings=ExampleSettings)
    with pytest.raises(ValueError, match="needs confirm="):

        @other.tool("destructive")
        async def wipe() -> None: ...
