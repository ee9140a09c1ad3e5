"""Platforms without Linux's primitives: each fallback forced on Linux, and the import without them.

macOS lacks renameat2 and file-to-file sendfile; Windows lacks O_NOFOLLOW, O_DIRECTORY
and descriptor-relative calls as well, and its shutil.rmtree is not symlink-attack safe.
These tests switch each capability off in `capabilities.CURRENT` (the record the
connector consults at every use) and check the fallback: it keeps the scope rule, and
where it refuses, the error names what the platform is missing. They run on Linux only;
nothing here runs on macOS or Windows.
"""

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from patchbay.testing import Answer, connect
from patchbay_filesystem import capabilities
from patchbay_filesystem.server import connector

pytestmark = pytest.mark.anyio

CURRENT = capabilities.CURRENT


def writes(tree: Path) -> dict[str, Any]:
    return {"roots": [str(tree)], "allow_writes": True}


async def run(tree: Path, era: str, tool: str, args: dict[str, Any]) -> Any:
    async with connect(connector, writes(tree), era=era, elicit=Answer("accept")) as client:
        return await client.call_tool(tool, args)


def snapshot(root: Path) -> dict[str, tuple[str, bytes | str | None]]:
    """Every entry below `root` (and the one outside it): kind and content or link target."""
    seen: dict[str, tuple[str, bytes | str | None]] = {}
    for path in sorted(root.parent.rglob("*")):
        key = str(path.relative_to(root.parent))
        if path.is_symlink():
            seen[key] = ("link", os.readlink(path))
        elif path.is_dir():
            seen[key] = ("dir", None)
        else:
            seen[key] = ("file", path.read_bytes())
    return seen


# No renameat2 (macOS, Windows, glibc before 2.28) -------------------------------------


async def test_without_renameat2_files_and_links_move_and_never_overwrite(
    tree: Path, era: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CURRENT, "renameat2", None)
    moved = await run(tree, era, "move_file", {"source": "src/main.py", "destination": "docs/main.py"})
    assert moved.structured_content == {"source": str(tree / "src/main.py"), "destination": str(tree / "docs/main.py")}
    assert (tree / "docs/main.py").read_text().startswith("import os")
    assert not (tree / "src/main.py").exists()

    # A link moves as the link itself, its target untouched.
    relinked = await run(tree, era, "move_file", {"source": "main-link.py", "destination": "moved-link.py"})
    assert not relinked.is_error
    assert os.readlink(tree / "moved-link.py") == "src/main.py"
    assert not os.path.lexists(tree / "main-link.py")

    before = snapshot(tree)
    clash = await run(tree, era, "move_file", {"source": "docs/main.py", "destination": "README.md"})
    assert clash.is_error
    assert "already exists; move_file never overwrites" in clash.content[0].text
    assert snapshot(tree) == before


async def test_without_renameat2_directories_move_onto_a_placeholder_and_never_overwrite(
    tree: Path, era: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CURRENT, "renameat2", None)
    moved = await run(tree, era, "move_file", {"source": "docs", "destination": "documentation"})
    assert moved.structured_content == {"source": str(tree / "docs"), "destination": str(tree / "documentation")}
    assert (tree / "documentation/guide.txt").exists()
    assert not (tree / "docs").exists()

    (tree / "empty").mkdir()  # a plain rename(2) would silently replace an empty directory
    (tree / "elsewhere").symlink_to("src")  # and never follows a link at the destination
    before = snapshot(tree)
    for taken in ("empty", "src", "README.md", "elsewhere"):
        clash = await run(tree, era, "move_file", {"source": "documentation", "destination": taken})
        assert clash.is_error
        assert "already exists; move_file never overwrites" in clash.content[0].text
    into_itself = await run(tree, era, "move_file", {"source": "src", "destination": "src/pkg/src"})
    assert "Cannot move 'src' into itself" in into_itself.content[0].text
    assert snapshot(tree) == before  # no placeholder left behind either


