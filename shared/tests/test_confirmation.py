"""Every destructive call is confirmed by the user first, in both protocol eras."""

import json
from pathlib import Path

import pytest
from mcp import Client
from pydantic_settings import SettingsConfigDict

from patchbay import Connector, ConnectorSettings
from patchbay.example.server import Deleted, connector
from patchbay.testing import Answer, connect, runtime_of_server


class MuteSettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="PATCHBAY_MUTE_")


pytestmark = pytest.mark.anyio

WRITES = {"allow_writes": True}
SEED = {"key": "note-00001", "text": "Seed note number 1."}


async def test_accept_runs_the_call_after_asking_exactly_what_will_happen(era: str) -> None:
    answer = Answer("accept")
    async with connect(connector, WRITES, era=era, elicit=answer) as client:
        result = await client.call_tool("delete_note", {"key": "note-00001"})
        after = await client.call_tool("get_note", {"key": "note-00001"})
    assert answer.questions == ["Delete the note 'note-00001' (19 characters)? This cannot be undone."]
    assert not result.is_error
    assert result.structured_content == {
        "outcome": "done",
        "message": "Done.",
        "result": {"key": "note-00001", "size": 19},
    }
    assert after.is_error  # gone


@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_decline_or_cancel_does_nothing_and_is_not_an_error(era: str, action: str) -> None:
    answer = Answer(action)  # type: ignore[arg-type]
    async with connect(connector, WRITES, era=era, elicit=answer) as client:
        result = await client.call_tool("delete_note", {"key": "note-00001"})
        after = await client.call_tool("get_note", {"key": "note-00001"})
    assert len(answer.questions) == 1
    assert not result.is_error
    outcome = "declined" if action == "decline" else "cancelled"
    assert result.structured_content == {
        "outcome": outcome,
        "message": f"Nothing was done: the user {outcome} the operation.",
        "result": None,
    }
    assert after.structured_content == SEED


async def test_accepting_with_the_box_unticked_counts_as_declined(era: str) -> None:
    answer = Answer("accept", content={"confirm": False})
    async with connect(connector, WRITES, era=era, elicit=answer) as client:
        result = await client.call_tool("delete_note", {"key": "note-00001"})
        after = await client.call_tool("get_note", {"key": "note-00001"})
    assert result.structured_content is not None
    assert result.structured_content["outcome"] == "declined"
    assert after.structured_content == SEED


async def test_client_without_elicitation_is_refused_with_the_operator_setting(era: str) -> None:
    async with connect(connector, WRITES, era=era) as client:  # no elicitation callback
        result = await client.call_tool("delete_note", {"key": "note-00001"})
        after = await client.call_tool("get_note", {"key": "note-00001"})
    assert result.is_error
    text = result.content[0].text
    assert "Refused: 'delete_note' needs the user's confirmation" in text
    assert "does not support elicitation" in text
    assert "--confirm=never (PATCHBAY_EXAMPLE_CONFIRM=never)" in text
    assert "Nothing was done" in text
    assert after.structured_content == SEED


async def test_confirm_never_trusts_the_host_and_does_not_ask(era: str) -> None:
    answer = Answer("decline")
    async with connect(connector, {**WRITES, "confirm": "never"}, era=era, elicit=answer) as client:
        result = await client.call_tool("delete_note", {"key": "note-00001"})
    assert answer.questions == []
    assert result.structured_content is not None
    assert result.structured_content["outcome"] == "done"


async def test_bad_arguments_are_rejected_before_anyone_is_asked(era: str) -> None:
    answer = Answer("accept")
    async with connect(connector, WRITES, era=era, elicit=answer) as client:
        result = await client.call_tool("delete_note", {"key": ""})
    assert result.is_error
    assert "key" in result.content[0].text
    assert answer.questions == []


async def test_confirmation_is_part_of_the_output_schema(era: str) -> None:
    async with connect(connector, WRITES, era=era) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    schema = tools["delete_note"].output_schema
    assert schema is not None
    assert set(schema["properties"]) == {"outcome", "message", "result"}
    # The confirmation is not an argument the model can fill in.
    assert set(tools["delete_note"].input_schema["properties"]) == {"key"}


async def test_accept_without_an_explicit_yes_is_declined(era: str) -> None:
    # A client that applies the form's defaults itself may send {}: that is not a yes.
    answer = Answer("accept", content={})
    async with connect(connector, WRITES, era=era, elicit=answer) as client:
        result = await client.call_tool("delete_note", {"key": "note-00001"})
        after = await client.call_tool("get_note", {"key": "note-00001"})
    assert result.structured_content is not None
    assert result.structured_content["outcome"] == "declined"
    assert after.structured_content == SEED


async def test_the_form_offers_no_default_yes(era: str) -> None:
    answer = Answer("decline")
    async with connect(connector, WRITES, era=era, elicit=answer) as client:
        await client.call_tool("delete_note", {"key": "note-00001"})
    (schema,) = answer.schemas
    assert schema["properties"]["confirm"]["type"] == "boolean"
    assert schema["properties"]["confirm"].get("default") is not True


