"""Allowlists on every tool: each leak is tried, and nothing out of scope reaches Slack or the client."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from fake_slack import FakeSlack
from mcp import Client
from slack_testing import settings, text

from patchbay.testing import Answer, connect
from patchbay_slack.server import connector

pytestmark = pytest.mark.anyio

READS = ["conversations.history", "conversations.replies", "chat.getPermalink", "reactions.get", "conversations.mark"]
WRITES = ["chat.postMessage", "chat.update", "chat.delete", "reactions.add", "reactions.remove"]
UPLOADS = ["files.getUploadURLExternal", "files.completeUploadExternal"]
TS = "1700000001.000100"

READ_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("get_channel_info", {}),
    ("get_channel_history", {}),
    ("get_thread_replies", {"ts": TS}),
    ("get_permalink", {"ts": TS}),
    ("list_reactions", {"ts": TS}),
]
WRITE_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("post_message", {"text": "hi"}),
    ("reply_to_thread", {"thread_ts": TS, "text": "hi"}),
    ("update_message", {"ts": TS, "text": "hi"}),
    ("delete_message", {"ts": TS}),
    ("add_reaction", {"ts": TS, "name": "eyes"}),
    ("remove_reaction", {"ts": TS, "name": "eyes"}),
    ("upload_file", {"filename": "a.txt", "content": "x"}),
    ("mark_read", {"ts": TS}),
]
OUTSIDE = [
    "C0SECRET",
    "#secret",
    "#SECRET",
    "%43%30SECRET",
    "C0GENERAL2",
    "D0ALICE",
    "G0GROUP",
    "#mpdm-alice--bob--patchbay-1",
]


def untouched(fake: FakeSlack) -> None:
    for method in READS + WRITES + UPLOADS:
        assert fake.calls(method) == [], method


@pytest.mark.parametrize(("tool", "args"), READ_CALLS + WRITE_CALLS)
@pytest.mark.parametrize("channel", OUTSIDE)
async def test_every_channel_tool_refuses_channels_outside_its_allowlist(
    fake: FakeSlack, tool: str, args: dict[str, Any], channel: str
) -> None:
    fake.add_message("C0SECRET", "hunter2")
    answer = Answer("accept")
    async with connect(connector, settings(fake, allow_writes=True, confirm="never"), era="legacy", elicit=answer) as c:
        result = await c.call_tool(tool, {"channel": channel, **args})
    assert result.is_error
    assert text(result).startswith(f"Access denied: {channel!r} is outside the allowed channels (PATCHBAY_SLACK_")
    assert "hunter2" not in text(result)
    assert answer.questions == []
    untouched(fake)


@pytest.mark.parametrize(("tool", "args"), WRITE_CALLS[:-1])
async def test_a_readable_channel_is_not_writable(
    writer: Client, fake: FakeSlack, tool: str, args: dict[str, Any]
) -> None:
    result = await writer.call_tool(tool, {"channel": "C0RANDOM", **args})
    assert text(result) == "Access denied: 'C0RANDOM' is outside the allowed channels (PATCHBAY_SLACK_WRITE_CHANNELS)."
    untouched(fake)


async def test_malformed_channel_names_are_refused_as_arguments(client: Client, fake: FakeSlack) -> None:
    for bad in ["C0GENERAL/../C0SECRET", "#gen\u200beral", "c0general"]:
        result = await client.call_tool("get_channel_history", {"channel": bad})
        assert result.is_error
        assert text(result).startswith(("Invalid argument 'channel'", "Access denied")), text(result)
    untouched(fake)


async def test_an_empty_allowlist_admits_nothing(fake: FakeSlack) -> None:
    async with connect(connector, settings(fake, read_channels=""), era="legacy") as client:
        listed = await client.call_tool("list_channels", {})
        history = await client.call_tool("get_channel_history", {"channel": "C0GENERAL"})
    assert listed.structured_content is not None and listed.structured_content["channels"] == []
    assert text(history).startswith("Access denied: 'C0GENERAL' is outside the allowed channels (none are allowed: set")
    untouched(fake)


async def test_dms_need_allow_dms_even_when_listed(fake: FakeSlack) -> None:
    fake.add_message("D0ALICE", "psst")
    listed = settings(fake, read_channels="D0ALICE,#general")
    async with connect(connector, listed, era="legacy") as client:
        refused = await client.call_tool("get_channel_history", {"channel": "D0ALICE"})
        search = await client.call_tool("search_messages", {"query": "psst"})
    async with connect(connector, {**listed, "allow_dms": True}, era="legacy") as client:
        allowed = await client.call_tool("get_channel_history", {"channel": "D0ALICE"})
        dms = await client.call_tool("list_channels", {"types": ["dm", "group_dm"]})
    assert text(refused).startswith("Access denied: 'D0ALICE' is outside the allowed channels (direct and group")
    assert search.structured_content is not None and search.structured_content["messages"] == []
    assert allowed.structured_content is not None
    assert [m["text"] for m in allowed.structured_content["messages"]] == ["psst"]
    assert dms.structured_content is not None
    assert [c["id"] for c in dms.structured_content["channels"]] == ["D0ALICE"]  # the group DM is not listed
    assert [c["channel"] for c in fake.calls("conversations.history")] == ["D0ALICE"]


async def test_all_read_channels_still_excludes_dms(fake: FakeSlack) -> None:
    async with connect(connector, settings(fake, read_channels="", all_read_channels=True), era="legacy") as client:
        secret = await client.call_tool("get_channel_history", {"channel": "C0SECRET"})
        dm = await client.call_tool("get_channel_history", {"channel": "D0ALICE"})
    assert not secret.is_error
    assert dm.is_error


async def test_a_renamed_channel_leaves_a_name_allowlist(client: Client, fake: FakeSlack) -> None:
    assert not (await client.call_tool("get_channel_history", {"channel": "C0GENERAL"})).is_error
    fake.channels["C0GENERAL"].name = "general-archive"
    fake.channels["C0SECRET"].name = "general"  # another channel takes the allowed name
    renamed = await client.call_tool("get_channel_history", {"channel": "C0GENERAL"})
    taken = await client.call_tool("get_channel_history", {"channel": "#general"})
    assert renamed.is_error
    assert not taken.is_error  # the name is what was allowed, so the channel now called #general is readable
    assert [c["channel"] for c in fake.calls("conversations.history")] == ["C0GENERAL", "C0SECRET"]


async def test_search_results_with_channels_of_other_kinds_are_withheld(client: Client, fake: FakeSlack) -> None:
    fake.add_message("G0GROUP", "quarterly numbers")
    fake.add_message("C0BIG", "quarterly numbers")
    result = await client.call_tool("search_messages", {"query": "quarterly"})
    assert result.structured_content is not None
    assert result.structured_content["messages"] == []
    assert result.structured_content["withheld"] == "2 results outside the allowed channels were withheld."


async def test_allowed_names_are_looked_up_at_start_up(fake: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    async with connect(connector, settings(fake, read_channels="#general,#genral"), era="legacy"):
        for _ in range(500):  # the look-up runs in a background thread: wait for its word
            if "#genral" in caplog.text:
                break
            await anyio.sleep(0.01)
    assert "No channel the bot can see is called #genral (an allowlist names it); check the spelling." in caplog.text
    assert "#general" not in caplog.text.replace("#genral", "")
    assert fake.calls("conversations.list")  # asked before any tool was called
