"""Finding a client's path inside the scope, without a window between check and use.

A path is normalised lexically, matched to the scope root that contains it, and then
walked one component at a time from an open descriptor of that root, each directory
opened with O_NOFOLLOW relative to its parent. A symbolic link met on the way is read
(never followed by the kernel) and its target is located again from the scope, so a
link that points outside the scope - or one swapped in after a check - cannot lead
there. What comes back is an open descriptor of the parent directory and the final
name; every operation then works relative to that descriptor, again with O_NOFOLLOW.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

from patchbay import InvalidArgument, ToolError
from patchbay import OutOfScope as ScopeError
from patchbay.scope import within
from patchbay_filesystem import capabilities
from patchbay_filesystem.capabilities import DIR_FLAGS as _DIR_FLAGS
from patchbay_filesystem.capabilities import O_CLOEXEC, O_NOFOLLOW, O_NONBLOCK

_MAX_LINKS = 40
# A byte that is not UTF-8 is shown as \xHH (HH >= 80), and a backslash that would read as
# such an escape as \x5c; on input both are turned back, so every name shown can be used.
_ESCAPED = re.compile(r"\\x([89a-fA-F][0-9a-fA-F]|5[cC])")
_TO_SHOW = re.compile("[\udc80-\udcff]|\\\\(?=x(?:[89a-fA-F][0-9a-fA-F]|5[cC]))")
_NAME_MAX = 255


@dataclass(frozen=True)
class Root:
    """A directory in the effective scope: its real path and where it came from."""

    path: str
    source: str

    def contains(self, path: str) -> bool:
        """Whether the normalised absolute `path` is this directory or inside it (whole components)."""
        return within(path, self.path)


class OutOfScope(ScopeError):
    """A path outside the allowed directories. Says nothing about what is there."""

    def __init__(self, raw: str) -> None:
        super().__init__(raw, "directories", "list_allowed_directories shows them")


class NotFound(ToolError):
    """A path inside the scope that does not exist."""

    def __init__(self, raw: str) -> None:
        super().__init__(f"No such file or directory: {raw!r}.")


@dataclass
class Located:
    """An entry inside the scope: the open directory that holds it, and its name there.

    `name` is None for a scope root itself; then `dir_fd` is the root.
    """

    dir_fd: int
    name: str | None
    path: str
    root: Root
    raw: str

    def open(self, flags: int, mode: int = 0o666) -> int:
        """Open the entry itself, never following a symbolic link.

        Non-blocking, so that opening a named pipe cannot stall the server; callers check
        the file type before reading.
        """
        flags |= O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK
        if self.name is None:
            return os.open(".", flags, dir_fd=self.dir_fd)
        try:
            return os.open(self.name, flags, mode, dir_fd=self.dir_fd)
        except FileNotFoundError:
            raise NotFound(self.raw) from None
        except IsADirectoryError:
            raise ToolError(f"{self.raw!r} is a directory; use list_directory.") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # swapped for a link since it was located
                raise ToolError(f"{self.raw!r} changed while being opened; try again.") from None
            raise

    def open_directory(self) -> int:
        """An open descriptor of the entry, which must be a directory."""
        try:
            return self.open(os.O_RDONLY | capabilities.O_DIRECTORY)
        except NotADirectoryError:
            raise ToolError(f"{self.raw!r} is not a directory.") from None

    def lstat(self) -> os.stat_result:
        """The entry's status, not following a symbolic link."""
        try:
            if self.name is None:
                return os.fstat(self.dir_fd)
            return os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise NotFound(self.raw) from None


def shown(name: str) -> str:
    """A file name or path as text any client can send back: bytes that are not UTF-8 (which
    `os.fsdecode` keeps as U+DC80..U+DCFF) as `\\xHH`, a backslash that would read as such
    an escape as `\\x5c`. A name without either comes back unchanged."""
    return _TO_SHOW.sub(_show_one, name)


def _show_one(match: re.Match[str]) -> str:
    char = match.group()
    return "\\x5c" if char == "\\" else f"\\x{ord(char) - 0xDC00:02x}"


def unshown(text: str) -> str:
    """The name `shown` gave `text` for: `\\xHH` escapes back to the bytes (as `os.fsdecode` has them)."""
    return _ESCAPED.sub(_unshow_one, text)


def _unshow_one(match: re.Match[str]) -> str:
    byte = int(match.group(1), 16)
    return "\\" if byte == 0x5C else chr(0xDC00 + byte)


