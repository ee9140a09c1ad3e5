"""The Drive connector driven by the MCP Inspector CLI and the TypeScript SDK client, pointed at the
in-repo fake Drive (servers/drive/tests/fake_drive.py) over stdio, stateless and stateful HTTP."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_clients import Clients, Servers, Target, console_script, serve, text_of

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "servers" / "drive" / "tests"))

from drive_world import populate, token_file
from fake_drive import FakeDrive, FakeGoogleAuth

pytestmark = pytest.mark.integration

READ = {
    "search_files", "list_folder", "list_shared_drives", "get_file_metadata", "read_file", "list_revisions",
    "list_permissions", "list_comments",
}  # fmt: skip
TOOLS = READ | {
    "create_folder", "create_file", "update_file", "copy_file", "move_file", "add_comment", "trash_file",
    "share_file", "remove_permission",
}  # fmt: skip


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeDrive, Path]]:
    with FakeDrive() as drive, FakeGoogleAuth(drive) as auth:
        populate(drive)
        yield drive, token_file(tmp_path_factory.mktemp("drive-interop"), auth)


@pytest.fixture(scope="module")
def servers(fakes: tuple[FakeDrive, Path]) -> Iterator[Servers]:
    drive, token = fakes
    env = {"PATCHBAY_DRIVE_API_URL": drive.url, "PATCHBAY_DRIVE_TOKEN_FILE": str(token)}
    yield from serve([console_script("patchbay-drive"), "--folders", "A", "--allow-writes"], env)


def test_inspector_lists_and_calls_with_a_clean_strict_schema_check(clients: Clients, target: Target) -> None:
    entry = target.inspector_entry()
    listed = clients.inspector(entry, "--method", "tools/list", "--strict")
    assert listed.code == 0, listed.stderr
    assert {tool["name"] for tool in listed.result["tools"]} == TOOLS
    assert "schemaFindings" not in listed.answer, listed.answer.get("schemaFindings")
    found = clients.inspector(entry, "--method", "tools/call", "--tool-name", "search_files", "--tool-arg",
                              "name_contains=x' or name contains '")  # fmt: skip
    assert found.code == 0, found.stderr
    assert found.result["structuredContent"]["items"] == []
    templates = clients.inspector(entry, "--method", "resources/templates/list")
    assert [t["uriTemplate"] for t in templates.result["resourceTemplates"]] == ["gdrive:///{file_id}"]
    resource = clients.inspector(entry, "--method", "resources/read", "--uri", "gdrive:///notes")
    assert resource.result["contents"][0]["text"] == "Quarterly notes: revenue up.\n"
    outside = clients.inspector(entry, "--method", "tools/call", "--tool-name", "read_file", "--tool-arg",
                                "file_id=secret")  # fmt: skip
    assert outside.code == 5
    assert "Access denied: 'secret'" in text_of(outside.result)


def test_typescript_client_lists_reads_and_confirms(
    clients: Clients, target: Target, fakes: tuple[FakeDrive, Path]
) -> None:
    drive, _ = fakes
    doomed = drive.add(f"doomed-{target.transport}.txt", "A", content="bye")["id"]
    report = clients.typescript(
        {
            "server": target.ts_server(),
            "elicit": ["decline", "accept"],
            "steps": [
                {"op": "listTools"},
                {"op": "callTool", "name": "list_folder", "arguments": {"folder_id": "sub"}},
                {"op": "callTool", "name": "read_file", "arguments": {"file_id": "report"}},
                {"op": "readResource", "uri": "gdrive:///deep"},
                {"op": "callTool", "name": "trash_file", "arguments": {"file_id": doomed}},
                {"op": "callTool", "name": "trash_file", "arguments": {"file_id": doomed}},
            ],
        }
    )
    tools, listing, document, resource, first, second = (step.get("result") for step in report["steps"])
    assert report["server"]["name"] == "patchbay-drive"
    assert {tool["name"] for tool in tools["tools"]} == TOOLS
    assert [f["id"] for f in listing["structuredContent"]["items"]] == ["deep"]
    assert "# Report" in text_of(document)
    assert resource["contents"][0]["text"] == "deep inside\n"
    if target.stateless:
        assert first["isError"] and "--stateful" in text_of(first), first
        assert drive.files[doomed]["trashed"] is False
        return
    assert first["structuredContent"]["outcome"] == "declined", first
    assert second["structuredContent"]["outcome"] == "done", second
    assert drive.files[doomed]["trashed"] is True
