"""Structured content always matches the tool's output schema (`toolcall.check_output`).

The SDK's own check of every result is off for tools that declare a model; the base
checks what is not the dump of an instance of that model: another model, a tool's own
`CallToolResult`, a destructive tool's `Confirmed` result. A mismatch is an error
result with an incident id, never content that breaks the schema the client holds.
"""

import re

import mcp_types as types
import pytest
from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict

from patchbay import Connector, ConnectorSettings
from patchbay.testing import connect

pytestmark = pytest.mark.anyio


class CheckSettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="PATCHBAY_OUTCHECK_")


class Echoed(BaseModel):
    text: str


class Other(BaseModel):
    other: int


checked: Connector[CheckSettings, None] = Connector(
    "outcheck", title="Output check", version="0", settings=CheckSettings, open_world=False
)


@checked.tool("read")
async def right() -> Echoed:
    """Its own model."""
    return Echoed(text="hi")


@checked.tool("read")
def right_in_a_thread() -> Echoed:
    """Its own model, from a worker thread."""
    return Echoed(text="hi")


@checked.tool("read")
async def wrong_model() -> Echoed:
    """Another model than it declares."""
    return Other(other=1)  # type: ignore[return-value]


@checked.tool("read")
async def own_result() -> Echoed:
    """Its own result, whose structured content breaks the schema."""
    return types.CallToolResult(  # type: ignore[return-value]
        content=[types.TextContent(type="text", text="5")], structured_content={"text": 5}
    )


@checked.tool("read")
async def own_good_result() -> Echoed:
    """Its own result, matching the schema."""
    return types.CallToolResult(  # type: ignore[return-value]
        content=[types.TextContent(type="text", text="ok")], structured_content={"text": "ok"}
    )


@checked.tool("destructive", confirm=lambda: "Wipe?")
async def wipe() -> Echoed:
    """A destructive tool returning another model."""
    return Other(other=2)  # type: ignore[return-value]


INCIDENT = re.compile(r"^Internal error \(incident [0-9a-f]+\)")


@pytest.mark.parametrize("tool", ["right", "right_in_a_thread", "own_good_result"])
async def test_content_that_matches_the_schema_is_sent(era: str, tool: str) -> None:
    async with connect(checked, era=era) as client:
        result = await client.call_tool(tool, {})
    assert not result.is_error
    assert result.structured_content in ({"text": "hi"}, {"text": "ok"})


@pytest.mark.parametrize("tool", ["wrong_model", "own_result"])
async def test_content_that_breaks_the_schema_is_an_error_not_an_answer(era: str, tool: str) -> None:
    async with connect(checked, era=era) as client:
        result = await client.call_tool(tool, {})
    assert result.is_error
    assert result.structured_content is None
    assert INCIDENT.match(result.content[0].text), result.content[0].text


async def test_a_confirmed_result_is_checked_too(era: str) -> None:
    async with connect(checked, {"confirm": "never", "allow_writes": True}, era=era) as client:
        result = await client.call_tool("wipe", {})
    assert result.is_error
    assert result.structured_content is None
    assert INCIDENT.match(result.content[0].text), result.content[0].text
