"""Write tools, confirmation of destructive ones, and the sharing gates, against the fake Drive."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from drive_world import settings
from fake_drive import FakeDrive
from patchbay.testing import Answer, connect
from patchbay_drive.server import connector

pytestmark = pytest.mark.anyio
SHARE = {"file_id": "notes", "grantee": "user", "role": "reader", "email": "bo@example.com"}


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if hasattr(block, "text"))


def writes(drive: FakeDrive) -> list[str]:
    return [f"{r.method} {r.path}" for r in drive.journal if r.method != "GET"]


def options(drive: FakeDrive, token: Path, **more: Any) -> dict[str, Any]:
    return settings(drive, token, allow_writes=True, **more)


async def test_write_tools_are_absent_without_allow_writes(drive: FakeDrive, token: Path, era: str) -> None:
    async with connect(connector, settings(drive, token), era=era) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert names == {
        "search_files",
        "list_folder",
        "list_shared_drives",
        "get_file_metadata",
        "read_file",
        "list_revisions",
        "list_permissions",
        "list_comments",
    }


async def test_create_update_copy_move_and_comment(drive: FakeDrive, token: Path, era: str) -> None:
    async with connect(connector, options(drive, token), era=era) as client:
        folder = await client.call_tool("create_folder", {"parent_id": "A", "name": "new"})
        assert folder.structured_content is not None, text(folder)
        new = folder.structured_content["id"]
        made = await client.call_tool("create_file", {"parent_id": new, "name": "a.txt", "text": "hello"})
        assert made.structured_content is not None, text(made)
        file_id = made.structured_content["id"]
        assert drive.content[file_id] == b"hello"
        assert drive.files[file_id]["parents"] == [new]
        binary = await client.call_tool(
            "create_file", {"parent_id": "A", "name": "b.bin", "content_base64": base64.b64encode(b"\x00\x01").decode()}
        )
        assert binary.structured_content is not None
        assert drive.content[binary.structured_content["id"]] == b"\x00\x01"
        doc = await client.call_tool(
            "create_file", {"parent_id": "A", "name": "d", "text": "# T", "as_google_doc": True}
        )
        assert doc.structured_content is not None
        assert doc.structured_content["mime_type"] == "application/vnd.google-apps.document"
        updated = await client.call_tool("update_file", {"file_id": file_id, "text": "bye", "name": "b.txt"})
        assert updated.structured_content is not None, text(updated)
        assert (drive.content[file_id], drive.files[file_id]["name"]) == (b"bye", "b.txt")
        copied = await client.call_tool("copy_file", {"file_id": file_id, "folder_id": "sub"})
        assert copied.structured_content is not None
        assert drive.content[copied.structured_content["id"]] == b"bye"
        moved = await client.call_tool("move_file", {"file_id": file_id, "folder_id": "sub"})
        assert moved.structured_content is not None
        assert drive.files[file_id]["parents"] == ["sub"]
        comment = await client.call_tool("add_comment", {"file_id": file_id, "content": "nice"})
        assert not comment.is_error, text(comment)
        assert drive.comments[file_id][0]["content"] == "nice"
    uploads = drive.requests("POST", "/upload/drive/v3/files")
    assert {r.arg("uploadType") for r in uploads} == {"multipart"}
    flagged = [r for r in drive.journal if r.path.startswith("/drive/v3/files/") and "/comments" not in r.path]
    assert all(r.arg("supportsAllDrives") == "true" for r in flagged)


async def test_a_large_file_uploads_resumably_with_progress(drive: FakeDrive, token: Path) -> None:
    data = bytes(range(256)) * 2500  # 640000 bytes: three chunks of 256 KiB
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with connect(connector, options(drive, token, resumable_threshold_bytes=262144)) as client:
        result = await client.call_tool(
            "create_file",
            {"parent_id": "A", "name": "big.bin", "content_base64": base64.b64encode(data).decode()},
            progress_callback=on_progress,
        )
    assert result.structured_content is not None, text(result)
    assert drive.content[result.structured_content["id"]] == data
    chunks = drive.requests("PUT", "/upload/drive/v3/files")
    assert [r.status for r in chunks] == [308, 308, 200]
    assert progress[-1] == len(data)
    assert len(progress) >= 3


async def test_trash_asks_first_and_a_no_changes_nothing(drive: FakeDrive, token: Path, era: str) -> None:
    answer = Answer(action="decline")
    async with connect(connector, options(drive, token), era=era, elicit=answer) as client:
        declined = await client.call_tool("trash_file", {"file_id": "notes"})
        assert declined.structured_content is not None
        assert declined.structured_content["outcome"] == "declined"
    assert answer.questions[0].startswith("Move the file 'notes.txt' (notes) to the trash?")
    assert drive.files["notes"]["trashed"] is False
    assert writes(drive) == []


async def test_trash_after_yes(drive: FakeDrive, token: Path, era: str) -> None:
    async with connect(connector, options(drive, token), era=era, elicit=Answer()) as client:
        done = await client.call_tool("trash_file", {"file_id": "sub"})
        assert done.structured_content is not None, text(done)
        assert done.structured_content["outcome"] == "done"
    assert drive.files["sub"]["trashed"] is True


async def test_a_file_changed_while_the_user_reads_the_question(drive: FakeDrive, token: Path, era: str) -> None:
    async def rename(_: str) -> None:
        drive.files["notes"]["name"] = "renamed meanwhile"

    answer = Answer(before_answer=rename)
    async with connect(connector, options(drive, token), era=era, elicit=answer) as client:
        result = await client.call_tool("trash_file", {"file_id": "notes"})
    if era == "legacy":  # the yes was for what the user saw: refused, nothing done
        assert result.is_error
        assert "changed after you confirmed" in text(result)
        assert drive.files["notes"]["trashed"] is False
    else:  # the retried request carries the answer: the changed file is asked about again
        assert [q.split(" (ref")[0] for q in answer.questions] == [
            "Move the file 'notes.txt' (notes) to the trash?",
            "Move the file 'renamed meanwhile' (notes) to the trash?",
        ]
        assert drive.files["notes"]["trashed"] is True


async def test_sharing_is_refused_without_allow_sharing(drive: FakeDrive, token: Path) -> None:
    answer = Answer()
    async with connect(connector, options(drive, token), elicit=answer) as client:
        result = await client.call_tool("share_file", SHARE)
        removed = await client.call_tool("remove_permission", {"file_id": "notes", "permission_id": "p-owner"})
    assert text(result).startswith("Refused: sharing changes are off.")
    assert "--allow-sharing" in text(removed)
    assert answer.questions == []  # refused before the user is bothered
    assert writes(drive) == []
    assert len(drive.permissions["notes"]) == 1


@pytest.mark.parametrize(
    ("arguments", "refusal"),
    [
        ({"grantee": "anyone", "role": "reader"}, "Refused: sharing with anyone (a public link)"),
        ({"grantee": "user", "role": "writer", "email": "eve@evil.test"}, "Refused: 'eve@evil.test' is outside"),
        ({"grantee": "user", "role": "writer", "email": "eve@example.com.evil.test"}, "is outside the domain"),
        ({"grantee": "group", "role": "reader", "email": "all@notexample.com"}, "is outside the domain"),
        ({"grantee": "domain", "role": "reader", "domain": "evil.test"}, "Refused: 'evil.test' is outside"),
    ],
)
async def test_public_and_outside_sharing_need_their_own_opt_in(
    drive: FakeDrive, token: Path, arguments: dict[str, Any], refusal: str
) -> None:
    answer = Answer()
    async with connect(connector, options(drive, token, allow_sharing=True), elicit=answer) as client:
        result = await client.call_tool("share_file", {"file_id": "notes", **arguments})
    assert result.is_error
    assert refusal in text(result)
    assert "--allow-public-sharing" in text(result)
    assert answer.questions == []
    assert len(drive.permissions["notes"]) == 1


async def test_sharing_inside_the_domain_after_confirmation(drive: FakeDrive, token: Path, era: str) -> None:
    answer = Answer()
    async with connect(connector, options(drive, token, allow_sharing=True), era=era, elicit=answer) as client:
        result = await client.call_tool("share_file", SHARE)
        assert result.structured_content is not None, text(result)
        assert result.structured_content["outcome"] == "done"
        removed = await client.call_tool("remove_permission", {"file_id": "notes", "permission_id": "p-bo@example.com"})
        assert not removed.is_error, text(removed)
    assert answer.questions[0].startswith("Share 'notes.txt' (notes) with bo@example.com as reader?")
    assert [p["id"] for p in drive.permissions["notes"]] == ["p-owner"]
    assert drive.requests("GET", "/drive/v3/about")  # the domain came from the signed-in account


async def test_public_sharing_with_both_opt_ins(drive: FakeDrive, token: Path) -> None:
    settings_ = options(drive, token, allow_sharing=True, allow_public_sharing=True)
    async with connect(connector, settings_, elicit=Answer()) as client:
        result = await client.call_tool("share_file", {"file_id": "notes", "grantee": "anyone", "role": "reader"})
    assert result.structured_content is not None, text(result)
    assert drive.permissions["notes"][-1]["type"] == "anyone"


async def test_a_declined_share_shares_nothing(drive: FakeDrive, token: Path) -> None:
    async with connect(connector, options(drive, token, allow_sharing=True), elicit=Answer("decline")) as client:
        result = await client.call_tool("share_file", SHARE)
    assert result.structured_content is not None
    assert result.structured_content["outcome"] == "declined"
    assert len(drive.permissions["notes"]) == 1
