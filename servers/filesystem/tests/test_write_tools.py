"""The write and destructive tools, read-only mode, and confirmation, in both eras."""

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp.client.session import ClientRequestContext

from patchbay.testing import Answer, connect
from patchbay_filesystem.server import connector

pytestmark = pytest.mark.anyio

WRITE_TOOLS = {"write_file", "edit_file", "create_directory", "copy_file", "move_file"}
DESTRUCTIVE = {"delete_file", "delete_directory"}


def writes(tree: Path, **extra: Any) -> dict[str, Any]:
    return {"roots": [str(tree)], "allow_writes": True, **extra}


async def run(
    tree: Path, era: str, tool: str, args: dict[str, Any], answer: Answer | None = None, **settings: Any
) -> Any:
    async with connect(connector, writes(tree, **settings), era=era, elicit=answer or Answer("accept")) as client:
        return await client.call_tool(tool, args)


async def test_read_only_by_default_has_no_write_tools(tree: Path, era: str) -> None:
    async with connect(connector, {"roots": [str(tree)]}, era=era) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        attempt = await client.call_tool("write_file", {"path": "x.txt", "content": "x"})
    assert names.isdisjoint(WRITE_TOOLS | DESTRUCTIVE)
    assert attempt.is_error
    assert "Unknown tool" in attempt.content[0].text
    assert not (tree / "x.txt").exists()


async def test_write_file_creates_and_replaces_atomically_keeping_the_mode(tree: Path, era: str) -> None:
    created = await run(tree, era, "write_file", {"path": "new/../notes.txt", "content": "first"})
    assert created.structured_content == {"path": str(tree / "notes.txt"), "bytes": 5, "created": True}
    os.chmod(tree / "notes.txt", 0o640)
    replaced = await run(tree, era, "write_file", {"path": "notes.txt", "content": "second ✓"})
    assert replaced.structured_content == {"path": str(tree / "notes.txt"), "bytes": 10, "created": False}
    assert (tree / "notes.txt").read_text() == "second ✓"
    assert stat.S_IMODE(os.stat(tree / "notes.txt").st_mode) == 0o640
    assert [p.name for p in tree.iterdir() if p.name.endswith(".tmp")] == []  # no temporary left behind


async def test_write_file_refuses_to_write_through_a_link(tree: Path, era: str) -> None:
    result = await run(tree, era, "write_file", {"path": "main-link.py", "content": "overwritten"})
    assert result.is_error
    assert "is a symbolic link; write_file does not follow links" in result.content[0].text
    assert (tree / "src/main.py").read_text().startswith("import os")
    assert os.path.islink(tree / "main-link.py")


async def test_write_file_needs_an_existing_parent(tree: Path, era: str) -> None:
    result = await run(tree, era, "write_file", {"path": "no/such/dir/x.txt", "content": "x"})
    assert result.is_error
    assert "No such file or directory" in result.content[0].text


async def test_edit_file_replaces_exact_text_and_returns_the_diff(tree: Path, era: str) -> None:
    edits = [
        {"old_text": "Intro line", "new_text": "Introduction"},
        {"old_text": "TODO: write docs", "new_text": "Done."},
    ]
    result = await run(tree, era, "edit_file", {"path": "README.md", "edits": edits})
    assert result.structured_content is not None
    assert result.structured_content["applied"] is True
    assert result.structured_content["replacements"] == 2
    diff = result.structured_content["diff"]
    assert "-Intro line\n" in diff and "+Introduction\n" in diff
    assert (tree / "README.md").read_text() == "# Project\nIntroduction\nDone.\n"


async def test_edit_file_dry_run_changes_nothing(tree: Path, era: str) -> None:
    before = (tree / "README.md").read_text()
    result = await run(
        tree,
        era,
        "edit_file",
        {"path": "README.md", "edits": [{"old_text": "Intro", "new_text": "X"}], "dry_run": True},
    )
    assert result.structured_content is not None
    assert result.structured_content["applied"] is False
    assert "+X line" in result.structured_content["diff"]
    assert (tree / "README.md").read_text() == before


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"old_text": "absent", "new_text": "x"}, "Edit 1: old_text was not found"),
        ({"old_text": "line", "new_text": "x"}, "Edit 1: old_text matches 100 places"),
    ],
)
async def test_edit_file_fails_on_zero_or_ambiguous_matches_and_changes_nothing(
    tree: Path, era: str, edit: dict[str, str], message: str
) -> None:
    before = (tree / "docs/guide.txt").read_text()
    result = await run(tree, era, "edit_file", {"path": "docs/guide.txt", "edits": [edit]})
    assert result.is_error
    assert message in result.content[0].text
    assert (tree / "docs/guide.txt").read_text() == before


