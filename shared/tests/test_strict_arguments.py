"""A connector with `strict_arguments` refuses argument names its tools do not take, in both eras."""

from typing import Annotated

import pytest
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from patchbay import Connector, ConnectorSettings
from patchbay.testing import connect

pytestmark = pytest.mark.anyio


class StrictSettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="PATCHBAY_STRICT_")


class Ran(BaseModel):
    name: str


calls: list[str] = []
strict: Connector[StrictSettings, None] = Connector(
    "strict", title="Strict", version="0", settings=StrictSettings, strict_arguments=True
)
loose: Connector[StrictSettings, None] = Connector("strict", title="Loose", version="0", settings=StrictSettings)


@strict.tool("read")
@loose.tool("read")
async def greet(name: Annotated[str, Field(max_length=20)], loud: bool = False) -> Ran:
    """Greet someone."""
    calls.append(name)
    return Ran(name=name)


async def test_input_schema_is_closed(era: str) -> None:
    async with connect(strict, era=era) as client:
        (tool,) = (await client.list_tools()).tools
    assert tool.input_schema["additionalProperties"] is False
    assert set(tool.input_schema["properties"]) == {"name", "loud"}


async def test_unknown_argument_is_refused_and_the_tool_does_not_run(era: str) -> None:
    calls.clear()
    async with connect(strict, era=era) as client:
        refused = await client.call_tool("greet", {"name": "ada", "ACL": "public-read"})
        accepted = await client.call_tool("greet", {"name": "ada", "loud": True})
    assert refused.is_error
    assert refused.content[0].text == (
        "Invalid argument 'ACL': is not an argument of this tool (it takes: name, loud); nothing was done"
    )
    assert not accepted.is_error
    assert calls == ["ada"]  # only the call without the unknown name ran


async def test_without_strict_arguments_the_sdk_drops_unknown_names(era: str) -> None:
    calls.clear()
    async with connect(loose, era=era) as client:
        (tool,) = (await client.list_tools()).tools
        result = await client.call_tool("greet", {"name": "ada", "ACL": "public-read"})
    assert "additionalProperties" not in tool.input_schema
    assert not result.is_error and calls == ["ada"]
