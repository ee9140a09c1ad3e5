"""The filesystem connector's tools. Every path goes through the call's scope (`InScope`).

Every tool that touches the disk is a plain `def`: the base runs it in a worker thread
under the `--workers` limit, so a long walk, a large read or a slow disk never holds up
another client's calls. The scope is still resolved on the event loop first (`InScope`
is async: it may ask the client for its roots). Walks and searches stop at the next
entry or file once their call is cancelled (`patchbay.checkpoint`).
"""

from __future__ import annotations

import difflib
import os
import posixpath
import stat
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote, urlparse

import mcp_types as types
from mcp.server.connection import Connection
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.server.mcpserver.resources.templates import ResourceSecurity
from pydantic import BaseModel, Field

from patchbay import (
    Connector,
    Cursor,
    InvalidArgument,
    MCPError,
    Page,
    Progress,
    Question,
    ResourceDenied,
    ResourceNotFound,
    Runtime,
    ToolError,
    __version__,
    check_unchanged,
    checkpoint,
    fingerprint,
    runtime_of,
)
from patchbay.model_text import cell, fields, short_size, short_time, table
from patchbay_filesystem import files, grep, paths
from patchbay_filesystem.paths import Located, NotFound, OutOfScope, Shown, locate, normalise, root_of
from patchbay_filesystem.scope import (
    InScope,
    Request,
    Scope,
    client_supports_roots,
    handshake_scope,
    is_modern,
    narrowed,
)
from patchbay_filesystem.settings import FilesystemSettings
from patchbay_filesystem.state import FilesystemState, filesystem_state
from patchbay_filesystem.walk import Found, Kind, Survey, kind_of, patterns, survey, walk

connector: Connector[FilesystemSettings, FilesystemState] = Connector(
    "filesystem",
    title="Filesystem",
    version=__version__,
    settings=FilesystemSettings,
    description="Read, search and (when allowed) change files in the directories the operator chose.",
    instructions=(
        "Paths may be absolute or relative to the first allowed directory; list_allowed_directories shows "
        "the directories you may use. Nothing outside them is reachable, through links or otherwise."
    ),
    lifespan=filesystem_state,
    open_world=False,
)

Path = Annotated[str, Field(max_length=4096, description="Absolute, or relative to the first allowed directory.")]
MAX_PATTERN = 1000
Glob = Annotated[str, Field(max_length=MAX_PATTERN)]
Globs = Annotated[
    list[Glob], Field(max_length=100, description="Gitignore-style globs to skip, e.g. ['node_modules/'].")
]


def _settings(ctx: Context) -> FilesystemSettings:
    state: FilesystemState = connector.state(ctx)
    return state.settings


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


# Reading ----------------------------------------------------------------------------


class TextFile(BaseModel):
    """Text read from a file."""

    path: Shown
    encoding: str
    content: str
    lines: int = Field(description="Lines in `content`.")
    truncated: bool = Field(description="True when the byte cap cut the read short.")
    size: int = Field(description="The file's size in bytes.")

    def model_text(self) -> str:
        if not self.truncated:
            return self.content
        return f"{self.content}\n[Cut by the byte cap; the file has {self.size} bytes. Read on with offset/limit.]"


@connector.tool("read")
def read_text_file(
    ctx: Context,
    scope: InScope,
    path: Path,
    encoding: Annotated[str | None, Field(max_length=64, description="Text encoding; detected when omitted.")] = None,
    head: Annotated[int | None, Field(ge=1, description="Only the first N lines.")] = None,
    tail: Annotated[int | None, Field(ge=1, description="Only the last N lines.")] = None,
    offset: Annotated[int | None, Field(ge=0, description="Skip this many lines first (0-based).")] = None,
    limit: Annotated[int | None, Field(ge=1, description="At most this many lines (with offset).")] = None,
    max_bytes: Annotated[int | None, Field(ge=1, description="Read at most this many bytes.")] = None,
) -> TextFile:
    """Read a text file, whole or in part (head, tail, or offset/limit lines), up to a byte cap."""
    if head is not None and tail is not None:
        raise InvalidArgument("tail", "cannot be combined with head; use one of them")
    cap = min(max_bytes or _settings(ctx).max_read_bytes, _settings(ctx).max_read_bytes)
    with locate(scope.roots, path) as entry:
        data, size, truncated = files.read_bytes(entry, cap, from_end=tail is not None)
        text, used = files.decode(data, encoding, truncated=truncated, shown=path)
        shown = entry.path
    lines = text.splitlines(keepends=True)
    if tail is not None:
        lines = lines[1:] if truncated else lines  # the first line was cut by the cap
        lines = lines[-tail:]
    elif head is not None:
        lines = lines[:head]
    elif offset is not None or limit is not None:
        start = offset or 0
        lines = lines[start : None if limit is None else start + limit]
    return TextFile(path=shown, encoding=used, content="".join(lines), lines=len(lines), truncated=truncated, size=size)