Shown = Annotated[str, AfterValidator(shown)]
"""A name or path in a result, as `shown`."""


def normalise(scope: Sequence[Root], raw: str) -> str:
    """The absolute, lexically normalised form of a client's path (relative to the first root)."""
    if "\x00" in raw:
        raise InvalidArgument("path", "contains a NUL byte")
    if not raw.strip():
        raise InvalidArgument("path", "is empty; give a path inside an allowed directory")
    text = unshown(raw)
    if any(len(os.fsencode(part)) > _NAME_MAX for part in text.split("/")):
        raise InvalidArgument("path", f"has a name longer than {_NAME_MAX} bytes, more than a file system allows")
    if text == "~" or text.startswith("~/"):
        text = os.path.expanduser(text)
    if not text.startswith("/"):
        if not scope:
            raise OutOfScope(raw)
        text = posixpath.join(scope[0].path, text)
    return posixpath.normpath(text).replace("//", "/")


def root_of(scope: Sequence[Root], path: str) -> Root | None:
    """The innermost scope root that holds the normalised `path`."""
    holders = [root for root in scope if root.contains(path)]
    return max(holders, key=lambda root: len(root.path)) if holders else None


@contextmanager
def locate(scope: Sequence[Root], raw: str, *, follow: bool = True) -> Iterator[Located]:
    """Find `raw` inside the scope; the parent directory stays open for the block.

    `follow` resolves a symbolic link in the final component (inside the scope);
    without it the link itself is the entry (to inspect, replace or delete it).

    Raises:
        OutOfScope: the path, or a link on the way, leads outside the scope.
        NotFound: a directory on the way does not exist.
        Unsupported: the platform lacks what a race-free walk needs (O_NOFOLLOW, O_DIRECTORY, dir_fd).
    """
    capabilities.CURRENT.require_path_walk()
    path = normalise(scope, raw)
    for _ in range(_MAX_LINKS):
        root = root_of(scope, path)
        if root is None:
            raise OutOfScope(raw)
        fd, name, where, next_path = _walk(root, path, raw, follow)
        if next_path is not None:
            path = next_path
            continue
        try:
            yield Located(fd, name, where, root, raw)
        finally:
            os.close(fd)
        return
    raise ToolError(f"Too many levels of symbolic links in {raw!r}.")


def _walk(root: Root, path: str, raw: str, follow: bool) -> tuple[int, str | None, str, str | None]:
    """Walk `path` down from `root`: (parent fd, name, real path, None), or a link's target path."""
    relative = path[len(root.path) :].strip("/")
    parts = relative.split("/") if relative else []
    fd = _open_root(root)
    where = root.path
    try:
        for index, part in enumerate(parts[:-1]):
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR) and (target := _link_target(part, fd)) is not None:
                    os.close(fd)
                    return -1, None, "", _rebase(where, target, parts[index + 1 :])
                if exc.errno == errno.ENOENT:
                    raise NotFound(raw) from None
                if exc.errno == errno.ENOTDIR:
                    raise ToolError(f"{raw!r}: {part!r} is not a directory.") from None
                raise
            os.close(fd)
            fd = child
            where = posixpath.join(where, part)
        if not parts:
            return fd, None, where, None
        name = parts[-1]
        if follow and (target := _link_target(name, fd)) is not None:
            os.close(fd)
            return -1, None, "", _rebase(where, target, [])
        return fd, name, posixpath.join(where, name), None
    except BaseException:
        os.close(fd)
        raise


def _open_root(root: Root) -> int:
    """Open a scope root from `/`, one component at a time, refusing any link on the way.

    Roots are real paths, so a link anywhere in one means it was replaced after start-up
    (for example a parent directory moved away and a link put in its place).
    """
    fd = os.open("/", _DIR_FLAGS)
    try:
        for part in filter(None, root.path.split("/")):
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except OSError:
        os.close(fd)
        raise ToolError(f"The allowed directory {root.path!r} no longer exists or was replaced.") from None
    return fd


def _link_target(name: str, dir_fd: int) -> str | None:
    """The target of `name` if it is a symbolic link, else None."""
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOENT):  # not a link (any more), or gone
            return None
        raise


def _rebase(directory: str, target: str, rest: list[str]) -> str:
    """Where a link found in `directory` leads, with the rest of the path appended."""
    joined = posixpath.join(directory, target, *rest)  # an absolute target replaces the directory
    return posixpath.normpath(joined)
