"""Every destructive call is confirmed by the user first, in both protocol eras."""

import pytest

from patchbay.example.server import connector
from patchbay.testing import Answer, connect

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
