"""What this platform offers for race-free file work, found once at import, never assumed.

The connector's safety rests on a few primitives: `O_NOFOLLOW` and `O_DIRECTORY` opens,
descriptor-relative calls (`dir_fd`), and for move and copy `renameat2(RENAME_NOREPLACE)`
and file-to-file `sendfile`. Linux has them all; macOS has the first three but neither
of the last two; Windows has none of them. Nothing here fails at import on any of them:
each primitive is looked up with `getattr`, and where one is missing the operation that
needs it takes a fallback that keeps the scope rule, or refuses and names what is missing.

| missing | what happens |
|---|---|
| `O_NOFOLLOW`, `O_DIRECTORY`, `dir_fd` support | every tool that takes a path refuses (no race-free walk) |
| `renameat2` | files and links move by `link` + `unlink`, directories onto a placeholder made by `mkdir` |
| file-to-file `sendfile` | copy uses a read/write loop |
| fd-based `shutil.rmtree` | a recursive directory delete refuses |

`CURRENT` is the live record; tests switch a capability off by setting its field.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from patchbay import ToolError

O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
O_DIRECTORY: int = getattr(os, "O_DIRECTORY", 0)
O_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)
O_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
DIR_FLAGS: int = os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
"""Flags to open a directory without following a link (0 for what the platform lacks)."""

_RENAME_NOREPLACE = 1
Renameat2 = Callable[[int, bytes, int, bytes, int], int]


def _find_renameat2() -> Renameat2 | None:
    """libc's `renameat2`, or None where there is no such function (macOS, Windows, old glibc)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


def _dir_fd_calls() -> list[str]:
    """The descriptor-relative calls the connector makes that this platform lacks."""
    missing = [
        f"os.{function.__name__}(dir_fd=)"
        for function in (os.open, os.stat, os.readlink, os.mkdir, os.rmdir, os.unlink, os.rename)
        if function not in os.supports_dir_fd
    ]
    if os.stat not in os.supports_follow_symlinks:
        missing.append("os.stat(follow_symlinks=False)")
    if os.scandir not in os.supports_fd:
        missing.append("os.scandir(fd)")
    return missing


@dataclass
class Capabilities:
    """The race-free primitives this platform has. Each field switched off forces its fallback."""

    nofollow: bool = field(default_factory=lambda: hasattr(os, "O_NOFOLLOW"))
    directory: bool = field(default_factory=lambda: hasattr(os, "O_DIRECTORY"))
    dir_fd_missing: list[str] = field(default_factory=_dir_fd_calls)
    """Descriptor-relative calls the platform lacks (empty when it has them all)."""
    renameat2: Renameat2 | None = field(default_factory=_find_renameat2)
    file_sendfile: bool = field(
        # macOS and the BSDs have sendfile to sockets only; Linux since 2.6.33 to any file.
        default_factory=lambda: sys.platform.startswith("linux") and hasattr(os, "sendfile")
    )
    link_dir_fd: bool = field(
        default_factory=lambda: os.link in os.supports_dir_fd and os.link in os.supports_follow_symlinks
    )
    """`os.link(src_dir_fd=, dst_dir_fd=, follow_symlinks=False)`: the no-replace move without renameat2."""
    fd_rmtree: bool = field(default_factory=lambda: bool(shutil.rmtree.avoids_symlink_attacks))

    def path_walk_missing(self) -> list[str]:
        """What a race-free path walk needs and this platform lacks; empty when it has it all."""
        missing = [] if self.nofollow else ["os.O_NOFOLLOW"]
        if not self.directory:
            missing.append("os.O_DIRECTORY")
        return missing + self.dir_fd_missing

    def require_path_walk(self) -> None:
        """Refuse when a path cannot be followed without a window for a link to lead out of scope.

        Raises:
            Unsupported: naming the missing primitives.
        """
        if missing := self.path_walk_missing():
            raise Unsupported(
                "This platform cannot open a path without a window in which a symbolic link could lead "
                f"outside the allowed directories (missing: {', '.join(missing)}), so the filesystem "
                "connector refuses every file operation here rather than risk an escape (Linux and macOS "
                "have them)."
            )

    def notes(self) -> list[str]:
        """Start-up notes: each missing primitive and what the connector does instead."""
        notes = []
        if missing := self.path_walk_missing():
            notes.append(
                f"filesystem: this platform lacks {', '.join(missing)}: paths cannot be opened race-free, "
                "so every tool that takes a path will be refused (list_allowed_directories still works)."
            )
        if self.renameat2 is None:
            files = (
                "files and links by link + unlink" if self.link_dir_fd else "files and links not at all (no os.link)"
            )
            notes.append(
                "filesystem: renameat2(RENAME_NOREPLACE) is not available: move_file moves directories by "
                f"making the destination first and renaming onto it, {files}; neither replaces an existing entry."
            )
        if not self.file_sendfile:
            notes.append("filesystem: file-to-file sendfile is not available: copy_file uses a read/write loop.")
        if not self.fd_rmtree:
            notes.append(
                "filesystem: shutil.rmtree cannot work descriptor-relative here (not symlink-attack safe): "
                "delete_directory refuses recursive deletes."
            )
        return notes


class Unsupported(ToolError):
    """An operation this platform cannot do without risking the scope rule; says what is missing."""


CURRENT = Capabilities()
"""This platform's capabilities, found at import."""
