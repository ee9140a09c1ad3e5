"""Walking a directory tree inside the scope: descriptor-relative, never following links.

Used by the tree and search tools and by delete_directory's question. Each directory is
listed through its own open descriptor and entered with O_NOFOLLOW, so the walk cannot
be steered outside the scope. Symbolic links are reported as links, not followed.

The walk is blocking work: it runs in a worker thread (the tools that walk are plain
`def`s, which the base runs off the event loop). Every entry goes through
`Progress.advance`, a cancellation checkpoint, so a cancelled call stops between two
entries and frees its worker.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Literal

import re2  # type: ignore[import-untyped]
from pathspec import GitIgnoreSpec

from patchbay import InvalidArgument, Progress, checkpoint
from patchbay_filesystem.paths import shown

Kind = Literal["file", "directory", "symlink", "other"]
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


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
    """Gitignore-style patterns (`*.log`, `node_modules/`, `src/**/*.py`), or None when empty.

    Compiled with RE2 (pathspec's `re2` backend): matching takes time linear in the path,
    whatever the pattern. The tools bound each pattern's length in their schema.
    """
    if not globs:
        return None
    try:
        return GitIgnoreSpec.from_lines(globs, backend="re2")
    except ValueError as exc:
        raise InvalidArgument(argument, f"not a valid glob pattern: {exc}") from None
    except re2.error:
        raise InvalidArgument(argument, "is too complex to compile; use fewer or simpler patterns") from None


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


def walk(
    dir_fd: int,
    *,
    progress: Progress | None = None,
    max_depth: int | None = None,
    exclude: GitIgnoreSpec | None = None,
) -> Generator[Found, None, None]:
    """Every entry below the open directory `dir_fd`, depth first, names in sorted order.

    `path` is relative to the starting directory. Excluded directories are not entered.
    Each entry is counted on `progress`; every entry is a cancellation checkpoint.

    Raises:
        WorkCancelled: the call this walk works for was cancelled.
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
                    if exclude is not None and exclude.match_file(shown(f"{path}/" if kind == "directory" else path)):
                        continue
                    if progress is not None:
                        progress.advance()  # a checkpoint too
                    else:
                        checkpoint()
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


@dataclass(frozen=True)
class Survey:
    """What a directory holds: counts, and a digest of every relative path and its kind."""

    files: int
    directories: int
    digest: str


def survey(dir_fd: int, progress: Progress | None = None) -> Survey:
    """Count and fingerprint the tree below `dir_fd` (links count as files, never followed).

    One walk, constant memory: the paths are streamed into the hash, never kept, so the
    cost is the walk itself however large the tree. The walk's order is fixed (sorted
    names), so the same tree always gives the same digest.
    """
    files = directories = 0
    digest = hashlib.sha256()
    for found in walk(dir_fd, progress=progress):
        if found.kind == "directory":
            directories += 1
        else:
            files += 1
        # NUL separates entries: no file name can contain it, so no two trees hash alike by accident.
        digest.update(f"{found.kind}:{found.path}\0".encode(errors="surrogateescape"))
    return Survey(files, directories, digest.hexdigest()[:16])