@connector.tool("read")
def read_media_file(ctx: Context, scope: InScope, path: Path) -> types.CallToolResult:
    """Read an image or audio file as MCP image/audio content; other files as an embedded blob."""
    limit = _settings(ctx).max_media_bytes
    with locate(scope.roots, path) as entry:
        got = files.read_content(entry, limit, name=entry.path, uri=_uri(entry.path), as_text=False)
    return types.CallToolResult(content=[got.block])


class FileRead(BaseModel):
    """One file of read_multiple_files: its text, or why it could not be read."""

    path: Shown
    content: str | None = None
    encoding: str | None = None
    truncated: bool = False
    error: str | None = None

    def model_text(self) -> str:
        if self.error is not None:
            return f"{self.path}: error: {self.error}"
        return f"{self.path}:\n{self.content}" + ("\n[Cut by the byte cap.]" if self.truncated else "")


class FilesRead(BaseModel):
    """The files, in the order asked."""

    files: list[FileRead]

    def model_text(self) -> str:
        return "\n---\n".join(file.model_text() for file in self.files)


@connector.tool("read")
def read_multiple_files(
    ctx: Context,
    scope: InScope,
    paths: Annotated[list[Path], Field(min_length=1, max_length=100, description="Paths to read.")],
) -> FilesRead:
    """Read several text files at once; a file that fails does not stop the others."""
    settings = _settings(ctx)
    budget = settings.max_result_bytes  # reading stops once the answer is full, so memory stays bounded
    results = []
    for path in paths:
        checkpoint()  # a cancelled call stops between files
        if budget <= 0:
            results.append(FileRead(path=path, error=_not_read(settings.max_result_bytes)))
            continue
        read = _read_one(scope, path, min(settings.max_read_bytes, budget))
        budget -= len((read.content or "").encode()) + len(read.error or "")
        results.append(read)
    return FilesRead(files=results)


def _read_one(scope: Scope, path: str, cap: int) -> FileRead:
    """One file of read_multiple_files, at most `cap` bytes of it, or why it could not be read."""
    try:
        with locate(scope.roots, path) as entry:
            data, _, truncated = files.read_bytes(entry, cap)
            text, used = files.decode(data, None, truncated=truncated, shown=path)
            return FileRead(path=entry.path, content=text, encoding=used, truncated=truncated)
    except ToolError as exc:
        return FileRead(path=path, error=str(exc))


def _not_read(limit: int) -> str:
    return (
        f"not read: the answer reached the {limit}-byte result limit before this file; "
        "read it in another call (read_text_file reads one file in parts)."
    )


# Listing and searching ------------------------------------------------------------


class DirectoryEntry(BaseModel):
    """One entry of a directory."""

    name: Shown
    type: Kind
    size: int = Field(description="Bytes (for a symbolic link: the link itself).")
    modified: str

    @classmethod
    def model_text_items(cls, items: list[DirectoryEntry]) -> str:
        """Size (files only) and name, marked like the tree: 'src/', 'link@'."""
        rows = [(short_size(e.size) if e.type == "file" else "", e.name + _MARKS[e.type]) for e in items]
        return table(rows, right={0}, gap=" ")


