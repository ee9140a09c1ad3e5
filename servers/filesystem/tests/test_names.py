"""File names that are not UTF-8 are listed, escaped (`\\xHH`), and reach the same file when passed back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from patchbay.testing import connect
from patchbay_filesystem.server import connector

pytestmark = pytest.mark.anyio

BAD = "bad\\xff.txt"  # as listed: the byte 0xFF shown as \xff
LITERAL = "a\\x5cxff.txt"  # a UTF-8 name holding a real backslash then "xff": never mistaken for BAD


@pytest.fixture
def odd(tree: Path) -> Path:
    os.mkdir(os.fsencode(tree / "odd"))
    with open(os.fsencode(tree / "odd") + b"/bad\xff.txt", "wb") as file:
        file.write(b"not utf-8 name\n")
    (tree / "odd" / "a\\xff.txt").write_text("literal backslash name\n")
    (tree / "odd" / "plain.txt").write_text("plain\n")
    return tree


async def ok(client: Any, tool: str, **args: Any) -> Any:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def test_names_that_are_not_utf8_are_listed_and_usable(odd: Path, era: str) -> None:
    async with connect(connector, {"roots": [str(odd)]}, era=era) as client:
        listed = await ok(client, "list_directory", path="odd")
        assert [e["name"] for e in listed["items"]] == [LITERAL, BAD, "plain.txt"]
        tree = await ok(client, "directory_tree", path="odd")
        assert tree["tree"].splitlines() == [LITERAL, BAD, "plain.txt"]
        found = await ok(client, "search_files", path="odd", pattern="*.txt")
        assert [m["path"] for m in found["items"]] == [f"{odd}/odd/{n}" for n in (LITERAL, BAD, "plain.txt")]
        grep = await ok(client, "search_file_contents", path="odd", query="name")
        assert {m["path"] for m in grep["matches"]} == {f"{odd}/odd/{LITERAL}", f"{odd}/odd/{BAD}"}
        for shown, content in ((BAD, "not utf-8 name\n"), (LITERAL, "literal backslash name\n")):
            read = await ok(client, "read_text_file", path=f"odd/{shown}")
            assert (read["content"], read["path"]) == (content, f"{odd}/odd/{shown}")
            assert (await ok(client, "get_file_info", path=f"odd/{shown}"))["path"] == f"{odd}/odd/{shown}"
        many = await ok(client, "read_multiple_files", paths=[f"odd/{BAD}", f"odd/{LITERAL}"])
        assert [f["content"] for f in many["files"]] == ["not utf-8 name\n", "literal backslash name\n"]


async def test_a_listed_name_can_be_written_moved_and_deleted(odd: Path) -> None:
    async with connect(connector, {"roots": [str(odd)], "allow_writes": True, "confirm": "never"}) as client:
        directory = os.fsencode(odd / "odd")
        await ok(client, "write_file", path=f"odd/{BAD}", content="rewritten\n")
        with open(directory + b"/bad\xff.txt") as file:
            assert file.read() == "rewritten\n"
        moved = await ok(client, "move_file", source=f"odd/{BAD}", destination="odd/moved\\xfe")
        assert moved["destination"] == f"{odd}/odd/moved\\xfe"
        assert sorted(os.listdir(directory)) == [b"a\\xff.txt", b"moved\xfe", b"plain.txt"]
        await ok(client, "delete_file", path="odd/moved\\xfe")
        assert sorted(os.listdir(directory)) == [b"a\\xff.txt", b"plain.txt"]