async def test_question_errors_read_like_tool_errors(era: str) -> None:
    answer = Answer("accept")
    async with connect(connector, WRITES, era=era, elicit=answer) as client:
        missing = await client.call_tool("delete_note", {"key": "nope"})
        nothing = await client.call_tool("delete_notes", {"prefix": "zzz"})
    assert missing.is_error and nothing.is_error
    assert missing.content[0].text == "No note with key 'nope'; list_notes shows the keys that exist."
    assert nothing.content[0].text == "No note has a key starting with 'zzz'; nothing to delete."
    assert answer.questions == []


async def test_what_the_user_confirmed_is_what_runs(era: str) -> None:
    """A note added under the prefix while the user reads the question.

    Handshake era: the action sees another set than the one confirmed, refuses, deletes
    nothing. 2026-07-28: the question is built again when the client retries; its text
    (count and fingerprint) changed, so the SDK discards the answer and asks again, and
    what runs is what the second question described.
    """
    server = connector.build(connector.load_settings(WRITES))
    notebook = runtime_of_server(server)

    async def add_a_note(question: str) -> None:
        notebook.state.setdefault("note-99999", "Slipped in while the user read the question.")

    answer = Answer("accept", before_answer=add_a_note)
    async with Client(server, mode=era, elicitation_callback=answer) as client:
        result = await client.call_tool("delete_notes", {"prefix": "note-"})
    if era == "legacy":
        assert result.is_error
        assert result.content[0].text == (
            "Refused: the notes under 'note-' changed after you confirmed, so what you confirmed is no longer "
            "what would run. Nothing was done; call the tool again to confirm the current state."
        )
        assert sorted(notebook.state) == ["note-00000", "note-00001", "note-00002", "note-99999"]
    else:
        assert [q.split(" (ref")[0] for q in answer.questions] == [
            "Delete 3 notes whose keys start with 'note-'?",
            "Delete 4 notes whose keys start with 'note-'?",
        ]
        assert result.structured_content is not None
        assert result.structured_content["result"]["keys"] == ["note-00000", "note-00001", "note-00002", "note-99999"]
        assert dict(notebook.state) == {}


async def test_a_confirmed_fingerprint_lets_the_unchanged_call_run(era: str) -> None:
    answer = Answer("accept")
    async with connect(connector, WRITES, era=era, elicit=answer) as client:
        result = await client.call_tool("delete_notes", {"prefix": "note-0000"})
    assert result.structured_content is not None
    assert result.structured_content["outcome"] == "done"
    assert len(answer.questions) == 1
    assert answer.questions[0].startswith("Delete 3 notes whose keys start with 'note-0000'? (ref ")


mute = Connector("mute", title="Mute", version="0", settings=MuteSettings)
ran: list[str] = []


@mute.tool("destructive", confirm=lambda key: None)
async def wipe(key: str) -> Deleted:
    """A destructive tool whose question function says there is nothing to ask."""
    ran.append(key)
    return Deleted(key=key, size=0)


def _unreachable(key: str) -> str:
    raise ConnectionError(f"upstream refused while describing {key}")


@mute.tool("destructive", confirm=_unreachable)
async def wipe_remote(key: str) -> Deleted:
    """A destructive tool whose question needs an upstream that is down."""
    ran.append(key)
    return Deleted(key=key, size=0)


@mute.tool("write", confirm=lambda key: None if key == "small" else f"Change {key}?")
async def tweak(key: str) -> Deleted:
    """A write tool that asks only about big changes."""
    ran.append(key)
    return Deleted(key=key, size=0)


async def test_a_destructive_tool_always_asks_or_is_refused(era: str, tmp_path: Path) -> None:
    ran.clear()
    answer = Answer("accept")
    audit = tmp_path / "audit.jsonl"
    async with connect(mute, {**WRITES, "audit_log": audit}, era=era, elicit=answer) as client:
        silent = await client.call_tool("wipe", {"key": "everything"})
        down = await client.call_tool("wipe_remote", {"key": "everything"})
        small = await client.call_tool("tweak", {"key": "small"})
    assert silent.is_error
    assert silent.content[0].text == (
        "Refused: 'wipe' is destructive and must be confirmed, but no question could be put to the user. "
        "Nothing was done."
    )
    assert down.is_error
    assert down.content[0].text == "Could not reach the upstream service; check that it is running and reachable."
    assert not small.is_error
    assert ran == ["small"]  # only the write tool that had nothing to ask ran
    assert answer.questions == []
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(e["tool"], e["outcome"], e["confirmation"]) for e in lines] == [
        ("wipe", "denied", None),
        ("wipe_remote", "error", None),
        ("tweak", "ok", "not needed"),
    ]