async def test_edit_file_replace_all(tree: Path, era: str) -> None:
    edit = {"old_text": "line ", "new_text": "row ", "replace_all": True}
    result = await run(tree, era, "edit_file", {"path": "docs/guide.txt", "edits": [edit]})
    assert result.structured_content is not None
    assert result.structured_content["replacements"] == 100
    assert (tree / "docs/guide.txt").read_text().startswith("row 1\nrow 2\n")


async def test_create_directory_makes_parents_and_is_idempotent(tree: Path, era: str) -> None:
    first = await run(tree, era, "create_directory", {"path": "a/b/c"})
    again = await run(tree, era, "create_directory", {"path": "a/b/c"})
    on_file = await run(tree, era, "create_directory", {"path": "README.md/x"})
    assert first.structured_content == {"path": str(tree / "a/b/c"), "created": True}
    assert again.structured_content == {"path": str(tree / "a/b/c"), "created": False}
    assert (tree / "a/b/c").is_dir()
    assert on_file.is_error


async def test_copy_file_copies_and_never_overwrites(tree: Path, era: str) -> None:
    copied = await run(tree, era, "copy_file", {"source": "README.md", "destination": "docs/README.copy"})
    assert copied.structured_content == {
        "source": str(tree / "README.md"),
        "destination": str(tree / "docs/README.copy"),
        "bytes": 38,
    }
    assert (tree / "docs/README.copy").read_text() == (tree / "README.md").read_text()
    clash = await run(tree, era, "copy_file", {"source": "src/main.py", "destination": "README.md"})
    assert clash.is_error
    assert "already exists; copy_file never overwrites" in clash.content[0].text
    assert (tree / "README.md").read_text().startswith("# Project")


async def test_move_file_moves_files_and_directories_and_never_overwrites(tree: Path, era: str) -> None:
    moved = await run(tree, era, "move_file", {"source": "docs", "destination": "documentation"})
    assert moved.structured_content == {"source": str(tree / "docs"), "destination": str(tree / "documentation")}
    assert (tree / "documentation/guide.txt").exists()
    assert not (tree / "docs").exists()
    clash = await run(tree, era, "move_file", {"source": "src/main.py", "destination": "README.md"})
    assert clash.is_error
    assert "already exists; move_file never overwrites" in clash.content[0].text
    assert (tree / "src/main.py").exists()
    assert (tree / "README.md").read_text().startswith("# Project")
    into_itself = await run(tree, era, "move_file", {"source": "src", "destination": "src/pkg/src"})
    assert into_itself.is_error


async def test_delete_file_asks_with_the_exact_file_and_size(tree: Path, era: str) -> None:
    answer = Answer("accept")
    result = await run(tree, era, "delete_file", {"path": "README.md"}, answer)
    assert answer.questions == [f"Delete the file '{tree}/README.md' (38 bytes)? This cannot be undone."]
    assert result.structured_content == {
        "outcome": "done",
        "message": "Done.",
        "result": {"path": str(tree / "README.md")},
    }
    assert not (tree / "README.md").exists()


DELETES = [
    ("delete_file", {"path": "README.md"}, "README.md"),
    ("delete_directory", {"path": "src", "recursive": True}, "src/pkg/util.py"),
]


@pytest.mark.parametrize("action", ["decline", "cancel"])
@pytest.mark.parametrize(("tool", "args", "survivor"), DELETES)
async def test_declined_deletes_change_nothing(
    tree: Path, era: str, action: str, tool: str, args: dict[str, Any], survivor: str
) -> None:
    answer = Answer(action)  # type: ignore[arg-type]
    result = await run(tree, era, tool, args, answer)
    assert not result.is_error
    assert len(answer.questions) == 1
    assert result.structured_content is not None
    assert result.structured_content["outcome"] == ("declined" if action == "decline" else "cancelled")
    assert (tree / survivor).exists()


