"""Rate limits and server errors: slack-sdk's retry handlers under the shared policy; posts are tried once."""

from __future__ import annotations

import pytest
from fake_slack import FakeSlack
from mcp import Client
from slack_testing import settings, text

from patchbay.testing import connect
from patchbay_slack.server import connector

pytestmark = pytest.mark.anyio

HISTORY = "/api/conversations.history"
POST = "/api/chat.postMessage"


async def test_a_rate_limit_within_the_bound_is_waited_out(client: Client, fake: FakeSlack) -> None:
    fake.add_message("C0GENERAL", "hi")
    fake.fail("POST", HISTORY, status=429, times=1, headers={"Retry-After": "0"})
    fake.fail("POST", HISTORY, status=503, times=1)
    result = await client.call_tool("get_channel_history", {"channel": "C0GENERAL"})
    assert not result.is_error, text(result)
    assert [r.status for r in fake.requests("POST", HISTORY)] == [429, 503, 200]


async def test_a_rate_limit_beyond_the_bound_gives_up_at_once_and_says_when(client: Client, fake: FakeSlack) -> None:
    fake.fail("POST", HISTORY, status=429, times=None, headers={"Retry-After": "3600"})
    result = await client.call_tool("get_channel_history", {"channel": "C0GENERAL"})
    assert result.is_error
    assert text(result).startswith("Slack's rate limit for conversations.history is exhausted; it resets at ")
    assert text(result).endswith(" UTC (in 1 h). Try again then.")
    assert len(fake.requests("POST", HISTORY)) == 1


async def test_rate_limits_past_the_attempts_give_up(client: Client, fake: FakeSlack) -> None:
    fake.fail("POST", HISTORY, status=429, times=None, headers={"Retry-After": "0"})
    result = await client.call_tool("get_channel_history", {"channel": "C0GENERAL"})
    assert result.is_error
    assert text(result).startswith("Slack's rate limit for conversations.history is exhausted")
    assert len(fake.requests("POST", HISTORY)) == 3  # retry_attempts (default 3) in all


async def test_a_post_is_never_retried(writer: Client, fake: FakeSlack) -> None:
    fake.fail("POST", POST, status=429, times=1, headers={"Retry-After": "0"})
    limited = await writer.call_tool("post_message", {"channel": "#general", "text": "once"})
    fake.fail("POST", POST, status=503, times=1)
    failed = await writer.call_tool("post_message", {"channel": "#general", "text": "once"})
    assert limited.is_error and text(limited).startswith("Slack's rate limit for chat.postMessage is exhausted")
    assert failed.is_error
    assert [r.status for r in fake.requests("POST", POST)] == [429, 503]
    assert fake.messages["C0GENERAL"] == []


async def test_server_errors_past_the_attempts_read_clearly(client: Client, fake: FakeSlack) -> None:
    fake.fail("POST", HISTORY, status=503, times=None)
    result = await client.call_tool("get_channel_history", {"channel": "C0GENERAL"})
    assert text(result) == "Slack answered with the error 'fatal_error'."
    assert len(fake.requests("POST", HISTORY)) == 3


async def test_slack_errors_read_as_sentences(fake: FakeSlack) -> None:
    fake.channels["C0GENERAL"].members.remove("U0BOT")
    async with connect(connector, settings(fake, allow_writes=True, bot_token="xoxb-wrong"), era="legacy") as client:
        wrong = await client.call_tool("get_channel_history", {"channel": "C0GENERAL"})
    async with connect(connector, settings(fake, allow_writes=True), era="legacy") as client:
        outside = await client.call_tool("post_message", {"channel": "#general", "text": "hi"})
    assert text(wrong) == "Slack rejected the token (invalid_auth); the operator checks PATCHBAY_SLACK_BOT_TOKEN."
    assert text(outside) == "The bot is not a member of that channel; invite it (/invite @bot) and try again."
    assert "xoxb" not in text(wrong)


async def test_an_unreachable_slack_reads_clearly(fake: FakeSlack) -> None:
    async with connect(
        connector, settings(fake, api_url="http://127.0.0.1:9/api/", retry_attempts=1), era="legacy"
    ) as c:
        result = await c.call_tool("get_channel_history", {"channel": "C0GENERAL"})
    assert text(result) == "Could not reach Slack (the connection failed or timed out); try again later."


async def test_a_dropped_connection_is_retried(client: Client, fake: FakeSlack) -> None:
    fake.add_message("C0GENERAL", "still here")
    fake.drop("POST", HISTORY, times=1)
    result = await client.call_tool("get_channel_history", {"channel": "C0GENERAL"})
    assert not result.is_error, text(result)
    assert [r.fault for r in fake.requests("POST", HISTORY)] == ["drop", None]
