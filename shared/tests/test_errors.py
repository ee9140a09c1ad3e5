"""Failures become short, actionable tool errors; protocol misuse stays a JSON-RPC error."""

import pytest
from mcp.shared.exceptions import MCPError

from patchbay.errors import ErrorMapper, InvalidArgument, ToolError
from patchbay.example.server import connector
from patchbay.testing import connect

pytestmark = pytest.mark.anyio


def test_connector_mappers_come_before_the_standard_ones() -> None:
    mapper = ErrorMapper([lambda exc: "the bucket does not exist" if isinstance(exc, LookupError) else None])
    assert str(mapper.to_tool_error("t", KeyError("x"))) == "the bucket does not exist"
    assert "timed out" in str(mapper.to_tool_error("t", TimeoutError()))
    assert str(mapper.to_tool_error("t", InvalidArgument("limit", "must be positive"))) == (
        "Invalid argument 'limit': must be positive"
    )


def test_unexpected_exceptions_get_an_incident_id_and_nothing_else(caplog: pytest.LogCaptureFixture) -> None:
    error = ErrorMapper().to_tool_error("t", RuntimeError("internal detail /srv/secret/path"))
    assert isinstance(error, ToolError)
    assert "internal detail" not in str(error)
    incident = str(error).split("incident ")[1].split(")")[0]
    assert incident in caplog.text  # the operator can find the details by the id
    assert "internal detail" in caplog.text


async def test_bad_arguments_name_the_argument(era: str) -> None:
    async with connect(connector, era=era) as client:
        result = await client.call_tool("list_notes", {"limit": 1000})
    assert result.is_error
    # One sentence naming the argument and the rule: no library links, model names or tool-name prefix.
    assert result.content[0].text == "Invalid argument 'limit': must be at most 100."


async def test_every_bad_argument_is_named_with_its_rule(era: str) -> None:
    async with connect(connector, era=era) as client:
        result = await client.call_tool("list_notes", {"limit": "many", "prefix": 7})
        missing = await client.call_tool("get_note", {})
    assert result.is_error and missing.is_error
    assert result.content[0].text == (
        "Invalid argument 'prefix': must be a string. Invalid argument 'limit': must be an integer."
    )
    assert missing.content[0].text == "Invalid argument 'key': is required."


async def test_protocol_misuse_stays_a_json_rpc_error(era: str) -> None:
    async with connect(connector, era=era) as client:
        with pytest.raises(MCPError) as caught:
            await client.read_resource("nowhere://at/all")
    assert caught.value.error.code == -32602