@pytest.mark.parametrize(("tool", "args", "survivor"), DELETES)
async def test_delete_without_elicitation_is_refused(
    tree: Path, era: str, tool: str, args: dict[str, Any], survivor: str
) -> None:
    async with connect(connector, writes(tree), era=era) as client:
        result = await client.call_tool(tool, args)
    assert result.is_error
    assert "--confirm=never (PATCHBAY_FILESYSTEM_CONFIRM=never)" in result.content[0].text
    assert (tree / survivor).exists()


async def test_delete_directory_confirmation_counts_files_exactly(tree: Path, era: str) -> None:
    answer = Answer("accept")
    result = await run(tree, era, "delete_directory", {"path": "src", "recursive": True}, answer)
    # The question ends with the fingerprint of the tree it describes (see test_confirmation_fingerprints.py).
    assert len(answer.questions) == 1
    assert re.fullmatch(
        re.escape(f"Delete the directory '{tree}/src' and everything in it: 2 files and 1 subdirectories? ")
        + r"This cannot be undone\. \(ref [0-9a-f]{8}\)",
        answer.questions[0],
    )
    assert result.structured_content is not None
    assert result.structured_content["result"] == {"path": str(tree / "src"), "files": 2, "directories": 1}
    assert not (tree / "src").exists()


async def test_delete_directory_refuses_a_non_empty_one_without_recursive(tree: Path, era: str) -> None:
    result = await run(tree, era, "delete_directory", {"path": "src"})
    assert result.is_error
    assert "is not empty (2 files, 1 subdirectories); pass recursive=true" in result.content[0].text
    assert (tree / "src/main.py").exists()
    (tree / "empty").mkdir()
    emptied = await run(tree, era, "delete_directory", {"path": "empty"})
    assert emptied.structured_content is not None
    assert emptied.structured_content["result"] == {"path": str(tree / "empty"), "files": 0, "directories": 0}


async def test_the_allowed_directory_itself_cannot_be_deleted(tree: Path, era: str) -> None:
    result = await run(tree, era, "delete_directory", {"path": str(tree), "recursive": True})
    assert result.is_error
    assert "is an allowed directory itself" in result.content[0].text
    assert tree.exists()


async def test_delete_file_removes_a_link_not_its_target(tree: Path, era: str) -> None:
    await run(tree, era, "delete_file", {"path": "main-link.py"})
    assert not os.path.lexists(tree / "main-link.py")
    assert (tree / "src/main.py").exists()


@dataclass
class AddsAFileBeforeTheFirstAnswer(Answer):
    """Says yes to every question, but first, while the first one is open, adds a file to the tree."""

    added: Path | None = None

    async def __call__(self, context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        if not self.questions and self.added is not None:
            self.added.write_text("written while the user was deciding\n")
        return await super().__call__(context, params)


async def test_delete_directory_runs_only_what_the_user_confirmed(tree: Path, era: str) -> None:
    answer = AddsAFileBeforeTheFirstAnswer(added=tree / "src" / "pkg" / "late.py")
    result = await run(tree, era, "delete_directory", {"path": "src", "recursive": True}, answer)
    first = f"Delete the directory '{tree}/src' and everything in it: 2 files and 1 subdirectories?"
    second = f"Delete the directory '{tree}/src' and everything in it: 3 files and 1 subdirectories?"
    if era == "legacy":
        # One call, one question over the back-channel: the answer comes back to the call that
        # asked, and the action, finding the tree no longer the one described, refuses.
        assert [q.split(" This")[0] for q in answer.questions] == [first]
        assert result.is_error
        assert result.content[0].text == (
            f"Refused: the directory '{tree}/src' changed after you confirmed, so what you confirmed is no "
            "longer what would run. Nothing was done; call the tool again to confirm the current state."
        )
        assert sorted(p.name for p in (tree / "src").rglob("*")) == ["late.py", "main.py", "pkg", "util.py"]
    else:
        # 2026-07-28: the answer arrives with the call's retry, which runs the question function
        # again. The tree changed, so the question (and its fingerprint) differ from the one
        # answered; the SDK does not apply an answer to a different question and asks the new
        # one. The second yes is to the tree as it now is, and that is what is deleted.
        assert [q.split(" This")[0] for q in answer.questions] == [first, second]
        assert result.structured_content is not None
        assert result.structured_content["result"] == {"path": str(tree / "src"), "files": 3, "directories": 1}
        assert not (tree / "src").exists()