@connector.tool("read", paginated=True)
def list_directory(
    scope: InScope,
    path: Path = ".",
    sort: Annotated[Literal["name", "size", "modified"], Field(description="Order of the entries.")] = "name",
    reverse: bool = False,
    cursor: Cursor = None,
    limit: Annotated[int, Field(ge=1, le=1000, description="Entries per page.")] = 200,
) -> Page[DirectoryEntry]:
    """List a directory's entries with their types, sizes and modification times."""
    with locate(scope.roots, path) as entry:
        fd = entry.open_directory()
        try:
            listed = [(child.name, child.stat(follow_symlinks=False)) for child in os.scandir(fd)]
        finally:
            os.close(fd)
    key = {"name": lambda e: e[0], "size": lambda e: (e[1].st_size, e[0]), "modified": lambda e: (e[1].st_mtime, e[0])}
    listed.sort(key=key[sort], reverse=reverse)
    start = int(cursor) if cursor else 0
    page = listed[start : start + limit]
    end = start + len(page)
    return Page(
        items=[
            DirectoryEntry(name=name, type=kind_of(info.st_mode), size=info.st_size, modified=_iso(info.st_mtime))
            for name, info in page
        ],
        next_cursor=str(end) if end < len(listed) else None,
    )


class Tree(BaseModel):
    """A directory tree as an indented listing, cut at the depth and entry limits."""

    path: Shown
    tree: str = Field(
        description="One entry per line, indented two spaces per level; directories end with '/', "
        "symbolic links with '@' (shown, not followed), other special files with '?'."
    )
    entries: int
    truncated: bool = Field(description="True when max_entries stopped the walk early.")

    def model_text(self) -> str:
        if not self.truncated:
            return self.tree
        return f"{self.tree}\n[Stopped at {self.entries} entries: raise max_entries, or narrow path or max_depth.]"


_MARKS = {"directory": "/", "symlink": "@", "other": "?", "file": ""}


@connector.tool("read")
def directory_tree(
    ctx: Context,
    scope: InScope,
    path: Path = ".",
    max_depth: Annotated[int, Field(ge=1, le=64, description="Levels below the directory to show.")] = 3,
    max_entries: Annotated[int, Field(ge=1, le=100_000, description="Stop after this many entries.")] = 2000,
    exclude: Globs = [],  # noqa: B006 - pydantic copies defaults
) -> Tree:
    """Show the tree below a directory, up to a depth and an entry count."""
    skip = patterns("exclude", exclude)
    children: dict[str, list[tuple[str, str]]] = {"": []}  # directory path -> (name + mark, path)
    progress = Progress(ctx, "entries walked")
    truncated = False
    with _walking(scope, path, progress, max_depth=max_depth, exclude=skip) as (shown, found_below):
        for found in found_below:
            if progress.count > max_entries:
                truncated = True
                break
            parent = found.path.rpartition("/")[0]
            children[parent].append((paths.shown(found.name) + _MARKS[found.kind], found.path))
            if found.kind == "directory":
                children[found.path] = []
    lines: list[str] = []
    stack = [(item, 0) for item in reversed(children[""])]
    while stack:
        (label, at), depth = stack.pop()
        lines.append("  " * depth + label)
        stack += [(item, depth + 1) for item in reversed(children.get(at, []) if label.endswith("/") else [])]
    return Tree(path=shown, tree="\n".join(lines), entries=len(lines), truncated=truncated)


@contextmanager
def _walking(scope: Scope, path: str, progress: Progress, **options: Any) -> Iterator[tuple[str, Iterator[Found]]]:
    """The real path of a directory in scope and the walk below it, both closed when the block ends."""
    with locate(scope.roots, path) as entry:
        fd = entry.open_directory()
        try:
            with closing(walk(fd, progress=progress, **options)) as found_below:
                yield entry.path, found_below
        finally:
            os.close(fd)


class FileMatch(BaseModel):
    """A path whose name matched."""

    path: Shown
    type: Kind

    @classmethod
    def model_text_items(cls, items: list[FileMatch]) -> str:
        """Paths below their common directory (named once), directories ending with '/'."""
        paths = [m.path + ("/" if m.type == "directory" else "") for m in items]
        base = posixpath.commonpath([posixpath.dirname(m.path) for m in items])
        if len(base) <= 1:
            return "\n".join(paths)
        return f"in {base}/:\n" + "\n".join(path[len(base) + 1 :] for path in paths)


