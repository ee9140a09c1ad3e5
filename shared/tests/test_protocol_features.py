"""Protocol features the base wires for every connector: resources, subscriptions, prompts,
completion, logging/setLevel and ping."""

from typing import Any

import anyio
import mcp_types as types
import pytest

from patchbay.example.server import connector
from patchbay.testing import Answer, connect

pytestmark = pytest.mark.anyio


async def test_resource_template_reads_a_note(era: str) -> None:
    async with connect(connector, era=era) as client:
        templates = await client.list_resource_templates()
        read = await client.read_resource("note://note-00002")
    assert [t.uri_template for t in templates.resource_templates] == ["note://{key}"]
    assert read.contents[0].text == "Seed note number 2."  # type: ignore[union-attr]


async def test_subscribers_hear_about_changes_until_they_unsubscribe() -> None:
    updates: list[str] = []
    heard = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))
            heard.set()

    async with connect(connector, {"allow_writes": True}, era="legacy", message_handler=on_message) as client:
        assert client.server_capabilities.resources is not None
        assert client.server_capabilities.resources.subscribe is True
        await client.subscribe_resource("note://a")
        await client.call_tool("put_note", {"key": "a", "text": "one"})
        await client.call_tool("put_note", {"key": "b", "text": "not watched"})
        with anyio.fail_after(5):
            await heard.wait()
        await client.unsubscribe_resource("note://a")
        await client.call_tool("put_note", {"key": "a", "text": "two"})
        await anyio.sleep(0.1)
    assert updates == ["note://a"]


async def test_listeners_hear_about_changes_in_the_2026_era() -> None:
    async with (
        connect(connector, {"allow_writes": True}, era="2026-07-28", elicit=Answer()) as client,
        client.listen(resource_subscriptions=["note://a"]) as subscription,
    ):
        await client.call_tool("put_note", {"key": "a", "text": "one"})
        with anyio.fail_after(5):
            event = await subscription.__anext__()
    assert "note://a" in repr(event)


async def test_prompt_and_its_completion(era: str) -> None:
    async with connect(connector, era=era) as client:
        prompts = await client.list_prompts()
        prompt = await client.get_prompt("summarize_notes", {"prefix": "note-"})
        completion = await client.complete(
            types.PromptReference(type="ref/prompt", name="summarize_notes"), {"name": "prefix", "value": "no"}
        )
        nothing = await client.complete(
            types.PromptReference(type="ref/prompt", name="summarize_notes"), {"name": "other", "value": ""}
        )
    assert [p.name for p in prompts.prompts] == ["summarize_notes"]
    assert "list_notes with prefix 'note-'" in prompt.messages[0].content.text  # type: ignore[union-attr]
    assert completion.completion.values == ["note-"]
    assert nothing.completion.values == []


async def test_logging_level_and_ping_are_answered() -> None:
    async with connect(connector, era="legacy") as client:
        assert client.server_capabilities.logging is not None
        assert client.server_capabilities.completions is not None
        await client.set_logging_level("warning")
        await client.send_ping()
