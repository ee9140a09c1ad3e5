"""The example connector's use of the base's hooks: error mappers, preflight, binary content,
dynamic resource listing, subscription hooks and client notifications."""

import base64
import io
import zipfile

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from patchbay import SettingsError
from patchbay.example.server import connector
from patchbay.testing import connect, runtime_of_server

pytestmark = pytest.mark.anyio


async def test_binary_content_is_an_embedded_blob(era: str) -> None:
    async with connect(connector, era=era) as client:
        result = await client.call_tool("export_notes", {"prefix": "note-0000"})
    (content,) = result.content
    assert isinstance(content, types.EmbeddedResource)
    assert isinstance(content.resource, types.BlobResourceContents)
    assert content.resource.mime_type == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(content.resource.blob)))
    assert sorted(archive.namelist()) == ["note-00000.txt", "note-00001.txt", "note-00002.txt"]
    assert archive.read("note-00001.txt") == b"Seed note number 1."


async def test_connector_error_mappers_turn_its_exceptions_into_advice(era: str) -> None:
    async with connect(connector, {"allow_writes": True, "max_notes": 3}, era=era) as client:
        full = await client.call_tool("put_note", {"key": "one-too-many", "text": "x"})
        replaced = await client.call_tool("put_note", {"key": "note-00000", "text": "still fits"})
    assert full.is_error
    assert full.content[0].text == (
        "The notebook is full (3 notes); delete notes first, or raise PATCHBAY_EXAMPLE_MAX_NOTES."
    )
    assert not replaced.is_error


async def test_preflight_refuses_settings_that_cannot_work() -> None:
    settings = connector.load_settings({"seed_notes": 10, "max_notes": 5})
    assert connector.preflight is not None
    with pytest.raises(SettingsError, match=r"SEED_NOTES \(10\) is more than PATCHBAY_EXAMPLE_MAX_NOTES \(5\)"):
        await connector.preflight(settings)


async def test_resources_list_pages_through_every_note(era: str) -> None:
    async with connect(connector, {"seed_notes": 250}, era=era) as client:
        uris: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = await client.list_resources(cursor=cursor)
            uris += [str(r.uri) for r in page.resources]
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
    assert pages == 3
    assert uris == [f"note://note-{i:05d}" for i in range(250)]


async def test_subscription_hooks_see_first_and_last_subscriber() -> None:
    server = connector.build(connector.load_settings({}))
    runtime = runtime_of_server(server)
    async with Client(server, mode="legacy") as client:
        await client.subscribe_resource("note://note-00001")
        assert runtime.state.watched == {"note://note-00001"}
        with pytest.raises(MCPError) as refused:
            await client.subscribe_resource("file:///etc/passwd")
        await client.unsubscribe_resource("note://note-00001")
        assert runtime.state.watched == set()
    assert refused.value.error.code == types.INVALID_PARAMS
    assert refused.value.error.message == "This connector has no file:// resources to subscribe to."


async def test_client_notifications_reach_the_connector_hook() -> None:
    server = connector.build(connector.load_settings({}))
    runtime = runtime_of_server(server)

    async def roots(_: object) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[])

    async with Client(server, mode="legacy", list_roots_callback=roots) as client:
        await client.send_roots_list_changed()
        with anyio.fail_after(5):
            while runtime.state.roots_changes == 0:  # noqa: ASYNC110 - a counter of the connector, not an event
                await anyio.sleep(0.01)
    assert runtime.state.roots_changes == 1