@connector.tool("read", paginated=True)
def search_files(
    ctx: Context,
    scope: InScope,
    pattern: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_PATTERN,
            description="Glob on paths, gitignore-style: '*.py', 'src/**/test_*.py'.",
        ),
    ],
    path: Path = ".",
    exclude: Globs = [],  # noqa: B006
    cursor: Cursor = None,
    max_results: Annotated[int, Field(ge=1, le=10_000, description="Matches per page.")] = 200,
) -> Page[FileMatch]:
    """Find files and directories below a directory whose paths match a glob."""
    wanted = patterns("pattern", [pattern])
    assert wanted is not None
    skip = patterns("exclude", exclude)
    already = int(cursor) if cursor else 0
    matches: list[FileMatch] = []
    seen = 0
    more = False
    with _walking(scope, path, Progress(ctx, "entries searched"), exclude=skip) as (base, found_below):
        for found in found_below:
            if not wanted.match_file(paths.shown(f"{found.path}/" if found.kind == "directory" else found.path)):
                continue
            seen += 1
            if seen <= already:
                continue
            if len(matches) == max_results:
                more = True
                break
            matches.append(FileMatch(path=f"{base.rstrip('/')}/{found.path}", type=found.kind))
    return Page(items=matches, next_cursor=str(already + len(matches)) if more else None)


class ContentMatch(BaseModel):
    """A matching line, with context."""

    path: Shown
    line: int = Field(description="1-based line number.")
    text: str
    before: list[str] = []
    after: list[str] = []


class ContentSearch(BaseModel):
    """Matching lines, and how much was searched."""

    matches: list[ContentMatch]
    files_searched: int
    files_skipped: int = Field(description="Binary files and files over the size cap, not searched.")
    truncated: bool = Field(description="True when max_matches or the result limit stopped the search early.")

    def model_text(self) -> str:
        """grep-like: each file's path once, then 'line: text' (context lines 'line- text')."""
        lines: list[str] = []
        base = posixpath.commonpath([posixpath.dirname(m.path) for m in self.matches]) if self.matches else ""
        strip = len(base) + 1 if len(base) > 1 else 0
        if strip:
            lines.append(f"in {base}/:")
        current = None
        for m in self.matches:
            if m.path != current:
                current = m.path
                lines.append(m.path[strip:])
            lines += [f"{m.line - len(m.before) + i}- {cell(text)}" for i, text in enumerate(m.before)]
            lines.append(f"{m.line}: {cell(m.text)}")
            lines += [f"{m.line + 1 + i}- {cell(text)}" for i, text in enumerate(m.after)]
        files = len({m.path for m in self.matches})
        lines.append(
            f"{len(self.matches)} matches in {files} files; {self.files_searched} searched, "
            f"{self.files_skipped} skipped (binary or over the cap)"
        )
        if self.truncated:
            lines.append("[Stopped at max_matches or the result limit: narrow the path, include or query.]")
        return "\n".join(lines)


@connector.tool("read")
def search_file_contents(
    ctx: Context,
    scope: InScope,
    query: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_PATTERN * 10,
            description="Text to find; with regex=true a regular expression in RE2 syntax "
            "(no backreferences or lookaround: matching takes time linear in the text).",
        ),
    ],
    path: Path = ".",
    regex: bool = False,
    case_sensitive: bool = True,
    include: Annotated[
        list[Glob], Field(max_length=100, description="Only files matching these globs, e.g. ['*.py'].")
    ] = [],  # noqa: B006
    exclude: Globs = [],  # noqa: B006
    context_lines: Annotated[int, Field(ge=0, le=10, description="Lines of context around each match.")] = 0,
    max_matches_per_file: Annotated[int, Field(ge=1, le=1000)] = 20,
    max_matches: Annotated[int, Field(ge=1, le=10_000)] = 200,
) -> ContentSearch:
    """Search the text of files below a directory, like grep; binary files are skipped."""
    needle = grep.compile_query(query, regex=regex, case_sensitive=case_sensitive)
    only = patterns("include", include)
    skip = patterns("exclude", exclude)
    cap = _settings(ctx).max_read_bytes * 8
    budget = _settings(ctx).max_result_bytes
    literal = query.encode() if not regex and case_sensitive else None
    matches: list[ContentMatch] = []
    searched = skipped = 0
    with _walking(scope, path, Progress(ctx, "entries searched"), exclude=skip) as (base, found_below):
        for found in found_below:  # each entry is a cancellation checkpoint: between files, too
            if found.kind != "file" or (only is not None and not only.match_file(paths.shown(found.path))):
                continue
            data = _read_quietly(found.name, found.dir_fd, cap)
            if data is None or files.is_binary(data):
                skipped += 1
                continue
            searched += 1
            if literal is not None and literal not in data:
                continue
            room = min(max_matches_per_file, max_matches - len(matches))
            found_here = _matching_lines(f"{base.rstrip('/')}/{found.path}", data, needle, context_lines, room)
            matches += found_here
            budget -= sum(_match_size(m) for m in found_here)
            if len(matches) >= max_matches or budget <= 0:  # the answer is full: stop reading files
                break
    return ContentSearch(
        matches=matches,
        files_searched=searched,
        files_skipped=skipped,
        truncated=len(matches) >= max_matches or budget <= 0,
    )


