"""The Slack connector driven by the MCP Inspector CLI and the TypeScript SDK client.

Over stdio, stateless HTTP and stateful HTTP (conftest.py's `target` fixture), against the
connector's own fake Slack Web API (servers/slack/tests/fake_slack.py) on loopback: tools and resources listed and used;
the Inspector's --strict schema check finds nothing; a post with @here declined and then
confirmed through the TypeScript client's elicitation handler, unfurling off both times.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_clients import Clients, Servers, Target, console_script, serve, strict_tool_names, text_of

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "servers" / "slack" / "tests"))

from fake_slack import BOT_TOKEN, FakeSlack

pytestmark = pytest.mark.integration

TOOLS = {
    "list_channels", "get_channel_info", "get_channel_history", "get_thread_replies", "search_messages",
    "list_users", "get_user_profile", "find_user", "get_permalink", "list_reactions", "post_message",
    "reply_to_thread", "update_message", "add_reaction", "remove_reaction", "mark_read", "upload_file",
    "delete_message",
}  # fmt: skip


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as service:
        service.add_message("C0GENERAL", "hello from the fake")
        yield service


@pytest.fixture(scope="module")
def servers(fake: FakeSlack) -> Iterator[Servers]:
    env = {
        "PATCHBAY_SLACK_BOT_TOKEN": BOT_TOKEN,
        "PATCHBAY_SLACK_API_URL": fake.url + "/api/",
        "PATCHBAY_SLACK_READ_CHANNELS": "#general",
        "PATCHBAY_SLACK_WRITE_CHANNELS": "#general",
    }
    yield from serve([console_script("patchbay-slack"), "--allow-writes"], env)


def test_inspector_lists_and_calls_with_a_clean_strict_schema_check(clients: Clients, target: Target) -> None:
    entry = target.inspector_entry()
    assert strict_tool_names(clients, entry) == TOOLS

    history = clients.inspector(entry, "--method", "tools/call", "--tool-name", "get_channel_history", "--tool-arg",
                                "channel=#general")  # fmt: skip
    assert history.code == 0, (history.answer, history.stderr)
    assert history.result["structuredContent"]["messages"][0]["text"] == "hello from the fake"

    resources = clients.inspector(entry, "--method", "resources/list")
    assert {r["uri"] for r in resources.result["resources"]} == {"slack://channels", "slack://users"}
    channels = clients.inspector(entry, "--method", "resources/read", "--uri", "slack://channels")
    assert '"id":"C0GENERAL"' in channels.result["contents"][0]["text"]
    assert "C0SECRET" not in channels.result["contents"][0]["text"]


def test_typescript_client_lists_calls_and_confirms(clients: Clients, target: Target, fake: FakeSlack) -> None:
    post = {"op": "callTool", "name": "post_message", "arguments": {"channel": "#general", "text": "<!here> hi"}}
    before = len(fake.calls("chat.postMessage"))
    report = clients.typescript(
        {
            "server": target.ts_server(),
            "elicit": ["decline", "accept"],
            "steps": [
                {"op": "listTools"},
                {"op": "listResourceTemplates"},
                {"op": "callTool", "name": "list_channels", "arguments": {}},
                {"op": "readResource", "uri": "slack://channel/C0GENERAL/history"},
                post,
                post,
            ],
        }
    )
    tools, templates, channels, history, first, second = (step.get("result", step) for step in report["steps"])
    assert report["server"]["name"] == "patchbay-slack"
    assert {tool["name"] for tool in tools["tools"]} == TOOLS
    assert "slack://channel/{channel}/history" in [t["uriTemplate"] for t in templates["resourceTemplates"]]
    assert [c["id"] for c in channels["structuredContent"]["channels"]] == ["C0GENERAL"]
    assert "hello from the fake" in history["contents"][0]["text"]
    sent = fake.calls("chat.postMessage")[before:]
    if target.stateless:  # no channel to ask on: refused, and nothing posted
        assert first["isError"] and "--stateful" in text_of(first), first
        assert report["questions"] == [] and sent == []
        return
    assert first["structuredContent"]["outcome"] == "declined", first
    assert second["structuredContent"]["outcome"] == "done", second
    assert len(report["questions"]) == 2
    assert report["questions"][0].startswith("Post to #general: '<!here> hi'? Asking because it notifies many people")
    assert [(c["text"], c["unfurl_links"], c["unfurl_media"]) for c in sent] == [("<!here> hi", False, False)]
