"""Protocol features the base wires for every connector: resources, subscriptions, prompts,
completion, logging/setLevel and ping."""

from typing import Any

import anyio
import mcp_types as types
import pytest
from pydantic_settings import SettingsConfigDict

from patchbay import Connector, ConnectorSettings
from patchbay.example.server import Echoed, connector
from patchbay.testing import Answer, connect

from .canary import API_KEY
from .canary import connector as canary

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


async def test_ping_and_completions_are_answered() -> None:
    async with connect(connector, era="legacy") as client:
        assert client.server_capabilities.completions is not None
        await client.send_ping()


async def test_log_records_reach_the_client_at_the_level_it_set() -> None:
    received: list[tuple[str, str]] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        received.append((params.level, str(params.data)))

    secret = "hunter2-passphrase"
    settings = {"passphrase": secret}
    async with connect(connector, settings, era="legacy", logging_callback=on_log) as client:
        assert client.server_capabilities.logging is not None
        await client.call_tool("check_passphrase", {"passphrase": "guess"})  # info: below the default
        await client.set_logging_level("info")
        await client.call_tool("check_passphrase", {"passphrase": secret})
        await client.set_logging_level("error")
        await client.call_tool("check_passphrase", {"passphrase": "again"})
    # Only the call made at level info was told, and the secret argument is masked.
    assert received == [("info", "checking a passphrase of 18 characters")]


async def test_log_records_follow_a_2026_request_s_opt_in() -> None:
    received: list[tuple[str, str]] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        received.append((params.level, str(params.data)))

    settings = {"passphrase": "open-sesame", "allow_writes": True}
    async with connect(connector, settings, era="2026-07-28", logging_callback=on_log) as client:
        await client.call_tool("check_passphrase", {"passphrase": "x"})  # no opt-in: nothing
        await client.call_tool(
            "check_passphrase", {"passphrase": "y"}, meta={"io.modelcontextprotocol/logLevel": "info"}
        )
        await client.call_tool(
            "check_passphrase", {"passphrase": "z"}, meta={"io.modelcontextprotocol/logLevel": "warning"}
        )
    assert received == [("info", "checking a passphrase of 1 characters")]


async def test_secrets_in_log_records_are_masked_before_they_reach_the_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    received: list[str] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        received.append(str(params.data))

    monkeypatch.setenv("PATCHBAY_CANARY_API_KEY", API_KEY)
    async with connect(canary, era="legacy", logging_callback=on_log) as client:
        await client.set_logging_level("warning")
        await client.call_tool("crash", {})
    assert received == ["about to use key [REDACTED]"]


class PlainSettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="PATCHBAY_PLAIN_")


plain = Connector("plain", title="Plain", version="0", settings=PlainSettings)


@plain.tool("read")
async def hello() -> Echoed:
    """Says hello."""
    return Echoed(text="hello")


async def test_a_connector_without_prompts_does_not_offer_them() -> None:
    era = "legacy"  # the in-memory 2026-07-28 client does not fetch capabilities
    async with connect(plain, era=era) as client:
        assert client.server_capabilities.prompts is None
        assert client.server_capabilities.tools is not None
    async with connect(connector, era=era) as client:
        assert client.server_capabilities.prompts is not None


@pytest.mark.parametrize(
    ("transport", "stateful", "offered"), [("stdio", False, True), ("http", True, True), ("http", False, False)]
)
async def test_subscriptions_are_offered_only_where_updates_can_be_delivered(
    transport: str, stateful: bool, offered: bool
) -> None:
    async with connect(connector, {"transport": transport, "stateful": stateful}, era="legacy") as client:
        resources = client.server_capabilities.resources
        assert resources is not None
        assert bool(resources.subscribe) is offered