async def test_without_renameat2_or_a_descriptor_relative_link_a_file_move_is_refused(
    tree: Path, era: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CURRENT, "renameat2", None)
    monkeypatch.setattr(CURRENT, "link_dir_fd", False)
    result = await run(tree, era, "move_file", {"source": "README.md", "destination": "README.txt"})
    assert result.is_error
    assert "neither renameat2(RENAME_NOREPLACE) nor a descriptor-relative os.link" in result.content[0].text
    directory = await run(tree, era, "move_file", {"source": "docs", "destination": "documentation"})
    assert not directory.is_error  # needs no link
    assert (tree / "README.md").exists()


async def test_without_renameat2_a_source_replaced_mid_move_is_kept(
    tree: Path, era: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between link and unlink the old name is swapped: the newcomer is not deleted."""
    monkeypatch.setattr(CURRENT, "renameat2", None)
    real_link = os.link

    def link_then_swap(src: str, dst: str, **kwargs: Any) -> None:
        real_link(src, dst, **kwargs)
        os.unlink(tree / "README.md")
        (tree / "README.md").write_text("a newcomer")

    monkeypatch.setattr(os, "link", link_then_swap)
    result = await run(tree, era, "move_file", {"source": "README.md", "destination": "README.old"})
    assert result.is_error
    assert "changed while being moved" in result.content[0].text
    assert (tree / "README.md").read_text() == "a newcomer"
    assert (tree / "README.old").read_text().startswith("# Project")


# No file-to-file sendfile (macOS, Windows) --------------------------------------------


async def test_without_sendfile_copy_uses_a_read_write_loop(
    tree: Path, era: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_sendfile(*args: Any) -> int:
        raise AssertionError("sendfile used although switched off")

    monkeypatch.setattr(CURRENT, "file_sendfile", False)
    monkeypatch.setattr(os, "sendfile", no_sendfile)
    data = os.urandom(3 * 1024 * 1024 + 17)  # several chunks and a partial one
    (tree / "big.bin").write_bytes(data)
    os.chmod(tree / "big.bin", 0o640)
    copied = await run(tree, era, "copy_file", {"source": "big.bin", "destination": "docs/big.copy"})
    assert copied.structured_content is not None
    assert copied.structured_content["bytes"] == len(data)
    assert (tree / "docs/big.copy").read_bytes() == data
    assert os.stat(tree / "docs/big.copy").st_mode & 0o777 == 0o640
    clash = await run(tree, era, "copy_file", {"source": "big.bin", "destination": "README.md"})
    assert "already exists; copy_file never overwrites" in clash.content[0].text


# No O_NOFOLLOW / O_DIRECTORY / dir_fd (Windows) ---------------------------------------

PATH_CALLS = [
    ("read_text_file", {"path": "README.md"}),
    ("read_media_file", {"path": "pixel.png"}),
    ("read_multiple_files", {"paths": ["README.md"]}),
    ("list_directory", {"path": "."}),
    ("directory_tree", {"path": "."}),
    ("search_files", {"path": ".", "pattern": "*.py"}),
    ("search_file_contents", {"path": ".", "query": "TODO"}),
    ("get_file_info", {"path": "README.md"}),
    ("write_file", {"path": "new.txt", "content": "x"}),
    ("edit_file", {"path": "README.md", "edits": [{"old_text": "Intro", "new_text": "Outro"}]}),
    ("create_directory", {"path": "made/here"}),
    ("copy_file", {"source": "README.md", "destination": "copy.md"}),
    ("move_file", {"source": "README.md", "destination": "moved.md"}),
    ("delete_file", {"path": "README.md"}),
    ("delete_directory", {"path": "docs", "recursive": True}),
]
MISSING = {
    "nofollow": ("os.O_NOFOLLOW", False),
    "directory": ("os.O_DIRECTORY", False),
    "dir_fd_missing": ("os.open(dir_fd=)", ["os.open(dir_fd=)", "os.scandir(fd)"]),
}


@pytest.mark.parametrize("missing", sorted(MISSING))
async def test_without_race_free_opens_every_path_is_refused_naming_what_is_missing(
    tree: Path, era: str, missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    named, value = MISSING[missing]
    monkeypatch.setattr(CURRENT, missing, value)
    before = snapshot(tree)
    async with connect(connector, writes(tree), era=era, elicit=Answer("accept")) as client:
        allowed = await client.call_tool("list_allowed_directories", {})
        assert not allowed.is_error  # the server still serves
        for tool, args in PATH_CALLS:
            result = await client.call_tool(tool, args)
            text = json.dumps(result.model_dump(mode="json"))
            assert "refuses every file operation here rather than risk an escape" in text, tool
            assert named in text, tool
            assert "Project" not in text, tool  # no content got through
    assert snapshot(tree) == before


# No fd-based rmtree (Windows) ---------------------------------------------------------


async def test_without_a_safe_rmtree_a_recursive_delete_is_refused(
    tree: Path, era: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CURRENT, "fd_rmtree", False)
    before = snapshot(tree)
    result = await run(tree, era, "delete_directory", {"path": "src", "recursive": True})
    assert result.is_error
    assert "rmtree.avoids_symlink_attacks is false" in result.content[0].text
    assert "Nothing was deleted" in result.content[0].text
    assert snapshot(tree) == before
    (tree / "empty").mkdir()  # an empty directory needs no rmtree
    emptied = await run(tree, era, "delete_directory", {"path": "empty"})
    assert not emptied.is_error
    assert not (tree / "empty").exists()


# Start-up notes -----------------------------------------------------------------------


async def test_start_up_names_each_missing_primitive(
    tree: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with connect(connector, writes(tree)) as client:
        await client.list_tools()
    assert not [r for r in caplog.records if r.name == "patchbay.filesystem"]  # Linux lacks nothing

    for name, value in [
        ("nofollow", False),
        ("dir_fd_missing", ["os.open(dir_fd=)"]),
        ("renameat2", None),
        ("file_sendfile", False),
        ("fd_rmtree", False),
    ]:
        monkeypatch.setattr(CURRENT, name, value)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="patchbay.filesystem"):
        async with connect(connector, writes(tree)) as client:
            await client.list_tools()
    notes = "\n".join(r.getMessage() for r in caplog.records if r.name == "patchbay.filesystem")
    assert "lacks os.O_NOFOLLOW, os.open(dir_fd=)" in notes
    assert "renameat2(RENAME_NOREPLACE) is not available" in notes
    assert "files and links by link + unlink" in notes
    assert "copy_file uses a read/write loop" in notes
    assert "delete_directory refuses recursive deletes" in notes


# Importing and serving without the primitives -----------------------------------------

STRIPPED = textwrap.dedent(
    """
    import ctypes, ctypes.util, json, os, shutil, sys

    # Windows-like: none of these exist; the libc has no renameat2 (or cannot be loaded at all).
    for name in ("O_NOFOLLOW", "O_DIRECTORY", "O_CLOEXEC", "O_NONBLOCK", "sendfile"):
        if hasattr(os, name):
            delattr(os, name)
    os.supports_dir_fd = set()
    os.supports_fd = set()
    os.supports_follow_symlinks = set()
    shutil.rmtree.avoids_symlink_attacks = False
    ctypes.util.find_library = lambda name: None
    def no_library(*args, **kwargs):
        raise OSError("no libc here")
    ctypes.CDLL = no_library

    import anyio
    import patchbay_filesystem.server
    from patchbay_filesystem import capabilities
    from patchbay.testing import connect

    async def serve():
        async with connect(patchbay_filesystem.server.connector, {"roots": [sys.argv[1]]}) as client:
            allowed = await client.call_tool("list_allowed_directories", {})
            read = await client.call_tool("read_text_file", {"path": "README.md"})
        return {
            "allowed": allowed.structured_content,
            "read_error": read.is_error,
            "read": read.content[0].text,
            "notes": capabilities.CURRENT.notes(),
        }

    print(json.dumps(anyio.run(serve)))
    """
)


def test_imports_and_serves_without_the_linux_primitives(tree: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", STRIPPED, str(tree)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert str(tree) in json.dumps(out["allowed"])
    assert out["read_error"] is True
    assert "refuses every file operation here" in out["read"]
    assert "os.O_NOFOLLOW, os.O_DIRECTORY, os.open(dir_fd=)" in out["read"]
    notes = "\n".join(out["notes"])
    assert "renameat2(RENAME_NOREPLACE) is not available" in notes
    assert "files and links not at all (no os.link)" in notes
    assert "copy_file uses a read/write loop" in notes
    assert "delete_directory refuses recursive deletes" in notes
