"""Scope on every tool: files outside the folders and drives are refused by direct id, through a
shortcut, through a moved parent, and withheld from searches; an empty scope admits nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from drive_world import settings
from fake_drive import FakeDrive
from patchbay.testing import Answer, connect
from patchbay_drive.server import connector

pytestmark = pytest.mark.anyio

DENIED = "Access denied: {0!r} is outside the allowed folders and drives"


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if hasattr(block, "text"))


@pytest.fixture
async def client(drive: FakeDrive, token: Path, era: str) -> AsyncIterator[Client]:
    options = settings(drive, token, shared_drives="D", allow_writes=True, allow_sharing=True, confirm="never")
    async with connect(connector, options, era=era, elicit=Answer()) as client:
        yield client


def by_id(file_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every tool that names a file, called on `file_id`."""
    return [
        ("get_file_metadata", {"file_id": file_id}),
        ("read_file", {"file_id": file_id}),
        ("list_revisions", {"file_id": file_id}),
        ("list_permissions", {"file_id": file_id}),
        ("list_comments", {"file_id": file_id}),
        ("update_file", {"file_id": file_id, "name": "pwned"}),
        ("copy_file", {"file_id": file_id, "folder_id": "A"}),
        ("move_file", {"file_id": file_id, "folder_id": "A"}),
        ("add_comment", {"file_id": file_id, "content": "hi"}),
        ("trash_file", {"file_id": file_id}),
        ("share_file", {"file_id": file_id, "grantee": "user", "role": "reader", "email": "bo@example.com"}),
        ("remove_permission", {"file_id": file_id, "permission_id": "p-owner"}),
    ]


def writes(drive: FakeDrive) -> list[str]:
    return [f"{r.method} {r.path}" for r in drive.journal if r.method != "GET"]


@pytest.mark.parametrize("target", ["secret", "other", "inplans"])  # in a folder, a shared drive, a subfolder outside
@pytest.mark.parametrize(("tool", "arguments"), by_id("X"), ids=[t for t, _ in by_id("X")])
async def test_every_tool_refuses_a_file_outside_by_direct_id(
    client: Client, drive: FakeDrive, target: str, tool: str, arguments: dict[str, Any]
) -> None:
    before = {k: dict(v) for k, v in drive.files.items()}
    result = await client.call_tool(tool, {k: (target if v == "X" else v) for k, v in arguments.items()})
    assert result.is_error
    assert text(result).startswith(DENIED.format(target))
    assert writes(drive) == []
    assert drive.files == before
    assert drive.permissions[target][1:] == [] if target in drive.permissions else True


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("list_folder", {"folder_id": "B"}),
        ("list_folder", {"folder_id": "E"}),
        ("create_folder", {"parent_id": "B", "name": "x"}),
        ("create_file", {"parent_id": "B", "name": "x", "text": "x"}),
        ("copy_file", {"file_id": "notes", "folder_id": "B"}),
        ("move_file", {"file_id": "notes", "folder_id": "B"}),
    ],
)
async def test_folders_outside_are_refused_as_targets(
    client: Client, drive: FakeDrive, tool: str, arguments: dict[str, Any]
) -> None:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    assert text(result).startswith("Access denied: ")
    assert writes(drive) == []


async def test_a_shortcut_in_scope_to_a_file_outside_reads_nothing(client: Client, drive: FakeDrive) -> None:
    result = await client.call_tool("read_file", {"file_id": "link"})
    assert result.is_error
    assert text(result).startswith(DENIED.format("secret"))
    assert not [r for r in drive.journal if r.arg("alt") == "media"]
    copied = await client.call_tool("copy_file", {"file_id": "link", "folder_id": "A"})
    assert copied.is_error
    assert writes(drive) == []


async def test_a_parent_moved_out_of_scope_takes_its_files_with_it(drive: FakeDrive, token: Path) -> None:
    async with connect(connector, settings(drive, token, scope_cache_seconds=0)) as client:
        assert not (await client.call_tool("read_file", {"file_id": "deep"})).is_error
        drive.files["sub"]["parents"] = ["B"]  # moved by someone else, in Drive itself
        result = await client.call_tool("read_file", {"file_id": "deep"})
        assert result.is_error
        assert text(result).startswith(DENIED.format("deep"))
        search = await client.call_tool("search_files", {"name_contains": "deep"})
        assert search.structured_content is not None
        assert search.structured_content["items"] == []
        assert search.structured_content["withheld"] == "1 file outside the allowed folders and drives was withheld."


async def test_a_parent_moved_into_scope_brings_its_files(drive: FakeDrive, token: Path) -> None:
    async with connect(connector, settings(drive, token, scope_cache_seconds=0)) as client:
        assert (await client.call_tool("read_file", {"file_id": "inplans"})).is_error
        drive.files["plans"]["parents"] = ["A"]
        assert not (await client.call_tool("read_file", {"file_id": "inplans"})).is_error


