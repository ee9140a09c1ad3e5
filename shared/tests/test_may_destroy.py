"""A write tool that can replace data carries destructiveHint, and stays a write tool otherwise."""

import pytest
from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict

from patchbay import Connector, ConnectorSettings
from patchbay.testing import connect

pytestmark = pytest.mark.anyio


class UploadSettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="PATCHBAY_UPLOAD_")


class Stored(BaseModel):
    name: str


uploads: Connector[UploadSettings, None] = Connector("upload", title="Upload", version="0", settings=UploadSettings)


@uploads.tool("write", may_destroy=True)
async def upload(name: str) -> Stored:
    """Store a file, replacing one of the same name."""
    return Stored(name=name)


@uploads.tool("write")
async def append(name: str) -> Stored:
    """Add to a file."""
    return Stored(name=name)


async def test_may_destroy_sets_the_destructive_hint_only(era: str) -> None:
    async with connect(uploads, {"allow_writes": True}, era=era) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        result = await client.call_tool("upload", {"name": "a"})
    async with connect(uploads, era=era) as client:
        read_only = [tool.name for tool in (await client.list_tools()).tools]
    assert tools["upload"].annotations.destructive_hint is True
    assert tools["append"].annotations.destructive_hint is False
    assert tools["upload"].annotations.read_only_hint is False
    assert result.structured_content == {"name": "a"}  # no confirmation demanded: still a write tool
    assert read_only == []  # and absent in read-only mode
