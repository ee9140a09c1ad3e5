"""Scope escapes: every way out of the allowed directories, tried on every tool that takes a path.

The fixture builds an operator directory `<tmp>/data/app` surrounded by things it must
never reach: a prefix look-alike sibling `app_evil` (CVE-2025-53110), an outside
directory and a home directory holding canary secrets, Unicode look-alike siblings, and
symbolic links inside `app` that point out (CVE-2025-53109): to files, to directories,
to paths that do not exist yet, through relative `..` targets, in chains and in a loop.

Every attempt must fail (or act on the link itself, never on its target), the canary must
never appear in a result, an error must read the same whether the outside path exists or
not, and nothing outside may be created, changed or deleted. Client roots can only narrow
the scope, in both protocol eras: a root of `/` does not widen it, an empty list admits
nothing, `roots/list_changed` revokes as well as grants, a call racing the first roots
answer waits for it, and a client that never answers makes the call fail closed. The
`file://` resource and resource subscriptions get the same attacks. Race tests swap a path
(a file, a directory, an ancestor of a client root) between a real entry and a link to
outside thousands of times while the tools use it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import secrets
import shutil
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from patchbay.testing import connect, http_server
from patchbay_filesystem.server import connector

pytestmark = pytest.mark.anyio

DENIED = "Access denied"
MISSING = "No such file or directory"
LOOP = "Too many levels of symbolic links"
NUL = "NUL byte"
OUTSIDE_TARGET = "(outside the allowed directories)"


# The world around the allowed directory ---------------------------------------------


@dataclass
class World:
    """`<tmp>/data/app` (the operator's directory) and everything around it that must stay unreachable."""

    tmp: Path
    token: str = field(default_factory=lambda: secrets.token_hex(6))

    @property
    def canary(self) -> str:
        """Content of every secret file outside the scope."""
        return f"TOPSECRET-{self.token}"

    @property
    def marker(self) -> str:
        """A file name found only outside the scope: a listing that shows it has escaped."""
        return f"outside-only-{self.token}.txt"

    @property
    def data(self) -> Path:
        return self.tmp / "data"

    @property
    def app(self) -> Path:
        return self.data / "app"

    @property
    def evil(self) -> Path:
        return self.data / "app_evil"

    @property
    def outside(self) -> Path:
        return self.tmp / f"outside-{self.token}"

    @property
    def home(self) -> Path:
        return self.tmp / f"home-{self.token}"

    @property
    def lookalikes(self) -> list[Path]:
        """Siblings whose names only look like `app`: Cyrillic a (U+0430), and 'app' plus a combining accent."""
        return [self.data / "\u0430pp", self.data / "app\u0301"]

    @property
    def places(self) -> dict[str, str]:
        return {
            "tmp": str(self.tmp),
            "data": str(self.data),
            "app": str(self.app),
            "evil": str(self.evil),
            "outside": str(self.outside),
            "home": str(self.home),
            "token": self.token,
        }

    def fill(self, template: str) -> str:
        return template.format(**self.places)

    @property
    def outside_strings(self) -> list[str]:
        """Strings that reveal an outside location if a result shows them unasked."""
        return [self.canary, self.marker, str(self.outside), str(self.evil), str(self.home)]

    def build(self) -> None:
        for place in (self.outside, self.evil, self.home, *self.lookalikes):
            place.mkdir(parents=True)
            (place / "secret.txt").write_text(f"{self.canary}\n")
            (place / self.marker).write_text(f"{self.canary}\n")
        (self.outside / "subdir").mkdir()
        (self.outside / "subdir" / "deep.txt").write_text(f"{self.canary} deep\n")
        (self.data / "app\uff0fsecret.txt").write_text(f"{self.canary}\n")  # 'app' U+FF0F 'secret.txt'
        self.app.mkdir()
        self.build_app()

    def build_app(self) -> None:
        """The allowed directory's content: files, and links pointing out in every way."""
        app, outside = self.app, self.outside
        (app / "a.txt").write_text("alpha\n")
        (app / "notes.md").write_text("# notes\n")
        (app / "sub" / "deeper").mkdir(parents=True)
        (app / "sub" / "b.txt").write_text("bravo\n")
        (app / "sub" / "deeper" / "c.txt").write_text("charlie\n")
        (app / "empty").mkdir()
        (app / "caf\u00e9.txt").write_text("inside-unicode\n")  # NFC 'café.txt'
        links = {
            "link_file": f"{outside}/secret.txt",  # CVE-2025-53109
            "link_dir": str(outside),
            "link_rel": f"../../{outside.name}/secret.txt",
            "link_evil": "../app_evil/secret.txt",  # a relative link into the prefix look-alike
            "link_home": f"{self.home}/secret.txt",
            "link_dotdot": f"{app}/../../{outside.name}/secret.txt",
            "link_dangling": f"{outside}/not-yet.txt",  # a write must not create it
            "link_dangling_dir": f"{outside}/not-yet-dir",
            "chain1": "chain2",
            "chain2": f"{app}/chain3",
            "chain3": f"{outside}/secret.txt",
            "chain_in": "a.txt",  # an inside link: the control
            "loop1": "loop2",
            "loop2": "loop1",
            "sub/link_up": f"../../../{outside.name}",
            "sub/link_to_a": "../a.txt",
        }
        for name, target in links.items():
            os.symlink(target, app / name)

    def reset_app(self) -> None:
        for entry in os.scandir(self.app):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        self.build_app()


# Links in app whose last component leads outside (the link itself is inside).
OUTSIDE_LINKS = (
    "link_file",
    "link_dir",
    "link_rel",
    "link_evil",
    "link_home",
    "link_dotdot",
    "link_dangling",
    "link_dangling_dir",
    "chain1",
    "sub/link_up",
)
LOOPS = ("loop1",)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    made = World(tmp_path)
    made.build()
    monkeypatch.setenv("HOME", str(made.home))  # '~' leads to a home we can watch
    assert os.path.expanduser("~") == str(made.home)
    return made


def read_settings(world: World, **extra: Any) -> dict[str, Any]:
    return {"roots": [str(world.app)], **extra}


def write_settings(world: World, **extra: Any) -> dict[str, Any]:
    return {"roots": [str(world.app)], "allow_writes": True, "confirm": "never", **extra}


# Watching the disk --------------------------------------------------------------------


def snapshot(top: Path, skip: Path | None = None) -> dict[str, tuple[Any, ...]]:
    """Every entry below `top` (links not followed): kind, inode, mode, mtime, content or target."""
    state: dict[str, tuple[Any, ...]] = {}

    def visit(path: Path) -> None:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            state[str(path)] = ("link", info.st_ino, os.readlink(path))
        elif stat.S_ISDIR(info.st_mode):
            state[str(path)] = ("dir", info.st_ino, info.st_mode, info.st_mtime_ns)
            for name in sorted(os.listdir(path)):
                if path / name != skip:
                    visit(path / name)
        else:
            state[str(path)] = ("file", info.st_ino, info.st_mode, info.st_mtime_ns, path.read_bytes())

    visit(top)
    return state


def difference(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    changed = [f"changed {key}" for key in before if key in after and before[key] != after[key]]
    return (
        [f"deleted {key}" for key in before if key not in after]
        + [f"created {key}" for key in after if key not in before]
        + changed
    )


class Guard:
    """Snapshots of the world, to tell what a call created, changed or deleted."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.rebaseline()

    def rebaseline(self) -> None:
        self.outside = snapshot(self.world.tmp, skip=self.world.app)
        self.inside = snapshot(self.world.app)

    def outside_changes(self) -> list[str]:
        changes = difference(self.outside, snapshot(self.world.tmp, skip=self.world.app))
        for dirpath, _, filenames in os.walk(self.world.app):  # a copy or move of a secret into scope
            for name in filenames:
                path = Path(dirpath, name)
                if not path.is_symlink() and self.world.canary.encode() in path.read_bytes():
                    changes.append(f"canary copied into scope: {path}")
        return changes

    def changes(self) -> list[str]:
        return self.outside_changes() + difference(self.inside, snapshot(self.world.app))


# Calling ------------------------------------------------------------------------------


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


def leaks(world: World, dumped: str, extra: Sequence[str] = ()) -> list[str]:
    """Outside things that `dumped` (a whole serialised result) shows."""
    return [secret for secret in (world.canary, world.marker, *extra) if secret in dumped]


def neutral(text: str, *raws: str, inside: Path | None = None) -> str:
    """`text` with the client's own path strings (as given, and as repr shows them) blanked out,
    and with quoted paths inside the allowed directory `inside` (nothing secret there)."""
    for raw in sorted(raws, key=len, reverse=True):
        text = text.replace(repr(raw)[1:-1], "<PATH>").replace(raw, "<PATH>")
    if inside is not None:
        text = re.sub(rf"'{re.escape(str(inside))}(/[^']*)?'", "'<INSIDE>'", text)
    return text


@dataclass(frozen=True)
class Position:
    """A path argument of a tool, and the rest of a call around it."""

    label: str
    tool: str
    args: Callable[[str], dict[str, Any]]
    mutates: bool = False

    def failure(self, result: types.CallToolResult) -> str | None:
        """The error the attacked path got (None if the call succeeded)."""
        if self.tool == "read_multiple_files":
            if result.is_error:  # text no path can hold (a NUL): the base refuses the call, naming the item
                assert text_of(result).startswith("Invalid argument 'paths[1]': "), text_of(result)
                return text_of(result)
            assert result.structured_content is not None
            first, attacked = result.structured_content["files"]
            assert first["content"] == "alpha\n"  # the neighbour in the same call still works
            if attacked["error"] is None:
                return None
            assert attacked["content"] is None
            return str(attacked["error"])
        return text_of(result) if result.is_error else None


POSITIONS = (
    Position("read_text_file", "read_text_file", lambda p: {"path": p}),
    Position("read_text_file tail", "read_text_file", lambda p: {"path": p, "tail": 1}),
    Position("read_media_file", "read_media_file", lambda p: {"path": p}),
    Position("read_multiple_files", "read_multiple_files", lambda p: {"paths": ["a.txt", p]}),
    Position("list_directory", "list_directory", lambda p: {"path": p}),
    Position("directory_tree", "directory_tree", lambda p: {"path": p, "max_depth": 8}),
    Position("search_files", "search_files", lambda p: {"path": p, "pattern": "**/*"}),
    Position("search_file_contents", "search_file_contents", lambda p: {"path": p, "query": "TOPSECRET"}),
    Position("get_file_info", "get_file_info", lambda p: {"path": p}),
    Position("write_file", "write_file", lambda p: {"path": p, "content": "attacker was here\n"}, mutates=True),
    Position(
        "edit_file",
        "edit_file",
        lambda p: {"path": p, "edits": [{"old_text": "TOPSECRET", "new_text": "EDITED"}]},
        mutates=True,
    ),
    Position(
        "edit_file dry_run",
        "edit_file",
        lambda p: {"path": p, "edits": [{"old_text": "TOPSECRET", "new_text": "EDITED"}], "dry_run": True},
    ),
    Position("create_directory", "create_directory", lambda p: {"path": p}, mutates=True),
    Position("copy_file source", "copy_file", lambda p: {"source": p, "destination": "copied.txt"}, mutates=True),
    Position("copy_file destination", "copy_file", lambda p: {"source": "a.txt", "destination": p}, mutates=True),
    Position("move_file source", "move_file", lambda p: {"source": p, "destination": "moved.txt"}, mutates=True),
    Position("move_file destination", "move_file", lambda p: {"source": "a.txt", "destination": p}, mutates=True),
    Position("delete_file", "delete_file", lambda p: {"path": p}, mutates=True),
    Position("delete_directory", "delete_directory", lambda p: {"path": p, "recursive": True}, mutates=True),
)
BY_LABEL = {position.label: position for position in POSITIONS}
READING = (BY_LABEL["read_text_file"], BY_LABEL["get_file_info"], BY_LABEL["list_directory"])


@dataclass(frozen=True)
class Escape:
    """A way out: a path to an outside thing that exists, and the same to one that does not."""

    label: str
    exists: str
    missing: str
    system: bool = False  # outside the test's own directory: never sent to a mutating tool


ESCAPES = (
    Escape("absolute file outside", "{outside}/secret.txt", "{outside}/missing.txt"),
    Escape("absolute directory outside", "{outside}", "{tmp}/outside-missing"),
    Escape("nested file outside", "{outside}/subdir/deep.txt", "{outside}/nodir/deep.txt"),
    Escape("the allowed directory's parent", "{data}", "{tmp}/data-missing"),
    Escape("system file", "/etc/passwd", "/etc/patchbay-missing-{token}", system=True),
    Escape("filesystem root", "/", "/patchbay-missing-{token}", system=True),
    Escape("prefix look-alike file (CVE-2025-53110)", "{evil}/secret.txt", "{evil}/missing.txt"),
    Escape("prefix look-alike directory (CVE-2025-53110)", "{evil}", "{data}/app_evil2"),
    Escape("prefix look-alike with a trailing slash", "{evil}/", "{data}/app_evil2/"),
    Escape("relative ..", "../app_evil/secret.txt", "../app_evil/missing.txt"),
    Escape("relative ../..", "../../outside-{token}/secret.txt", "../../outside-{token}/missing.txt"),
    Escape("relative .. alone", "..", "../data-missing"),
    Escape("down, then further up", "sub/deeper/../../../app_evil/secret.txt", "sub/deeper/../../../app_evil/x.txt"),
    Escape("./ and ..", "./sub/./../../app_evil/secret.txt", "./sub/./../../app_evil/missing.txt"),
    Escape("absolute through ..", "{app}/../app_evil/secret.txt", "{app}/../app_evil/missing.txt"),
    Escape("deep ..", "{app}/sub/deeper/../../../../outside-{token}/secret.txt", "{app}/sub/../../../x/secret.txt"),
    Escape("doubled slashes", "/{outside}//secret.txt", "/{outside}//missing.txt"),
    Escape("doubled slashes and ..", "{app}//..//app_evil//secret.txt", "{app}//..//app_evil//missing.txt"),
    Escape("home ~", "~/secret.txt", "~/missing.txt"),
    Escape("home ~ itself", "~", "~/missing-dir"),
    Escape("Cyrillic a (U+0430) for Latin a", "{data}/\u0430pp/secret.txt", "{data}/\u0430pp/missing.txt"),
    Escape("combining accent", "{data}/app\u0301/secret.txt", "{data}/app\u0301/missing.txt"),
    Escape("fullwidth solidus", "{data}/app\uff0fsecret.txt", "{data}/app\uff0fmissing.txt"),
    Escape(
        "fullwidth solidus and ..",
        "{data}/app\uff0f..\uff0fapp_evil\uff0fsecret.txt",
        "{data}/app\uff0f..\uff0fapp_evil\uff0fmissing.txt",
    ),
    Escape("zero-width space, then ..", "{app}\u200b/../app_evil/secret.txt", "{app}\u200b/../app_evil/x.txt"),
    Escape("through a directory link (CVE-2025-53109)", "link_dir/secret.txt", "link_dir/missing.txt"),
    Escape("through a directory link, deeper", "{app}/link_dir/subdir/deep.txt", "{app}/link_dir/nodir/deep.txt"),
    Escape("through a relative link in a subdirectory", "sub/link_up/secret.txt", "sub/link_up/missing.txt"),
    Escape("through a dangling directory link", "link_dir/new.txt", "link_dangling_dir/new.txt"),
    Escape("through a link, then ..", "link_dir/subdir/../secret.txt", "link_dir/nodir/../missing.txt"),
)


@pytest.mark.parametrize("position", POSITIONS, ids=lambda p: p.label)
async def test_every_escape_is_denied_the_same_whether_or_not_the_target_exists(
    world: World, era: str, position: Position
) -> None:
    guard = Guard(world)
    problems: list[str] = []
    async with connect(connector, write_settings(world), era=era) as client:
        for escape in ESCAPES:
            if escape.system and position.mutates:
                continue
            texts = []
            for raw in (world.fill(escape.exists), world.fill(escape.missing)):
                result = await client.call_tool(position.tool, position.args(raw))
                where = f"{escape.label} {raw!r}"
                text = position.failure(result)
                if text is None:
                    problems.append(f"{where}: succeeded: {result.structured_content}")
                elif DENIED not in text:
                    problems.append(f"{where}: not denied: {text}")
                if found := leaks(world, result.model_dump_json()):
                    problems.append(f"{where}: result shows {found}")
                if changes := guard.changes():
                    problems.append(f"{where}: {changes}")
                    world.reset_app()
                    guard.rebaseline()
                texts.append(neutral(text or "", raw, inside=world.app))
            if texts[0] != texts[1]:
                problems.append(f"{escape.label}: existing and missing targets read differently: {texts}")
    assert not problems, "\n".join(problems)


@dataclass(frozen=True)
class OnLink:
    """What a tool must do with a link (inside the scope) whose target is outside."""

    error: str | None = None  # the call fails with this in its message ('' = any message)
    info: bool = False  # describes the link itself
    moves: bool = False  # moves the link itself
    deletes: bool = False  # deletes the link itself


ON_LINK = {
    "read_text_file": OnLink(DENIED),
    "read_text_file tail": OnLink(DENIED),
    "read_media_file": OnLink(DENIED),
    "read_multiple_files": OnLink(DENIED),
    "list_directory": OnLink(DENIED),
    "directory_tree": OnLink(DENIED),
    "search_files": OnLink(DENIED),
    "search_file_contents": OnLink(DENIED),
    "get_file_info": OnLink(info=True),
    "write_file": OnLink("symbolic link"),
    "edit_file": OnLink(""),  # see test_edit_file_refuses_a_link_clearly for the message
    "edit_file dry_run": OnLink(""),
    "create_directory": OnLink(DENIED),
    "copy_file source": OnLink(DENIED),
    "copy_file destination": OnLink("already exists"),
    "move_file source": OnLink(moves=True),
    "move_file destination": OnLink("already exists"),
    "delete_file": OnLink(deletes=True),
    "delete_directory": OnLink("not a directory"),
}


@pytest.mark.parametrize("position", POSITIONS, ids=lambda p: p.label)
async def test_links_pointing_outside_are_never_followed(world: World, era: str, position: Position) -> None:
    """CVE-2025-53109 and dangling links: a link's target outside is never read, listed, written or revealed."""
    expected = ON_LINK[position.label]
    guard = Guard(world)
    problems: list[str] = []
    outcomes: dict[str, str] = {}
    async with connect(connector, write_settings(world), era=era) as client:
        for link in OUTSIDE_LINKS + LOOPS:
            result = await client.call_tool(position.tool, position.args(link))
            dumped = result.model_dump_json()
            text = position.failure(result)
            if found := leaks(world, dumped, world.outside_strings):
                problems.append(f"{link}: result shows {found}")
            if changes := guard.outside_changes():
                problems.append(f"{link}: outside changed: {changes}")
            wanted = expected.error
            if wanted is not None and link in LOOPS and wanted == DENIED:
                wanted = LOOP
            if wanted is not None:
                if text is None:
                    problems.append(f"{link}: succeeded: {result.structured_content}")
                elif wanted not in text:
                    problems.append(f"{link}: {wanted!r} not in {text!r}")
                else:
                    outcomes[link] = neutral(text, link)
            elif text is not None:
                problems.append(f"{link}: failed: {text}")
            elif expected.info:
                info = result.structured_content
                assert info is not None
                target = "(missing)" if link in LOOPS else OUTSIDE_TARGET
                if (info["type"], info["link_target"]) != ("symlink", target):
                    problems.append(f"{link}: described as {info}")
                outcomes[link] = info["link_target"]
            elif expected.moves:
                moved = world.app / "moved.txt"
                if not moved.is_symlink() or os.path.lexists(world.app / link):
                    problems.append(f"{link}: not moved as a link")
                reread = await client.call_tool("read_text_file", {"path": "moved.txt"})
                if not reread.is_error or leaks(world, reread.model_dump_json()):
                    problems.append(f"{link}: the moved link was followed: {text_of(reread)}")
            elif expected.deletes and os.path.lexists(world.app / link):
                problems.append(f"{link}: still there")
            if guard.changes():  # a link moved or deleted: start afresh for the next one
                world.reset_app()
                guard.rebaseline()
    # No oracle: a link to an existing outside file reads like one to a missing one.
    assert outcomes.get("link_file") == outcomes.get("link_dangling")
    assert outcomes.get("link_dir") == outcomes.get("link_dangling_dir")
    assert not problems, "\n".join(problems)


EDITED_LINKS = ("link_file", "link_dangling", "chain_in")


async def test_edit_file_refuses_a_link_clearly(world: World, era: str) -> None:
    """edit_file on a link (inside or out) must say it is a link, as write_file does: not 'try again'."""
    guard = Guard(world)
    edits = [{"old_text": "a", "new_text": "b"}]
    async with connect(connector, write_settings(world), era=era) as client:
        results = {link: await client.call_tool("edit_file", {"path": link, "edits": edits}) for link in EDITED_LINKS}
    assert guard.changes() == []
    for link, result in results.items():
        assert result.is_error, link
        assert "symbolic link" in text_of(result), f"{link}: {text_of(result)}"


async def test_no_write_follows_a_dangling_link(world: World, era: str) -> None:
    """A link to a not-yet-existing outside path: no tool creates that path."""
    guard = Guard(world)
    attempts = [
        ("write_file", {"path": "link_dangling", "content": "x"}),
        ("write_file", {"path": "link_dangling_dir/x.txt", "content": "x"}),
        ("edit_file", {"path": "link_dangling", "edits": [{"old_text": "a", "new_text": "b"}]}),
        ("copy_file", {"source": "a.txt", "destination": "link_dangling"}),
        ("copy_file", {"source": "a.txt", "destination": "link_dangling_dir/x.txt"}),
        ("move_file", {"source": "a.txt", "destination": "link_dangling"}),
        ("move_file", {"source": "a.txt", "destination": "link_dangling_dir/x.txt"}),
        ("create_directory", {"path": "link_dangling_dir"}),
        ("create_directory", {"path": "link_dangling_dir/deeper"}),
    ]
    async with connect(connector, write_settings(world), era=era) as client:
        for tool, args in attempts:
            result = await client.call_tool(tool, args)
            assert result.is_error, (tool, args, result.structured_content)
    assert guard.changes() == []
    assert not os.path.lexists(world.outside / "not-yet.txt")
    assert not os.path.lexists(world.outside / "not-yet-dir")


# Look-alike names, NUL bytes --------------------------------------------------------

# Relative names that only look like a way out: they are plain names inside the scope.
INSIDE_LOOKALIKES = (
    "..\uff0fapp_evil\uff0fsecret.txt",  # fullwidth solidus
    "\uff0e\uff0e/app_evil/secret.txt",  # fullwidth full stops
    "\u2024\u2024/app_evil/secret.txt",  # one dot leaders
    "..\u2215app_evil\u2215secret.txt",  # division slash
    "..\\app_evil\\secret.txt",  # backslashes
    "%2e%2e/app_evil/secret.txt",  # URL encoding is not decoded in a path
    "%2e%2e%2fapp_evil%2fsecret.txt",
    ".\u200b./app_evil/secret.txt",  # a zero-width space inside '..'
    "cafe\u0301.txt",  # NFD of the existing NFC 'café.txt'
    "\u0430.txt",  # Cyrillic a (U+0430) for the existing 'a.txt'
    "file://{outside}/secret.txt",  # a URL is not a path
    "~root/secret.txt",  # only '~' and '~/' mean home
)


async def test_lookalike_names_are_other_names_inside_the_scope(world: World, era: str) -> None:
    """Never normalised: a look-alike is a different (here missing) name inside the allowed directory."""
    guard = Guard(world)
    async with connect(connector, write_settings(world), era=era) as client:
        for template in INSIDE_LOOKALIKES:
            raw = world.fill(template)
            for position in (*READING, BY_LABEL["read_multiple_files"]):
                result = await client.call_tool(position.tool, position.args(raw))
                text = position.failure(result)
                assert text is not None and MISSING in text, (raw, position.label, text)
                assert not leaks(world, result.model_dump_json())
            assert guard.changes() == []
            written = await client.call_tool("write_file", {"path": raw, "content": "inside\n"})
            if written.is_error:  # a parent that does not exist in the scope
                assert MISSING in text_of(written), (raw, text_of(written))
            else:
                assert written.structured_content is not None
                path = written.structured_content["path"]
                assert path == f"{world.app}/{raw}", (raw, path)  # exactly that name, nothing normalised
                assert Path(path).read_text() == "inside\n"
            assert (world.app / "caf\u00e9.txt").read_text() == "inside-unicode\n"
            assert (world.app / "a.txt").read_text() == "alpha\n"
            made = await client.call_tool("create_directory", {"path": f"{raw}.d"})
            assert not made.is_error, text_of(made)
            assert made.structured_content is not None
            assert made.structured_content["path"] == os.path.normpath(f"{world.app}/{raw}.d")
            assert os.path.isdir(made.structured_content["path"])
            assert guard.outside_changes() == [], raw
            world.reset_app()
            guard.rebaseline()


NUL_PATHS = (
    "a.txt\x00../../outside-{token}/secret.txt",
    "{outside}/secret.txt\x00",
    "\x00{outside}/secret.txt",
    "\x00",
    "link_file\x00",
    "sub\x00/../../app_evil/secret.txt",
    "{app}/a.txt\x00.png",
)


@pytest.mark.parametrize("position", POSITIONS, ids=lambda p: p.label)
async def test_nul_bytes_are_refused(world: World, era: str, position: Position) -> None:
    guard = Guard(world)
    async with connect(connector, write_settings(world), era=era) as client:
        for template in NUL_PATHS:
            result = await client.call_tool(position.tool, position.args(world.fill(template)))
            text = position.failure(result)
            assert text is not None and NUL in text, (template, text)
            assert not leaks(world, result.model_dump_json())
    assert guard.changes() == []


# Listing never follows a link ---------------------------------------------------------


def tree_entries(tree: dict[str, Any]) -> dict[str, str]:
    """Relative path -> kind, from a directory_tree result (an indented listing, or nested nodes)."""
    found: dict[str, str] = {}
    if "children" in tree:

        def visit(nodes: list[dict[str, Any]], prefix: str) -> None:
            for node in nodes:
                found[prefix + node["name"]] = node["type"]
                visit(node.get("children") or [], f"{prefix}{node['name']}/")

        visit(tree["children"], "")
        return found
    parents: list[str] = []
    for line in tree["tree"].splitlines():
        depth = (len(line) - len(line.lstrip(" "))) // 2
        label = line.strip()
        kind = {"/": "directory", "@": "symlink", "?": "other"}.get(label[-1:], "file")
        name = label if kind == "file" else label[:-1]
        del parents[depth:]
        found["/".join([*parents, name])] = kind
        if kind == "directory":
            parents.append(name)
    return found


async def test_listings_show_links_as_links_and_never_their_outside_content(world: World, era: str) -> None:
    async with connect(connector, read_settings(world), era=era) as client:
        listed = await client.call_tool("list_directory", {"path": "."})
        tree = await client.call_tool("directory_tree", {"path": ".", "max_depth": 16})
        found = await client.call_tool("search_files", {"pattern": "**/*", "max_results": 1000})
        secrets_found = await client.call_tool("search_files", {"pattern": "**/secret.txt"})
        marker_found = await client.call_tool("search_files", {"pattern": f"**/{world.marker}"})
        grep = await client.call_tool("search_file_contents", {"query": "TOPSECRET"})
        grep_all = await client.call_tool(
            "search_file_contents", {"query": ".", "regex": True, "max_matches": 10_000, "max_matches_per_file": 1000}
        )
        sub = await client.call_tool("directory_tree", {"path": "sub", "max_depth": 16})
        info = await client.call_tool("get_file_info", {"path": "sub/link_up"})
        outward = [
            await client.call_tool("search_files", {"pattern": pattern, "path": where})
            for pattern in ("../**", "../app_evil/*", f"{world.evil}/**", "/**/secret.txt", "**/../**", "link_dir/**")
            for where in (".", "sub")
        ]
        include = await client.call_tool("search_file_contents", {"query": "TOPSECRET", "include": ["../**", "/**"]})
    for result in (listed, tree, found, secrets_found, marker_found, grep, grep_all, sub, info, *outward, include):
        assert not result.is_error, text_of(result)
        assert not leaks(world, result.model_dump_json(), world.outside_strings)
    assert listed.structured_content is not None
    kinds = {entry["name"]: entry["type"] for entry in listed.structured_content["items"]}
    for link in OUTSIDE_LINKS + LOOPS + ("chain2", "chain3", "chain_in"):
        if "/" not in link:
            assert kinds[link] == "symlink", link
    assert kinds["a.txt"] == "file"
    assert kinds["sub"] == "directory"
    assert tree.structured_content is not None and sub.structured_content is not None
    entries = tree_entries(tree.structured_content)
    for link in OUTSIDE_LINKS + LOOPS:
        assert entries[link] == "symlink", link
        assert not [path for path in entries if path.startswith(f"{link}/")], link  # never entered
    assert entries["sub/deeper/c.txt"] == "file"
    assert tree_entries(sub.structured_content)["link_up"] == "symlink"
    assert found.structured_content is not None
    paths = {item["path"]: item["type"] for item in found.structured_content["items"]}
    assert all(path.startswith(f"{world.app}/") for path in paths)
    assert paths[f"{world.app}/link_dir"] == "symlink"
    assert f"{world.app}/link_dir/secret.txt" not in paths
    assert secrets_found.structured_content is not None and secrets_found.structured_content["items"] == []
    assert marker_found.structured_content is not None and marker_found.structured_content["items"] == []
    assert grep.structured_content is not None
    assert grep.structured_content["matches"] == []
    assert grep.structured_content["files_searched"] == 5  # the five regular files inside, no link
    assert grep_all.structured_content is not None
    assert {match["path"] for match in grep_all.structured_content["matches"]} == {
        f"{world.app}/{name}" for name in ("a.txt", "notes.md", "sub/b.txt", "sub/deeper/c.txt", "caf\u00e9.txt")
    }
    assert info.structured_content is not None
    assert info.structured_content["link_target"] == OUTSIDE_TARGET
    for result in outward:  # globs match names below the directory; they never lead out of it
        assert result.structured_content is not None
        assert all(item["path"].startswith(f"{world.app}/") for item in result.structured_content["items"])
        assert not any("secret" in item["path"] for item in result.structured_content["items"])
    assert include.structured_content is not None and include.structured_content["matches"] == []


async def test_deleting_or_moving_a_tree_with_outside_links_leaves_the_outside_alone(world: World, era: str) -> None:
    holder = world.app / "holder"
    holder.mkdir()
    os.symlink(world.outside, holder / "to_dir")
    os.symlink(world.outside / "secret.txt", holder / "to_file")
    os.symlink(world.evil, holder / "to_evil")
    guard = Guard(world)
    async with connect(connector, write_settings(world), era=era) as client:
        moved = await client.call_tool("move_file", {"source": "sub", "destination": "empty/sub"})
        assert not moved.is_error, text_of(moved)
        through = await client.call_tool("read_text_file", {"path": "empty/sub/link_up/secret.txt"})
        assert through.is_error and DENIED in text_of(through)
        deleted = await client.call_tool("delete_directory", {"path": "holder", "recursive": True})
        assert not deleted.is_error, text_of(deleted)
        assert deleted.structured_content is not None
        assert deleted.structured_content["result"]["files"] == 3  # the three links, not what they lead to
        gone = await client.call_tool("delete_directory", {"path": "empty", "recursive": True})
        assert not gone.is_error, text_of(gone)
        assert not leaks(world, moved.model_dump_json() + deleted.model_dump_json() + gone.model_dump_json())
    assert guard.outside_changes() == []
    assert not holder.exists()
    assert (world.outside / "secret.txt").read_text() == f"{world.canary}\n"


async def test_inside_links_still_work(world: World, era: str) -> None:
    """The control: links that stay inside the scope are followed."""
    async with connect(connector, write_settings(world), era=era) as client:
        read = await client.call_tool("read_text_file", {"path": "chain_in"})
        through = await client.call_tool("read_text_file", {"path": "sub/link_to_a"})
        copied = await client.call_tool("copy_file", {"source": "chain_in", "destination": "copy.txt"})
    assert read.structured_content is not None and read.structured_content["content"] == "alpha\n"
    assert read.structured_content["path"] == f"{world.app}/a.txt"
    assert through.structured_content is not None and through.structured_content["content"] == "alpha\n"
    assert not copied.is_error, text_of(copied)
    assert (world.app / "copy.txt").read_text() == "alpha\n"


# The file:// resource and subscriptions -----------------------------------------------

RESOURCE_ESCAPES = (
    ("file://{outside}/secret.txt", "file://{outside}/missing.txt"),
    ("file://{evil}/secret.txt", "file://{evil}/missing.txt"),
    ("file://{app}/../app_evil/secret.txt", "file://{app}/../app_evil/missing.txt"),
    ("file://{app}/%2e%2e/app_evil/secret.txt", "file://{app}/%2e%2e/app_evil/missing.txt"),
    ("file://{app}/%2E%2E%2Fapp_evil%2Fsecret.txt", "file://{app}/%2E%2E%2Fapp_evil%2Fmissing.txt"),
    ("file://{app}/link_file", "file://{app}/link_dangling"),
    ("file://{app}/link_rel", "file://{app}/link_dangling"),
    ("file://{app}/chain1", "file://{app}/link_dangling"),
    ("file://{app}/link_dir/secret.txt", "file://{app}/link_dir/missing.txt"),
    ("file://{app}/sub/link_up/secret.txt", "file://{app}/sub/link_up/missing.txt"),
    ("file://{data}/%D0%B0pp/secret.txt", "file://{data}/%D0%B0pp/missing.txt"),  # Cyrillic a (U+0430)
    ("file://{data}/app%EF%BC%8Fsecret.txt", "file://{data}/app%EF%BC%8Fmissing.txt"),  # fullwidth solidus
    ("file://{outside}/secret.txt%00", "file://{outside}/missing.txt%00"),
    ("file://localhost{outside}/secret.txt", "file://localhost{outside}/missing.txt"),
    ("file://{home}/secret.txt", "file://{home}/missing.txt"),
)


async def read_resource_outcome(client: Client, uri: str) -> str:
    try:
        result = await client.read_resource(uri, cache_mode="bypass")
    except MCPError as exc:
        return f"{exc} {exc.error.model_dump_json()}"
    return f"READ: {result.model_dump_json()}"


async def test_file_resource_cannot_escape(world: World, era: str) -> None:
    guard = Guard(world)
    problems = []
    async with connect(connector, read_settings(world), era=era) as client:
        good = await client.read_resource(f"file://{world.app}/a.txt", cache_mode="bypass")
        assert good.contents[0].text == "alpha\n"  # type: ignore[union-attr]
        for exists, missing in RESOURCE_ESCAPES:
            texts = []
            for uri in (world.fill(exists), world.fill(missing)):
                text = await read_resource_outcome(client, uri)
                if text.startswith("READ"):
                    problems.append(f"{uri} was read: {text}")
                if found := leaks(world, text):
                    problems.append(f"{uri}: shows {found}")
                texts.append(neutral(text, uri, unquote(urlparse(uri).path)))
            if texts[0] != texts[1]:
                problems.append(f"{exists}: existing and missing targets read differently: {texts}")
    assert not problems, "\n".join(problems)
    assert guard.changes() == []


async def test_subscribe_outside_is_refused(world: World) -> None:
    """Legacy era: resources/subscribe on a path outside (directly or through a link) is refused
    with the same error whether it exists or not, and no watcher reports outside changes."""

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            heard.append(str(message.params.uri))

    heard: list[str] = []
    problems = []
    async with connect(connector, read_settings(world), era="legacy", message_handler=on_message) as client:
        for exists, missing in RESOURCE_ESCAPES:
            texts = []
            for uri in (world.fill(exists), world.fill(missing)):
                try:
                    await client.subscribe_resource(uri)
                except MCPError as exc:
                    text = str(exc)
                    if DENIED not in text and NUL not in text:
                        problems.append(f"{uri}: unclear refusal {text!r}")
                else:
                    problems.append(f"{uri}: subscribed")
                    text = "SUBSCRIBED"
                if found := leaks(world, text):
                    problems.append(f"{uri}: shows {found}")
                texts.append(neutral(text, uri, unquote(urlparse(uri).path)))
            if texts[0] != texts[1]:
                problems.append(f"{exists}: existing and missing targets read differently: {texts}")
        # An outside change while subscribed (as far as the client knows) is never reported.
        (world.outside / "secret.txt").write_text("changed\n")
        (world.evil / "secret.txt").write_text("changed\n")
        (world.outside / "subdir" / "new.txt").write_text("new\n")
        await anyio.sleep(0.6)  # watchers debounce for 200 ms
    assert heard == []
    assert not problems, "\n".join(problems)


async def test_listening_to_outside_paths_hears_nothing(world: World) -> None:
    """2026-07-28 era: a subscriptions/listen filter on outside URIs never fires."""
    uris = [f"file://{world.outside}/secret.txt", f"file://{world.app}/link_file", f"file://{world.evil}/secret.txt"]
    async with (
        connect(connector, read_settings(world), era="2026-07-28") as client,
        client.listen(resource_subscriptions=uris) as subscription,
    ):
        (world.outside / "secret.txt").write_text("changed\n")
        (world.evil / "secret.txt").write_text("changed\n")
        with anyio.move_on_after(0.6):
            event = await subscription.__anext__()
            pytest.fail(f"heard {event!r}")


# Client roots -------------------------------------------------------------------------


@dataclass
class ClientRoots:
    """A client's roots callback: answers with `uris`, optionally only once `gate` is set."""

    uris: list[str]
    gate: anyio.Event | None = None
    calls: int = 0
    asked: anyio.Event = field(default_factory=anyio.Event)

    async def __call__(self, context: Any) -> types.ListRootsResult:
        self.calls += 1
        self.asked.set()
        if self.gate is not None:
            await self.gate.wait()
        return types.ListRootsResult(roots=[types.Root(uri=uri) for uri in self.uris])


async def allowed(client: Client) -> list[str]:
    result = await client.call_tool("list_allowed_directories", {})
    assert result.structured_content is not None, text_of(result)
    return [directory["path"] for directory in result.structured_content["directories"]]


async def assert_no_escape(client: Client, world: World) -> None:
    """Every escape, read and listed, is denied and shows nothing."""
    for escape in ESCAPES:
        for raw in (world.fill(escape.exists), world.fill(escape.missing)):
            for position in READING:
                result = await client.call_tool(position.tool, position.args(raw))
                assert result.is_error, (escape.label, position.label, result.structured_content)
                assert not leaks(world, result.model_dump_json())


async def read(client: Client, path: str) -> types.CallToolResult:
    return await client.call_tool("read_text_file", {"path": path})


# (client root URIs, the allowed directories they leave, paths that must read, paths that must be denied)
ROOT_CASES = {
    "outside every operator directory": (["file://{outside}"], [], [], ["{app}/a.txt", "{outside}/secret.txt"]),
    "filesystem root does not widen": (["file:///"], ["{app}"], ["a.txt", "{app}/sub/b.txt"], ["/etc/hostname"]),
    "empty list admits nothing": ([], [], [], ["a.txt", "{app}/a.txt", "{app}/sub/b.txt", "."]),
    "prefix look-alike": (["file://{evil}"], [], [], ["{app}/a.txt", "{evil}/secret.txt"]),
    "parent of the operator directory": (["file://{data}"], ["{app}"], ["a.txt"], ["{evil}/secret.txt", "{data}"]),
    "narrower": (
        ["file://{app}/sub"],
        ["{app}/sub"],
        ["b.txt", "{app}/sub/b.txt", "deeper/c.txt"],
        ["{app}/a.txt", "../a.txt", "link_to_a", "{app}/notes.md"],
    ),
    "a link inside pointing outside": (["file://{app}/link_dir"], [], [], ["{app}/a.txt", "{outside}/secret.txt"]),
    "a dangling link inside": (["file://{app}/link_dangling_dir"], [], [], ["{app}/a.txt"]),
    "an inside file, not a directory": (["file://{app}/a.txt"], [], [], ["{app}/a.txt"]),
    "another host": (["file://elsewhere{app}"], [], [], ["{app}/a.txt"]),
    "Cyrillic look-alike": (["file://{data}/%D0%B0pp"], [], [], ["{app}/a.txt", "{data}/\u0430pp/secret.txt"]),
    "percent-encoded ..": (["file://{app}/%2E%2E/app_evil"], [], [], ["{app}/a.txt", "{evil}/secret.txt"]),
    "mixed": (
        ["file://{outside}", "file://{evil}", "file://{app}/sub/deeper"],
        ["{app}/sub/deeper"],
        ["c.txt"],
        ["{app}/a.txt", "{app}/sub/b.txt", "{outside}/secret.txt"],
    ),
    "inside link to a subdirectory resolves to its real path": (
        ["file://{app}/subalias"],
        ["{app}/sub"],
        ["b.txt"],
        ["{app}/a.txt"],
    ),
}


@pytest.mark.parametrize("case", list(ROOT_CASES), ids=list(ROOT_CASES))
async def test_client_roots_only_narrow_the_operator_directories(world: World, era: str, case: str) -> None:
    uris, expected, readable, denied = ROOT_CASES[case]
    os.symlink("sub", world.app / "subalias")
    roots = ClientRoots([world.fill(uri) for uri in uris])
    guard = Guard(world)
    async with connect(connector, write_settings(world), era=era, list_roots_callback=roots) as client:
        assert await allowed(client) == [world.fill(path) for path in expected]
        for path in readable:
            result = await read(client, world.fill(path))
            assert not result.is_error, (path, text_of(result))
        for path in denied:
            result = await read(client, world.fill(path))
            assert result.is_error and DENIED in text_of(result), (path, text_of(result))
            written = await client.call_tool("write_file", {"path": f"{world.fill(path)}/new.txt", "content": "x"})
            assert written.is_error and DENIED in text_of(written), (path, text_of(written))
        await assert_no_escape(client, world)
    assert guard.changes() == []
    assert roots.calls >= 1


async def test_roots_list_changed_grants_and_revokes_for_the_next_call(world: World) -> None:
    """Legacy era: roots are re-read after notifications/roots/list_changed, and only then."""
    roots = ClientRoots([f"file://{world.app}/sub"])
    a_txt = f"{world.app}/a.txt"
    async with connect(connector, read_settings(world), era="legacy", list_roots_callback=roots) as client:
        assert (await read(client, a_txt)).is_error
        assert roots.calls == 1
        steps: list[tuple[list[str], bool]] = [
            ([f"file://{world.app}"], True),  # granted
            ([], False),  # revoked: empty admits nothing
            ([f"file://{world.app}"], True),
            ([f"file://{world.outside}"], False),  # revoked: an outside root grants nothing
            (["file:///"], True),
            ([f"file://{world.app}/sub"], False),  # narrowed again
        ]
        for number, (uris, readable) in enumerate(steps, start=2):
            roots.uris = uris
            await client.send_roots_list_changed()
            result = await read(client, a_txt)  # the very next call
            assert result.is_error != readable, (uris, text_of(result))
            assert roots.calls == number
            await assert_no_escape(client, world)
            assert roots.calls == number  # not asked again without a change
        roots.uris = [f"file://{world.app}"]  # changed, but the client did not say so
        assert (await read(client, a_txt)).is_error
        assert roots.calls == len(steps) + 1


async def test_roots_list_changed_revokes_at_once_every_time(world: World) -> None:
    """Revocation is never late: granted and revoked 40 times in a row, each next call obeys."""
    roots = ClientRoots([f"file://{world.app}"])
    async with connect(connector, read_settings(world), era="legacy", list_roots_callback=roots) as client:
        for turn in range(40):
            granted = turn % 2 == 0
            roots.uris = [f"file://{world.app}"] if granted else []
            await client.send_roots_list_changed()
            result = await read(client, "a.txt")
            assert result.is_error != granted, (turn, text_of(result))


async def test_roots_are_asked_on_every_call_in_the_2026_era(world: World) -> None:
    roots = ClientRoots([f"file://{world.app}"])
    async with connect(connector, read_settings(world), era="2026-07-28", list_roots_callback=roots) as client:
        assert not (await read(client, "a.txt")).is_error
        assert roots.calls == 1
        roots.uris = []  # revoked: the very next call sees it
        result = await read(client, "a.txt")
        assert result.is_error and DENIED in text_of(result)
        assert roots.calls == 2
        roots.uris = [f"file://{world.app}/sub"]
        assert (await read(client, f"{world.app}/a.txt")).is_error
        assert not (await read(client, "b.txt")).is_error
        roots.uris = ["file:///"]
        assert not (await read(client, "a.txt")).is_error
        assert (await read(client, f"{world.outside}/secret.txt")).is_error
        assert roots.calls == 6


async def test_a_call_before_the_first_roots_answer_waits_for_it(world: World, era: str) -> None:
    """The start-up race: calls made while the client is slow to list its roots wait for them,
    and then use them - never the wider operator directories."""
    roots = ClientRoots([f"file://{world.app}/sub"], gate=anyio.Event())
    results: dict[str, types.CallToolResult] = {}
    async with connect(connector, read_settings(world), era=era, list_roots_callback=roots) as client:

        async def call(path: str) -> None:
            results[path] = await read(client, path)

        async with anyio.create_task_group() as group:
            group.start_soon(call, f"{world.app}/a.txt")
            group.start_soon(call, f"{world.app}/sub/b.txt")
            group.start_soon(call, f"{world.outside}/secret.txt")
            with anyio.fail_after(5):
                await roots.asked.wait()
            await anyio.sleep(0.3)
            assert results == {}, "a call went ahead before the client listed its roots"
            assert roots.gate is not None
            roots.gate.set()
    assert DENIED in text_of(results[f"{world.app}/a.txt"])  # outside the client's root
    assert results[f"{world.app}/sub/b.txt"].structured_content is not None
    assert DENIED in text_of(results[f"{world.outside}/secret.txt"])
    assert not leaks(world, "".join(result.model_dump_json() for result in results.values()))
    assert roots.calls == (1 if era == "legacy" else 3)  # one answer serves every waiting call


async def test_a_revocation_during_a_roots_request_wins(world: World) -> None:
    """Legacy era: the client revokes while the server's roots request is still unanswered; the
    (stale, wider) answer to that request is not used - the call asks again."""
    gate = anyio.Event()
    asked = anyio.Event()
    answers = [[f"file://{world.app}"], []]

    async def stale_then_empty(context: Any) -> types.ListRootsResult:
        uris = answers.pop(0)  # the roots as they were when asked
        asked.set()
        if uris:
            await gate.wait()
        return types.ListRootsResult(roots=[types.Root(uri=uri) for uri in uris])

    results: list[types.CallToolResult] = []
    async with connect(connector, read_settings(world), era="legacy", list_roots_callback=stale_then_empty) as client:

        async def call() -> None:
            results.append(await read(client, "a.txt"))

        async with anyio.create_task_group() as group:
            group.start_soon(call)
            with anyio.fail_after(5):
                await asked.wait()
            await client.send_roots_list_changed()  # revoked before the first answer arrived
            await anyio.sleep(0.1)
            gate.set()
    assert answers == []  # asked twice
    assert results[0].is_error and "alpha" not in results[0].model_dump_json(), results[0].structured_content


async def test_over_http_a_handshake_era_client_needs_stateful_for_its_roots(world: World) -> None:
    """A handshake-era client on stateless HTTP (the HTTP default) cannot be asked for its roots,
    and its capabilities are unknown: the operator's directories apply, and the scope it is told
    says so (narrowed_by_client_roots is false). With --stateful its roots are honoured."""
    command = [str(Path(sys.executable).with_name("patchbay-filesystem")), str(world.app)]
    roots = ClientRoots([f"file://{world.app}/sub"])
    with http_server(command, env={"HOME": str(world.home)}) as server:
        async with Client(server.url, mode="legacy", list_roots_callback=roots) as client:
            listed = await client.call_tool("list_allowed_directories", {})
    assert listed.structured_content == {
        "directories": [{"path": str(world.app), "source": "operator directory"}],
        "narrowed_by_client_roots": False,
        "empty_because": None,
    }
    with http_server(command, "--stateful", env={"HOME": str(world.home)}) as server:
        async with Client(server.url, mode="legacy", list_roots_callback=roots) as client:
            result = await read(client, f"{world.app}/a.txt")
            listed = await client.call_tool("list_allowed_directories", {})
    assert result.is_error, f"read outside the client's roots: {result.structured_content}"
    assert "alpha" not in result.model_dump_json()
    assert listed.structured_content is not None
    assert listed.structured_content["narrowed_by_client_roots"] is True
    assert [d["path"] for d in listed.structured_content["directories"]] == [f"{world.app}/sub"]


async def test_a_client_that_never_lists_its_roots_gets_nothing(world: World) -> None:
    """Legacy era: the call fails closed after roots_timeout_seconds; nothing is read or written."""
    gate = anyio.Event()
    roots = ClientRoots([f"file://{world.app}"], gate=gate)
    guard = Guard(world)
    settings = write_settings(world, roots_timeout_seconds=0.4)
    try:
        async with connect(connector, settings, era="legacy", list_roots_callback=roots) as client:
            started = time.monotonic()
            result = await read(client, "a.txt")
            waited = time.monotonic() - started
            written = await client.call_tool("write_file", {"path": "new.txt", "content": "x"})
            listed = await client.call_tool("list_directory", {"path": "."})
            gate.set()
    finally:
        gate.set()
    assert 0.35 <= waited < 5
    for failed in (result, written, listed):
        assert failed.is_error
        assert "did not list its roots in time" in text_of(failed)
        assert "alpha" not in failed.model_dump_json()
    assert guard.changes() == []


async def test_a_roots_callback_that_fails_admits_nothing(world: World) -> None:
    """Legacy era: a client that answers roots/list with an error gets nothing, not the operator directories."""

    async def broken(context: Any) -> types.ListRootsResult:
        raise RuntimeError("no roots today")

    async with connect(connector, read_settings(world), era="legacy", list_roots_callback=broken) as client:
        for path in ("a.txt", f"{world.outside}/secret.txt"):
            try:
                result = await read(client, path)
            except MCPError:
                continue
            assert result.is_error, result.structured_content
            assert "alpha" not in result.model_dump_json()
            assert not leaks(world, result.model_dump_json())


async def test_resources_obey_client_roots(world: World, era: str) -> None:
    """The file:// resource reads through the same effective scope as the tools: a file the
    client's roots leave out is not readable as a resource either."""
    roots = ClientRoots([f"file://{world.app}/sub"])
    async with connect(connector, read_settings(world), era=era, list_roots_callback=roots) as client:
        denied_by_tool = await read(client, f"{world.app}/a.txt")
        assert denied_by_tool.is_error
        text = await read_resource_outcome(client, f"file://{world.app}/a.txt")
    assert not text.startswith("READ"), f"read outside the client's roots: {text}"


async def test_subscribe_obeys_client_roots(world: World) -> None:
    """Legacy era: subscribing outside the client's roots is refused (else it tells whether a
    file there exists, and when it changes)."""
    roots = ClientRoots([f"file://{world.app}/sub"])
    async with connect(connector, read_settings(world), era="legacy", list_roots_callback=roots) as client:
        await read(client, "b.txt")  # the roots are known
        try:
            await client.subscribe_resource(f"file://{world.app}/a.txt")
            subscribed = True
        except MCPError:
            subscribed = False
    assert not subscribed, "subscribed to a file outside the client's roots"


# Symlink-swap races -------------------------------------------------------------------

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(first: Path, second: Path) -> None:
    """Swap two names atomically (renameat2 RENAME_EXCHANGE)."""
    if _libc.renameat2(_AT_FDCWD, bytes(first), _AT_FDCWD, bytes(second), _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(first))


class Swapper(threading.Thread):
    """Flips a path between a real entry and a link to outside until stopped."""

    def __init__(self, flip: Callable[[int], None]) -> None:
        super().__init__(daemon=True)
        self.flip = flip
        self.stopping = threading.Event()
        self.swaps = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.flip(self.swaps)
                self.swaps += 1
        except BaseException as exc:
            self.error = exc


@pytest.fixture
def swapping() -> Iterator[Callable[[Callable[[int], None]], Swapper]]:
    started: list[Swapper] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # hand the GIL over often, so the swapper really runs between the server's steps

    def start(flip: Callable[[int], None]) -> Swapper:
        swapper = Swapper(flip)
        started.append(swapper)
        swapper.start()
        return swapper

    yield start
    for swapper in started:
        swapper.stopping.set()
        swapper.join(5)
    sys.setswitchinterval(interval)


RACE_SECONDS = 2.0
RACE_CALLS = 1000


async def race(
    client: Client,
    world: World,
    calls: Sequence[tuple[str, Callable[[int], dict[str, Any]]]],
    swapper: Swapper,
    *,
    seconds: float = RACE_SECONDS,
    most: int = RACE_CALLS,
) -> dict[str, int]:
    """Call the tools in turn while the swapper runs; counts outcomes, and stops at a result that
    shows anything outside (then `leaked` holds the call's number)."""
    tally = {"ok": 0, "error": 0}
    deadline = time.monotonic() + seconds
    for turn, (tool, args) in enumerate(cycle(calls)):
        if turn >= most or time.monotonic() > deadline:
            break
        result = await client.call_tool(tool, args(turn))
        dumped = result.model_dump_json()
        if leaks(world, dumped, [str(world.outside)]):
            tally["leaked"] = turn
            tally[f"leak: {tool} {args(turn)}: {dumped[:600]}"] = turn
            break
        tally["error" if result.is_error else "ok"] += 1
    swapper.stopping.set()
    swapper.join(5)
    assert swapper.error is None, swapper.error
    assert swapper.swaps > 200, swapper.swaps
    return tally


async def test_file_swapped_for_an_outside_link_in_a_loop(
    world: World, era: str, swapping: Callable[[Callable[[int], None]], Swapper]
) -> None:
    swap, spare = world.app / "swap.txt", world.app / ".swap-next"
    swap.write_text("inside-ok\n")
    (world.app / "copies").mkdir()
    guard = Guard(world)

    def flip(turn: int) -> None:
        if turn % 2:
            os.symlink(world.outside / "secret.txt", spare)
        else:
            spare.write_text("inside-ok\n")
        os.replace(spare, swap)  # the name is always there: a file or a link, never neither

    edit = {"old_text": "inside-ok", "new_text": "inside-ok"}
    calls = [
        ("read_text_file", lambda n: {"path": "swap.txt"}),
        ("get_file_info", lambda n: {"path": "swap.txt"}),
        ("write_file", lambda n: {"path": "swap.txt", "content": "inside-ok\n"}),
        ("read_multiple_files", lambda n: {"paths": ["swap.txt", "a.txt"]}),
        ("read_media_file", lambda n: {"path": "swap.txt"}),
        ("copy_file", lambda n: {"source": "swap.txt", "destination": f"copies/{n}.txt"}),
        ("edit_file", lambda n: {"path": "swap.txt", "edits": [edit]}),
        ("read_text_file", lambda n: {"path": "swap.txt", "tail": 1}),
    ]
    async with connect(connector, write_settings(world), era=era) as client:
        tally = await race(client, world, calls, swapping(flip))
        resource = await read_resource_outcome(client, f"file://{swap}")  # after the race: one more look
    assert "leaked" not in tally, tally
    assert world.canary not in resource
    assert tally["ok"] > 0 and tally["error"] > 0, tally  # both states were met
    assert guard.outside_changes() == []  # nothing written through the link; no secret copied in


async def test_directory_swapped_for_an_outside_link_in_a_loop(
    world: World, era: str, swapping: Callable[[Callable[[int], None]], Swapper]
) -> None:
    real, link = world.app / "swapdir", world.app / "swapdir.alt"
    real.mkdir()
    (real / "inner.txt").write_text("inside-ok\n")
    os.symlink(world.outside, link)
    guard = Guard(world)

    def flip(turn: int) -> None:
        exchange(real, link)  # 'swapdir' is a real directory, then a link to outside, then ...

    calls = [
        ("list_directory", lambda n: {"path": "swapdir"}),
        ("read_text_file", lambda n: {"path": "swapdir/secret.txt"}),
        ("read_text_file", lambda n: {"path": "swapdir/inner.txt"}),
        ("write_file", lambda n: {"path": f"swapdir/new-{n}.txt", "content": "inside-ok\n"}),
        ("get_file_info", lambda n: {"path": "swapdir/secret.txt"}),
        ("directory_tree", lambda n: {"path": ".", "max_depth": 4}),
        ("search_file_contents", lambda n: {"query": "TOPSECRET", "path": "swapdir"}),
        ("create_directory", lambda n: {"path": f"swapdir/dir-{n}"}),
        ("copy_file", lambda n: {"source": "a.txt", "destination": f"swapdir/copy-{n}.txt"}),
        ("search_files", lambda n: {"pattern": "**/*", "path": "swapdir"}),
    ]
    async with connect(connector, write_settings(world), era=era) as client:
        tally = await race(client, world, calls, swapping(flip))
    assert "leaked" not in tally, tally
    assert tally["ok"] > 0 and tally["error"] > 0, tally
    assert guard.outside_changes() == []  # every write landed inside


async def test_a_nested_allowed_directory_reached_through_a_moved_link(world: World, era: str) -> None:
    """Operator directories `app` and `app/x/subdir`: the client moves `x` away and moves an
    existing link to outside into its place. `app/x/subdir` must not now lead outside."""
    nested = world.app / "x" / "subdir"
    nested.mkdir(parents=True)
    (nested / "inside.txt").write_text("inside\n")
    guard = Guard(world)
    settings = {"roots": [str(world.app), str(nested)], "allow_writes": True, "confirm": "never"}
    async with connect(connector, settings, era=era) as client:
        for source, destination in (("x", "x_old"), ("link_dir", "x")):  # x is now a link to outside
            moved = await client.call_tool("move_file", {"source": source, "destination": destination})
            assert not moved.is_error, text_of(moved)
        guard.rebaseline()
        attempts = [
            await client.call_tool("read_text_file", {"path": f"{nested}/deep.txt"}),
            await client.call_tool("list_directory", {"path": str(nested)}),
            await client.call_tool("directory_tree", {"path": str(nested)}),
            await client.call_tool("write_file", {"path": f"{nested}/planted.txt", "content": "attacker\n"}),
            await client.call_tool("get_file_info", {"path": f"{nested}/deep.txt"}),
        ]
        resource = await read_resource_outcome(client, f"file://{nested}/deep.txt")
    problems = [text_of(result)[:200] for result in attempts if not result.is_error]
    problems += [found for result in attempts for found in leaks(world, result.model_dump_json())]
    problems += leaks(world, resource) + guard.outside_changes()
    assert not problems, "\n".join(problems)


async def test_an_ancestor_of_a_client_root_swapped_for_an_outside_link_in_a_loop(
    world: World, era: str, swapping: Callable[[Callable[[int], None]], Swapper]
) -> None:
    """The client's root is `app/x/subdir`; `app/x` flips between a real directory and a link to
    outside (which has a `subdir` too). The root must never be opened through the link."""
    real, link = world.app / "x", world.app / "x.alt"
    (real / "subdir").mkdir(parents=True)
    (real / "subdir" / "deep.txt").write_text("inside-ok\n")
    os.symlink(world.outside, link)
    guard = Guard(world)
    roots = ClientRoots([f"file://{real}/subdir"])

    def flip(turn: int) -> None:
        exchange(real, link)

    calls = [
        ("read_text_file", lambda n: {"path": "deep.txt"}),
        ("list_directory", lambda n: {"path": "."}),
        ("read_text_file", lambda n: {"path": f"{real}/subdir/deep.txt"}),
        ("write_file", lambda n: {"path": f"new-{n % 4}.txt", "content": "inside-ok\n"}),
    ]
    async with connect(connector, write_settings(world), era=era, list_roots_callback=roots) as client:
        tally = await race(client, world, calls, swapping(flip), seconds=3.0, most=2000)
    assert "leaked" not in tally, tally
    assert tally["ok"] > 0, tally
    assert guard.outside_changes() == []
