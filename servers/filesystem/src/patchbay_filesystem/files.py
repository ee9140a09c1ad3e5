"""File operations on located entries: all relative to an open directory, none following links."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
import stat
from typing import Any

import charset_normalizer

from patchbay import ToolError
from patchbay.content import Content
from patchbay.content import read_content as _read_content
from patchbay_filesystem import capabilities
from patchbay_filesystem.capabilities import O_CLOEXEC, O_NOFOLLOW, Unsupported
from patchbay_filesystem.paths import Located

_BINARY_SNIFF = 8192
_RENAME_NOREPLACE = 1
_COPY_CHUNK = 1 << 20


def is_binary(data: bytes) -> bool:
    """Whether `data` looks like a binary file (a NUL byte early on)."""
    return b"\x00" in data[:_BINARY_SNIFF]


def decode(data: bytes, encoding: str | None, *, truncated: bool, shown: str) -> tuple[str, str]:
    """Text and the encoding used: the given one, else UTF-8, else a detected one."""
    if encoding is not None:
        try:
            return data.decode(encoding, errors="replace"), encoding
        except (LookupError, ValueError):
            raise ToolError(f"Unknown encoding {encoding!r}; try utf-8, latin-1 or cp1252.") from None
    if is_binary(data):
        raise ToolError(f"{shown!r} is a binary file; use read_media_file to read it.")
    try:
        # A cut at the byte cap may split the last character: drop that fragment only.
        return data.decode("utf-8", errors="strict" if not truncated else "ignore"), "utf-8"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data[:65536]).best()
    if best is None or best.encoding is None:
        raise ToolError(f"Could not tell the encoding of {shown!r}; pass encoding= explicitly.")
    return data.decode(best.encoding, errors="replace"), best.encoding


def read_bytes(entry: Located, limit: int, *, from_end: bool = False) -> tuple[bytes, int, bool]:
    """Up to `limit` bytes of a regular file (its last ones with `from_end`): data, size, truncated."""
    fd = entry.open(os.O_RDONLY)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = "a directory; use list_directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise ToolError(f"{entry.raw!r} is {kind}.")
    with os.fdopen(fd, "rb") as file:
        if from_end and info.st_size > limit:
            file.seek(info.st_size - limit)
            return file.read(limit), info.st_size, True
        data = file.read(limit + 1)
    return data[:limit], info.st_size, len(data) > limit


def read_content(entry: Located, limit: int, **options: Any) -> Content:
    """A regular file as MCP content (`patchbay.content.read_content`): its size is known from
    fstat, so a file over `limit` is refused (binary) or read only up to it (text), never read whole."""
    fd = entry.open(os.O_RDONLY)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory; use list_directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ToolError(f"{entry.raw!r} is {kind}.")
        size = info.st_size
        return _read_content(size, lambda start, length: os.pread(fd, length, start), max_bytes=limit, **options)
    finally:
        os.close(fd)


def write_atomically(entry: Located, data: bytes) -> bool:
    """Replace (or create) the file with `data` in one step; keeps its mode. True if created."""
    if entry.name is None:
        raise ToolError(f"{entry.raw!r} is an allowed directory, not a file.")
    try:
        current = os.stat(entry.name, dir_fd=entry.dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        current = None
    if current is not None and stat.S_ISLNK(current.st_mode):
        raise ToolError(f"{entry.raw!r} is a symbolic link; write_file does not follow links. Write to its target.")
    if current is not None and not stat.S_ISREG(current.st_mode):
        raise ToolError(f"{entry.raw!r} exists and is not a regular file.")
    mode = stat.S_IMODE(current.st_mode) if current is not None else 0o666 & ~_UMASK
    temporary = f".{entry.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600, dir_fd=entry.dir_fd)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fchmod(file.fileno(), mode)
            os.fsync(file.fileno())
        # rename() replaces the name itself: it never writes through a link swapped in meanwhile.
        os.rename(temporary, entry.name, src_dir_fd=entry.dir_fd, dst_dir_fd=entry.dir_fd)
    except BaseException:
        _unlink_quietly(temporary, entry.dir_fd)
        raise
    return current is None


def copy(source: Located, destination: Located) -> int:
    """Copy a regular file's bytes and mode; never overwrites. Returns the bytes copied."""
    if destination.name is None:
        raise ToolError(f"{destination.raw!r} is an allowed directory; give a new file name inside it.")
    src = source.open(os.O_RDONLY)
    try:
        info = os.fstat(src)
        if not stat.S_ISREG(info.st_mode):
            raise ToolError(f"{source.raw!r} is not a regular file; copy_file copies files.")
        try:
            dst = os.open(
                destination.name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                stat.S_IMODE(info.st_mode),
                dir_fd=destination.dir_fd,
            )
        except FileExistsError:
            raise ToolError(f"{destination.raw!r} already exists; copy_file never overwrites.") from None
        try:
            copied = _copy_bytes(src, dst)
        except BaseException:
            os.close(dst)
            _unlink_quietly(destination.name, destination.dir_fd)
            raise
        os.close(dst)
        return copied
    finally:
        os.close(src)


