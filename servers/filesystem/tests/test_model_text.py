"""What the model reads: each filesystem result's compact text (structuredContent keeps everything)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from patchbay.testing import connect
from patchbay_filesystem.server import connector

pytestmark = pytest.mark.anyio


async def texts(tree: Path, calls: list[tuple[str, dict[str, Any]]], **settings: Any) -> list[Any]:
    async with connect(connector, {"roots": [str(tree)], "allow_writes": True, **settings}) as client:
        results = [await client.call_tool(tool, args) for tool, args in calls]
    for result in results:
        assert not result.is_error, result.content[0].text
    return results


async def test_listings_and_searches_read_like_a_terminal(tree: Path) -> None:
    os.utime(tree / "README.md", (0, 0))
    listed, searched, grepped, tree_text, allowed = await texts(
        tree,
        [
            ("list_directory", {}),
            ("search_files", {"pattern": "*.py"}),
            ("search_file_contents", {"query": "TODO", "exclude": ["node_modules/"], "context_lines": 1}),
            ("directory_tree", {"path": "src"}),
            ("list_allowed_directories", {}),
        ],
    )
    assert (tree / "pixel.png").stat().st_size == 67
    assert listed.content[0].text.splitlines() == [
        "38 README.md",
        "80 blob.bin",
        "   docs/",
        "   main-link.py@",
        "   node_modules/",
        "67 pixel.png",
        "   src/",
    ]
    assert listed.structured_content["items"][0]["modified"] == "1970-01-01T00:00:00+00:00"  # all data kept
    assert searched.content[0].text == f"in {tree}/:\nmain-link.py\nsrc/main.py\nsrc/pkg/util.py"
    assert grepped.content[0].text == (
        f"in {tree}/:\n"
        "README.md\n2- Intro line\n3: TODO: write docs\n"
        "src/main.py\n4- def main():\n5:     return 'TODO'\n"
        "2 matches in 2 files; 5 searched, 2 skipped (binary or over the cap)"
    )
    assert tree_text.content[0].text == "main.py\npkg/\n  util.py"
    assert allowed.content[0].text == f"Allowed directories:\n{tree}"


async def test_reads_are_the_content_and_info_is_short_lines(tree: Path) -> None:
    read, head, info = await texts(
        tree,
        [
            ("read_text_file", {"path": "README.md"}),
            ("read_text_file", {"path": "docs/guide.txt", "max_bytes": 14}),
            ("get_file_info", {"path": "README.md"}),
        ],
    )
    assert read.content[0].text == "# Project\nIntro line\nTODO: write docs\n"
    assert head.content[0].text == (
        "line 1\nline 2\n\n[Cut by the byte cap; the file has 792 bytes. Read on with offset/limit.]"
    )
    lines = info.content[0].text.splitlines()
    assert lines[:3] == [f"path: {tree}/README.md", "type: file", "size: 38"]
    assert [line.split(":")[0] for line in lines[3:]] == ["modified", "accessed", "changed", "permissions", "owner"]
    assert len(lines[3]) == len("modified: 2024-05-01 12:30")


async def test_writes_say_what_they_did_in_one_line(tree: Path) -> None:
    wrote, made, copied, moved, edited = await texts(
        tree,
        [
            ("write_file", {"path": "new.txt", "content": "hello\n"}),
            ("create_directory", {"path": "docs"}),
            ("copy_file", {"source": "new.txt", "destination": "copy.txt"}),
            ("move_file", {"source": "copy.txt", "destination": "moved.txt"}),
            ("edit_file", {"path": "new.txt", "edits": [{"old_text": "hello", "new_text": "bye"}], "dry_run": True}),
        ],
        confirm="never",
    )
    assert wrote.content[0].text == f"Wrote 6 bytes to {tree}/new.txt (new file)"
    assert made.content[0].text == f"{tree}/docs already exists"
    assert copied.content[0].text == f"Copied {tree}/new.txt to {tree}/copy.txt (6 bytes)"
    assert moved.content[0].text == f"Moved {tree}/copy.txt to {tree}/moved.txt"
    assert edited.content[0].text.startswith("1 replacements (dry run, nothing changed):\n--- ")
    assert "-hello\n+bye\n" in edited.content[0].text


async def test_result_text_json_gives_the_structured_result_as_text(tree: Path) -> None:
    [listed] = await texts(tree, [("list_directory", {})], result_text="json")
    assert json.loads(listed.content[0].text) == listed.structured_content
