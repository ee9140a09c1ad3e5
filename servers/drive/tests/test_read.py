"""The read tools against the fake Drive, in both protocol eras, through the real Google client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from drive_world import settings
from fake_drive import FakeDrive
from patchbay.testing import connect
from patchbay_drive.server import connector

pytestmark = pytest.mark.anyio


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if hasattr(block, "text"))


@pytest.fixture
async def client(drive: FakeDrive, token: Path, era: str) -> AsyncIterator[Client]:
    async with connect(connector, settings(drive, token, shared_drives="D"), era=era) as client:
        yield client


async def test_search_finds_files_in_scope_and_withholds_the_rest(client: Client, drive: FakeDrive) -> None:
    result = await client.call_tool("search_files", {"name_contains": ".txt"})
    assert not result.is_error, text(result)
    data = result.structured_content
    assert data is not None
    assert sorted(f["id"] for f in data["items"]) == ["deep", "notes", "team"]
    assert data["withheld"] == "3 files outside the allowed folders and drives were withheld."
    sent = drive.requests("GET", "/drive/v3/files")[0]
    assert sent.arg("q") == "name contains '.txt' and trashed = false"
    assert sent.arg("supportsAllDrives") == "true"
    assert sent.arg("includeItemsFromAllDrives") == "true"