def _copy_bytes(src: int, dst: int) -> int:
    """Every byte from `src` to `dst`: in the kernel with sendfile where it copies file to file, else
    through a buffer (macOS and the BSDs send to sockets only; Windows has no os.sendfile)."""
    copied = 0
    if capabilities.CURRENT.file_sendfile:
        while chunk := os.sendfile(dst, src, None, 1 << 24):
            copied += chunk
        return copied
    while data := os.read(src, _COPY_CHUNK):
        view = memoryview(data)
        while view:
            written = os.write(dst, view)
            view = view[written:]
        copied += len(data)
    return copied


def move(source: Located, destination: Located) -> None:
    """Rename without ever replacing an existing destination.

    With renameat2(RENAME_NOREPLACE) (Linux) in one atomic step. Without it (macOS, old
    Linux) a file or link moves by link + unlink, where link(2) fails on an existing
    destination just as atomically; a directory (which cannot be hard-linked) by making
    the destination directory first - mkdir(2) fails on an existing one - and renaming
    onto that empty placeholder. Both stay descriptor-relative and never follow a link.
    """
    if source.name is None or destination.name is None:
        raise ToolError("An allowed directory itself cannot be moved or replaced.")
    renameat2 = capabilities.CURRENT.renameat2
    if renameat2 is None:
        _move_without_renameat2(source, destination)
        return
    result = renameat2(
        source.dir_fd, os.fsencode(source.name), destination.dir_fd, os.fsencode(destination.name), _RENAME_NOREPLACE
    )
    if result == 0:
        return
    code = ctypes.get_errno()
    if code == errno.EEXIST:
        raise ToolError(f"{destination.raw!r} already exists; move_file never overwrites.")
    if code == errno.ENOENT:
        raise ToolError(f"No such file or directory: {source.raw!r}.")
    if code == errno.EXDEV:
        raise ToolError("Source and destination are on different filesystems; copy, then delete instead.")
    if code == errno.EINVAL:
        raise ToolError(f"Cannot move {source.raw!r} into itself.")
    raise OSError(code, os.strerror(code))