def _match_size(match: ContentMatch) -> int:
    return len(match.path) + sum(len(line) for line in (match.text, *match.before, *match.after))


def _read_quietly(name: str, dir_fd: int, cap: int) -> bytes | None:
    """A file's bytes, or None when it cannot be read or is over `cap`."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > cap:
            return None
        return file.read()


def _matching_lines(shown: str, data: bytes, needle: grep.Needle, context: int, room: int) -> list[ContentMatch]:
    lines = data.decode("utf-8", errors="replace").splitlines()
    return [
        ContentMatch(
            path=shown,
            line=number + 1,
            text=lines[number],
            before=lines[max(0, number - context) : number],
            after=lines[number + 1 : number + 1 + context],
        )
        for number in grep.matching_lines(lines, needle, room)
    ]


class FileInfo(BaseModel):
    """What the filesystem knows about an entry (a link is described, not followed)."""

    path: Shown
    type: Kind
    size: int
    modified: str
    accessed: str
    changed: str
    permissions: str = Field(description="Mode bits in octal, e.g. 0o644.")
    owner: int
    group: int
    link_target: Shown | None = Field(None, description="Where a symbolic link leads, when that is in scope.")

    def model_text(self) -> str:
        return fields(
            [
                ("path", self.path),
                ("type", self.type),
                ("size", f"{self.size} ({short_size(self.size)})" if self.size >= 1024 else self.size),
                ("modified", short_time(self.modified)),
                ("accessed", short_time(self.accessed)),
                ("changed", short_time(self.changed)),
                ("permissions", self.permissions[2:]),
                ("owner", f"{self.owner}:{self.group}"),
                ("link target", self.link_target),
            ]
        )


@connector.tool("read")
def get_file_info(scope: InScope, path: Path) -> FileInfo:
    """Describe a file, directory or link: type, size, times, permissions, owner."""
    with locate(scope.roots, path, follow=False) as entry:
        info = entry.lstat()
        shown = entry.path
    target = None
    if stat.S_ISLNK(info.st_mode):
        try:
            with locate(scope.roots, shown) as resolved:
                target = resolved.path
        except OutOfScope:
            target = "(outside the allowed directories)"
        except ToolError:
            target = "(missing)"
    return FileInfo(
        path=shown,
        type=kind_of(info.st_mode),
        size=info.st_size,
        modified=_iso(info.st_mtime),
        accessed=_iso(info.st_atime),
        changed=_iso(info.st_ctime),
        permissions=oct(stat.S_IMODE(info.st_mode)),
        owner=info.st_uid,
        group=info.st_gid,
        link_target=target,
    )


class AllowedDirectory(BaseModel):
    """A directory in scope, and why."""

    path: Shown
    source: str


class AllowedDirectories(BaseModel):
    """The directories this call may use."""

    directories: list[AllowedDirectory]
    narrowed_by_client_roots: bool = Field(
        description="True when the client's roots narrowed the operator's directories."
    )
    empty_because: str | None = Field(
        None, description="When the client's roots left nothing in scope: why, and what to do about it."
    )

    def model_text(self) -> str:
        lines = ["Allowed directories:"]
        lines += [d.path + ("" if d.source.startswith("operator") else f" ({d.source})") for d in self.directories]
        if self.narrowed_by_client_roots:
            lines.append("(narrowed by the client's roots)")
        if self.empty_because:
            lines.append(self.empty_because)
        return "\n".join(lines)


@connector.tool("read")
async def list_allowed_directories(scope: InScope) -> AllowedDirectories:
    """Show the directories you may use and where each came from (operator or client roots)."""
    return AllowedDirectories(
        directories=[AllowedDirectory(path=root.path, source=root.source) for root in scope.directories],
        narrowed_by_client_roots=scope.narrowed_by_client,
        empty_because=scope.empty_because,
    )


# Writing ----------------------------------------------------------------------------


class Written(BaseModel):
    """A file written."""

    path: Shown
    bytes: int
    created: bool

    def model_text(self) -> str:
        return f"Wrote {self.bytes} bytes to {self.path}" + (" (new file)" if self.created else "")


@connector.tool("write", idempotent=True)
def write_file(
    scope: InScope,
    path: Path,
    content: Annotated[str, Field(description="The file's new content.")],
    encoding: Annotated[str, Field(max_length=64, description="Encoding to write with.")] = "utf-8",
) -> Written:
    """Create a file or replace its content, atomically (readers never see half a file); keeps its permissions."""
    try:
        data = content.encode(encoding)
    except LookupError:
        raise InvalidArgument("encoding", f"unknown encoding {encoding!r}") from None
    except UnicodeError as exc:  # a character the encoding cannot hold; nothing is written
        where = f" (the first at character {exc.start})" if isinstance(exc, UnicodeEncodeError) else ""
        raise InvalidArgument("content", f"has characters {encoding!r} cannot hold{where}; use utf-8") from None
    with locate(scope.roots, path, follow=False) as entry:
        created = files.write_atomically(entry, data)
        return Written(path=entry.path, bytes=len(data), created=created)


class Edit(BaseModel):
    """Replace exact text."""

    old_text: str = Field(min_length=1, description="Exact text to find, whitespace included.")
    new_text: str = Field(description="Text to put in its place.")
    replace_all: bool = Field(False, description="Replace every occurrence, not just a unique one.")


class Edited(BaseModel):
    """The edits, as a unified diff."""

    path: Shown
    diff: str
    applied: bool = Field(description="False for a dry run.")
    replacements: int

    def model_text(self) -> str:
        head = f"{self.replacements} replacements" + ("" if self.applied else " (dry run, nothing changed)")
        return f"{head}:\n{self.diff}"


@connector.tool("write")
def edit_file(
    ctx: Context,
    scope: InScope,
    path: Path,
    edits: Annotated[list[Edit], Field(min_length=1, description="Applied in order.")],
    dry_run: Annotated[bool, Field(description="Only show the diff; change nothing.")] = False,
) -> Edited:
    """Make exact text replacements in a file; each must match once unless replace_all. Returns the diff."""
    cap = _settings(ctx).max_read_bytes
    with locate(scope.roots, path, follow=False) as entry:
        if entry.name is not None and stat.S_ISLNK(entry.lstat().st_mode):
            raise ToolError(f"{path!r} is a symbolic link; edit_file does not follow links. Edit its target.")
        data, _, truncated = files.read_bytes(entry, cap)
        if truncated:
            raise ToolError(f"{path!r} is larger than {cap} bytes; edit_file only edits files it can read whole.")
        before, used = files.decode(data, None, truncated=False, shown=path)
        after, replacements = before, 0
        for number, edit in enumerate(edits, start=1):
            count = after.count(edit.old_text)
            if count == 0:
                raise ToolError(f"Edit {number}: old_text was not found (it must match exactly, whitespace too).")
            if count > 1 and not edit.replace_all:
                raise ToolError(
                    f"Edit {number}: old_text matches {count} places; include more context or set replace_all."
                )
            after = after.replace(edit.old_text, edit.new_text)
            replacements += count
        diff = "".join(
            difflib.unified_diff(
                before.splitlines(keepends=True), after.splitlines(keepends=True), entry.path, entry.path
            )
        )
        if not dry_run:
            files.write_atomically(entry, after.encode(used))
        return Edited(path=entry.path, diff=diff, applied=not dry_run, replacements=replacements)


class DirectoryCreated(BaseModel):
    """A directory made (with any missing parents)."""

    path: Shown
    created: bool = Field(description="False when it already existed.")

    def model_text(self) -> str:
        return f"Created {self.path}" if self.created else f"{self.path} already exists"


@connector.tool("write", idempotent=True)
def create_directory(scope: InScope, path: Path) -> DirectoryCreated:
    """Create a directory, and any missing parents; succeeds if it already exists."""
    full = normalise(scope.roots, path)
    root = root_of(scope.roots, full)
    if root is None:
        raise OutOfScope(path)
    created = False
    parts = full[len(root.path) :].strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        with _as_given(path), locate(scope.roots, posixpath.join(root.path, *parts[:depth])) as step:
            try:
                info = step.lstat()
            except ToolError:
                os.mkdir(step.name or ".", dir_fd=step.dir_fd)
                created = True
                continue
            if not stat.S_ISDIR(info.st_mode):
                raise ToolError(f"{step.path!r} exists and is not a directory.")
            shown = step.path
    return DirectoryCreated(path=shown if not created else posixpath.join(root.path, *parts), created=created)


@contextmanager
def _as_given(path: str) -> Iterator[None]:
    """Report a refusal in terms of the path the client gave."""
    try:
        yield
    except OutOfScope:
        raise OutOfScope(path) from None


class Copied(BaseModel):
    """A file copied."""

    source: Shown
    destination: Shown
    bytes: int

    def model_text(self) -> str:
        return f"Copied {self.source} to {self.destination} ({self.bytes} bytes)"


@connector.tool("write")
def copy_file(scope: InScope, source: Path, destination: Path) -> Copied:
    """Copy a file to a new path; fails if the destination exists (never overwrites)."""
    with (
        locate(scope.roots, source) as src,
        locate(scope.roots, destination, follow=False) as dst,
    ):
        copied = files.copy(src, dst)
        return Copied(source=src.path, destination=dst.path, bytes=copied)


class Moved(BaseModel):
    """A file or directory moved or renamed."""

    source: Shown
    destination: Shown

    def model_text(self) -> str:
        return f"Moved {self.source} to {self.destination}"


@connector.tool("write")
def move_file(scope: InScope, source: Path, destination: Path) -> Moved:
    """Move or rename a file or directory; fails if the destination exists (never overwrites)."""
    with (
        locate(scope.roots, source, follow=False) as src,
        locate(scope.roots, destination, follow=False) as dst,
    ):
        files.move(src, dst)
        return Moved(source=src.path, destination=dst.path)


# Deleting ---------------------------------------------------------------------------


class DeletedFile(BaseModel):
    """A file removed."""

    path: Shown

    def model_text(self) -> str:
        return f"Deleted {self.path}"


def _file_question(scope: InScope, path: str) -> str:
    with locate(scope.roots, path, follow=False) as entry:
        info = entry.lstat()
        return f"Delete {_describe(info.st_mode)} {entry.path!r} ({info.st_size} bytes)? This cannot be undone."


def _describe(mode: int) -> str:
    return {"symlink": "the symbolic link", "directory": "the directory"}.get(kind_of(mode), "the file")


@connector.tool("destructive", confirm=_file_question)
def delete_file(scope: InScope, path: Path) -> DeletedFile:
    """Delete one file (or symbolic link). The user is asked to confirm first."""
    with locate(scope.roots, path, follow=False) as entry:
        if entry.name is None or stat.S_ISDIR(entry.lstat().st_mode):
            raise ToolError(f"{path!r} is a directory; use delete_directory.")
        os.unlink(entry.name, dir_fd=entry.dir_fd)
        return DeletedFile(path=entry.path)


class DeletedDirectory(BaseModel):
    """A directory removed, with what it held."""

    path: Shown
    files: int
    directories: int

    def model_text(self) -> str:
        return f"Deleted {self.path} ({self.files} files, {self.directories} directories)"


def _directory_question(ctx: Context, scope: InScope, path: str, recursive: bool = False) -> Question:
    """The question names what the directory holds; its fingerprint covers every path below it."""
    with locate(scope.roots, path, follow=False) as entry:
        _check_directory(entry, path)
        below, facts = _survey(ctx, entry)
    if below.files == below.directories == 0:
        text = f"Delete the empty directory {entry.path!r}?"
    elif not recursive:
        text = f"Delete the directory {entry.path!r}? (It is not empty, so this will fail without recursive=true.)"
    else:
        text = (
            f"Delete the directory {entry.path!r} and everything in it: {below.files} files and "
            f"{below.directories} subdirectories? This cannot be undone."
        )
    return Question(text, fingerprint=facts)


def _survey(ctx: Context, entry: Located) -> tuple[Survey, str]:
    """What a directory holds, and the fingerprint of it that the user confirms.

    The question and the action both call this, so the action can refuse when the tree
    changed after the user said yes (a file added or renamed meanwhile).
    """
    fd = entry.open_directory()
    try:
        below = survey(fd, Progress(ctx, "entries counted"))
    finally:
        os.close(fd)
    return below, fingerprint(entry.path, below.files, below.directories, below.digest)


def _check_directory(entry: Located, path: str) -> None:
    if entry.name is None:
        raise ToolError(f"{path!r} is an allowed directory itself; it cannot be deleted.")
    if not stat.S_ISDIR(entry.lstat().st_mode):
        raise ToolError(f"{path!r} is not a directory; use delete_file.")


@connector.tool("destructive", confirm=_directory_question)
def delete_directory(
    ctx: Context,
    scope: InScope,
    path: Path,
    recursive: Annotated[bool, Field(description="Also delete everything inside it.")] = False,
) -> DeletedDirectory:
    """Delete a directory; one that is not empty only with recursive=true. The user is asked first."""
    with locate(scope.roots, path, follow=False) as entry:
        _check_directory(entry, path)
        below, facts = _survey(ctx, entry)
        check_unchanged(facts, f"the directory {entry.path!r}")
        assert entry.name is not None
        if below.files or below.directories:
            if not recursive:
                raise ToolError(
                    f"{path!r} is not empty ({below.files} files, {below.directories} subdirectories); "
                    "pass recursive=true to delete it with everything in it."
                )
            files.remove_tree(entry)
        else:
            os.rmdir(entry.name, dir_fd=entry.dir_fd)
        return DeletedDirectory(path=entry.path, files=below.files, directories=below.directories)


# Resources --------------------------------------------------------------------------


def _uri(path: str) -> str:
    return "file://" + quote(path)


async def _resource_scope(ctx: Context) -> Scope | types.InputRequiredResult:
    """Resource reads follow the client's roots too: asked for in 2026-07-28 (a round trip)."""
    request = ctx.request_context
    if not (is_modern(request) and client_supports_roots(request)):
        return await handshake_scope(request)
    answer = (ctx.input_responses or {}).get("roots")
    if not isinstance(answer, types.ListRootsResult):
        return types.InputRequiredResult(input_requests={"roots": types.ListRootsRequest()}, request_state="roots")
    return narrowed(request, list(answer.roots))


