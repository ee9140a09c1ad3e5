"""Walking a directory tree inside the scope: descriptor-relative, never following links.

Used by the tree and search tools. Each directory is listed through its own open
descriptor and entered with O_NOFOLLOW, so the walk cannot be steered outside the
scope. Symbolic links are reported as links, not followed. The walk yields control
to the event loop regularly, so a long walk reports progress and can be cancelled.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal

import anyio.lowlevel
from mcp.server.mcpserver import Context
from pathspec import GitIgnoreSpec

from patchbay import InvalidArgument

Kind = Literal["file", "directory", "symlink", "other"]
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHECKPOINT_EVERY = 256
_PROGRESS_EVERY = 2000


def kind_of(mode: int) -> Kind:
    """The kind of entry a `st_mode` describes."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def patterns(argument: str, globs: Sequence[str]) -> GitIgnoreSpec | None:
    """Gitignore-style patterns (`*.log`, `node_modules/`, `src/**/*.py`), or None when empty."""
    if not globs:
        return None
    try:
        return GitIgnoreSpec.from_lines(globs)
    except ValueError as exc:
        raise InvalidArgument(argument, f"not a valid glob pattern: {exc}") from None


@dataclass
class Found:
    """One entry met on a walk; `dir_fd` (valid until the walk moves on) holds it as `name`."""

    path: str
    name: str
    kind: Kind
    depth: int
    dir_fd: int


def _kind(entry: os.DirEntry[str]) -> Kind:
    # From the directory listing itself (d_type): no stat() per entry.
    if entry.is_symlink():
        return "symlink"
    if entry.is_dir(follow_symlinks=False):
        return "directory"
    if entry.is_file(follow_symlinks=False):
        return "file"
    return "other"


class Progress:
    """Reports progress to the client every so many entries, when it asked for progress."""

    def __init__(self, ctx: Context, what: str) -> None:
        self._ctx = ctx
        self._what = what
        self.count = 0

    async def tick(self) -> None:
        """Count one entry; yield to the event loop and report progress now and then."""
        self.count += 1
        if self.count % _CHECKPOINT_EVERY == 0:
            await anyio.lowlevel.checkpoint()  # lets a cancelled call stop here
        if self.count % _PROGRESS_EVERY == 0:
            await self._ctx.report_progress(self.count, None, f"{self.count} entries {self._what}")


async def walk(
    dir_fd: int,
    *,
    progress: Progress,
    max_depth: int | None = None,
    exclude: GitIgnoreSpec | None = None,
) -> AsyncIterator[Found]:
    """Every entry below the open directory `dir_fd`, depth first, names in sorted order.

    `path` is relative to the starting directory. Excluded directories are not entered.
    """
    stack: list[tuple[int, str, int]] = [(os.dup(dir_fd), "", 1)]
    children: list[tuple[int, str, int]] = []
    try:
        while stack:
            fd, prefix, depth = stack.pop()
            children = []
            try:
                entries = sorted(os.scandir(fd), key=lambda entry: entry.name)
            except OSError:
                entries = []  # unreadable directory: nothing to report inside it
            try:
                for entry in entries:
                    path = f"{prefix}{entry.name}"
                    try:
                        kind = _kind(entry)
                    except OSError:
                        continue  # vanished while walking
                    if exclude is not None and exclude.match_file(f"{path}/" if kind == "directory" else path):
                        continue
                    await progress.tick()
                    yield Found(path, entry.name, kind, depth, fd)
                    if kind == "directory" and (max_depth is None or depth < max_depth):
                        try:
                            child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                        except OSError:
                            continue  # replaced by a link or removed since listed: not entered
                        children.append((child, f"{path}/", depth + 1))
            finally:
                os.close(fd)
            stack.extend(reversed(children))
            children = []
    finally:
        for fd, _, _ in stack + children:
            os.close(fd)