def _move_without_renameat2(source: Located, destination: Located) -> None:
    """Move without renameat2: a directory onto a placeholder it made, anything else by link + unlink."""
    assert source.name is not None and destination.name is not None
    try:
        before = os.stat(source.name, dir_fd=source.dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        raise ToolError(f"No such file or directory: {source.raw!r}.") from None
    if stat.S_ISDIR(before.st_mode):
        _move_directory_onto_placeholder(source, destination)
    else:
        _move_by_link(source, destination)


def _move_directory_onto_placeholder(source: Located, destination: Located) -> None:
    """mkdir the destination (fails if anything is there), then rename the directory onto it.

    rename(2) replaces an empty directory and never follows a link at the destination (a
    link or file there makes it fail), so the only thing it can replace is the placeholder -
    or an empty directory swapped in for it in the instant between the two calls.
    """
    assert source.name is not None and destination.name is not None
    try:
        os.mkdir(destination.name, 0o700, dir_fd=destination.dir_fd)
    except FileExistsError:
        raise ToolError(f"{destination.raw!r} already exists; move_file never overwrites.") from None
    try:
        os.rename(source.name, destination.name, src_dir_fd=source.dir_fd, dst_dir_fd=destination.dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.rmdir(destination.name, dir_fd=destination.dir_fd)
        if exc.errno == errno.EINVAL:
            raise ToolError(f"Cannot move {source.raw!r} into itself.") from None
        if exc.errno == errno.EXDEV:
            raise ToolError("Source and destination are on different filesystems; copy, then delete instead.") from None
        if exc.errno == errno.ENOENT:
            raise ToolError(f"No such file or directory: {source.raw!r}.") from None
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):  # the placeholder was replaced meanwhile
            raise ToolError(f"{destination.raw!r} appeared while moving; move_file never overwrites.") from None
        raise


def _move_by_link(source: Located, destination: Located) -> None:
    """Move a file or link: link the new name (fails if it exists), unlink the old one.

    The old name is removed only if it is still the entry that was linked.
    """
    assert source.name is not None and destination.name is not None
    if not capabilities.CURRENT.link_dir_fd:
        raise Unsupported(
            f"Cannot move {source.raw!r} on this platform: it has neither renameat2(RENAME_NOREPLACE) "
            "nor a descriptor-relative os.link, so a move could replace an existing destination."
        )
    try:
        os.link(
            source.name,
            destination.name,
            src_dir_fd=source.dir_fd,
            dst_dir_fd=destination.dir_fd,
            follow_symlinks=False,
        )
    except FileExistsError:
        raise ToolError(f"{destination.raw!r} already exists; move_file never overwrites.") from None
    except FileNotFoundError:
        raise ToolError(f"No such file or directory: {source.raw!r}.") from None
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise ToolError("Source and destination are on different filesystems; copy, then delete instead.") from None
        if exc.errno in (errno.EPERM, errno.EISDIR):  # became a directory since, or links are not allowed here
            raise Unsupported(
                f"Cannot move {source.raw!r} here without renameat2(RENAME_NOREPLACE): this filesystem refused "
                "a hard link, which is how move_file avoids replacing an existing destination on this platform."
            ) from None
        raise
    linked = os.stat(destination.name, dir_fd=destination.dir_fd, follow_symlinks=False)
    try:
        current = os.stat(source.name, dir_fd=source.dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        current = None
    if current is None:
        return  # the old name went away meanwhile: the entry is at its new name only, as asked
    if (current.st_dev, current.st_ino) != (linked.st_dev, linked.st_ino):
        # The old name was replaced while being moved: keep whatever is there now.
        raise ToolError(
            f"{source.raw!r} changed while being moved: it is now also at {destination.raw!r}; "
            "the old name was left as it is."
        )
    try:
        os.unlink(source.name, dir_fd=source.dir_fd)
    except OSError:
        _unlink_quietly(destination.name, destination.dir_fd)  # undo: one name, as before
        raise


def remove_tree(entry: Located) -> None:
    """Delete a directory and everything below it, descriptor-relative (shutil's safe rmtree).

    Raises:
        Unsupported: the platform's rmtree is not symlink-attack safe (it would follow a link
            swapped in during the walk); nothing is deleted.
    """
    assert entry.name is not None
    if not capabilities.CURRENT.fd_rmtree:
        raise Unsupported(
            f"Cannot delete {entry.raw!r} recursively on this platform: its shutil.rmtree cannot work "
            "descriptor-relative (rmtree.avoids_symlink_attacks is false), so a link swapped in during the "
            "delete could lead outside the allowed directories. Nothing was deleted."
        )
    shutil.rmtree(entry.name, dir_fd=entry.dir_fd)


def _unlink_quietly(name: str, dir_fd: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask() can only be read by setting it