@connector.resource(
    "file://{+path}",
    name="file",
    description="A file in an allowed directory.",
    security=ResourceSecurity(exempt_params={"path"}),  # locate() checks the path itself
)
async def file_resource(path: str, ctx: Context) -> str | bytes | types.InputRequiredResult:
    settings = _settings(ctx)
    scope = await _resource_scope(ctx)
    if isinstance(scope, types.InputRequiredResult):
        return scope
    try:
        return await runtime_of(ctx).workers.run(_read_resource, scope, path, settings.max_media_bytes)
    except NotFound as exc:
        raise ResourceNotFound(str(exc)) from None
    except OutOfScope as exc:
        raise ResourceDenied(str(exc)) from None
    except ToolError as exc:
        raise ResourceError(str(exc)) from None


def _read_resource(scope: Scope, path: str, cap: int) -> str | bytes:
    """A file's text, or its bytes when it is binary (in a worker thread: it reads the disk)."""
    with locate(scope.roots, path) as entry:
        data, size, truncated = files.read_bytes(entry, cap)
    if truncated:
        raise ToolError(f"{path!r} is {size} bytes, over the {cap}-byte cap.")
    if files.is_binary(data):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


async def _watch(runtime: Runtime[FilesystemSettings, FilesystemState], uri: str, request: Request) -> None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise MCPError(code=types.INVALID_PARAMS, message="Only file:// resources can be subscribed to.")
    try:
        scope = await handshake_scope(request)  # subscriptions exist only in the handshake era
        path, is_directory = await runtime.workers.run(_watched, scope, unquote(parsed.path))
    except ToolError as exc:
        raise MCPError(code=types.INVALID_PARAMS, message=str(exc)) from None
    runtime.state.watchers.start(uri, path, is_directory, runtime.resource_updated)


def _watched(scope: Scope, raw: str) -> tuple[str, bool]:
    """The real path of what a subscription names, and whether it is a directory."""
    with locate(scope.roots, raw) as entry:
        return entry.path, stat.S_ISDIR(entry.lstat().st_mode)


async def _unwatch(runtime: Runtime[FilesystemSettings, FilesystemState], uri: str, _: Request) -> None:
    runtime.state.watchers.stop(uri)


connector.subscriptions(_watch, _unwatch)


@connector.notification("notifications/roots/list_changed")
async def _roots_changed(runtime: Runtime[FilesystemSettings, FilesystemState], connection: Connection) -> None:
    runtime.state.roots.changed(connection)