async def test_our_own_move_out_of_scope_is_seen_at_once_despite_the_cache(client: Client, drive: FakeDrive) -> None:
    assert not (await client.call_tool("read_file", {"file_id": "deep"})).is_error
    # sub is moved within scope by the connector, then out by someone else: the connector forgot it on its move
    moved = await client.call_tool("move_file", {"file_id": "sub", "folder_id": "A"})
    assert not moved.is_error, text(moved)
    drive.files["sub"]["parents"] = ["B"]
    assert (await client.call_tool("read_file", {"file_id": "deep"})).is_error


async def test_the_scope_cache_asks_about_each_folder_once(client: Client, drive: FakeDrive) -> None:
    for n in range(20):
        drive.add(f"many-{n}.txt", "sub", content="x")
    result = await client.call_tool("search_files", {"name_contains": "many-"})
    assert result.structured_content is not None
    assert len(result.structured_content["items"]) == 20
    lookups = [r for r in drive.requests("GET", "/drive/v3/files/{fileId}") if r.params["fileId"] == "sub"]
    assert len(lookups) == 1


async def test_an_empty_scope_admits_nothing(drive: FakeDrive, token: Path) -> None:
    async with connect(connector, {**settings(drive, token), "folders": ""}) as client:
        result = await client.call_tool("read_file", {"file_id": "notes"})
        assert result.is_error
        assert "none are allowed: set PATCHBAY_DRIVE_FOLDERS or PATCHBAY_DRIVE_SHARED_DRIVES" in text(result)
        assert "--all-files" in text(result)
        assert drive.journal == []  # refused before asking Drive anything
        search = await client.call_tool("search_files", {"name_contains": "notes"})
        assert search.structured_content is not None
        assert search.structured_content["items"] == []


async def test_all_files_opts_out(drive: FakeDrive, token: Path) -> None:
    async with connect(connector, {**settings(drive, token), "folders": "", "all_files": True}) as client:
        assert not (await client.call_tool("read_file", {"file_id": "secret"})).is_error
        assert not (await client.call_tool("read_file", {"file_id": "other"})).is_error


@pytest.mark.parametrize("bad", ["../A", "A/../B", "A\u200b", "%2541", "A B"])
async def test_malformed_ids_are_refused_before_any_request(client: Client, drive: FakeDrive, bad: str) -> None:
    result = await client.call_tool("get_file_metadata", {"file_id": bad})
    assert result.is_error
    assert not [r for r in drive.journal if r.path.startswith("/drive/v3/files/")]


async def test_a_file_with_one_parent_in_scope_is_in_scope(client: Client, drive: FakeDrive) -> None:
    drive.files["secret"]["parents"] = ["B", "sub"]
    assert not (await client.call_tool("read_file", {"file_id": "secret"})).is_error


async def test_a_shortcut_to_a_file_in_scope_reads_the_target(client: Client, drive: FakeDrive) -> None:
    drive.add("link to deep", "A", shortcut_to="deep", file_id="good-link")
    result = await client.call_tool("read_file", {"file_id": "good-link"})
    assert result.content[0].text == "deep inside\n"  # type: ignore[union-attr]


async def test_writes_into_a_shared_drive_in_scope_say_supports_all_drives(client: Client, drive: FakeDrive) -> None:
    made = await client.call_tool("create_file", {"parent_id": "D", "name": "n.txt", "text": "x"})
    assert made.structured_content is not None, text(made)
    assert made.structured_content["drive_id"] == "D"
    assert all(r.arg("supportsAllDrives") == "true" for r in drive.requests("POST", "/upload/drive/v3/files"))


def test_the_walk_stops_on_a_cycle_and_at_the_depth_limit() -> None:
    from patchbay.scope import DriveAllowlist
    from patchbay_drive.reach import MAX_DEPTH, Reach

    asked: list[str] = []
    cycle = {"x": ["y"], "y": ["x"]}

    def parents(folder: str) -> tuple[list[str], str | None]:
        asked.append(folder)
        if folder in cycle:
            return cycle[folder], None
        return [f"{int(folder) + 1}"], None

    reach = Reach(DriveAllowlist(["top"]), parents)
    assert not reach.admits({"id": "f", "parents": ["x"]})
    assert asked == ["x", "y"]
    asked.clear()
    assert not reach.admits({"id": "f", "parents": ["0"]})
    assert len(asked) == MAX_DEPTH


def test_the_cache_is_bounded() -> None:
    from patchbay.scope import DriveAllowlist
    from patchbay_drive.reach import Reach

    reach = Reach(DriveAllowlist(["top"]), lambda folder: ([], None), max_entries=3)
    for n in range(10):
        reach.admits({"id": "f", "parents": [f"p{n}"]})
    assert reach.lookups == 10
    assert len(reach._cache) == 3
