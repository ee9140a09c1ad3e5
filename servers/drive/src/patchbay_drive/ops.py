"""The blocking work behind each tool: Drive calls, scope checks and conversions.

Tools run these through `upstream_of(ctx).call(...)` (a worker thread, a deadline, errors
mapped). Every function that names a file checks it against the scope with its metadata
read fresh, and a shortcut is followed to its target, which is checked too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types

from patchbay.content import read_content, to_content
from patchbay.errors import InvalidArgument, ToolError
from patchbay.scope import Filtered
from patchbay.untrusted import clean_untrusted
from patchbay_drive import query
from patchbay_drive.client import Drive
from patchbay_drive.models import FOLDER, SHORTCUT, Comment, FileInfo, Files, Permission, Revision, SharedDrive
from patchbay_drive.reach import Reach
from patchbay_drive.settings import DriveSettings

SHEET = "application/vnd.google-apps.spreadsheet"

EXPORTS = {
    "application/vnd.google-apps.document": ("text/markdown", "Markdown"),
    "application/vnd.google-apps.presentation": ("text/plain", "text"),
    "application/vnd.google-apps.drawing": ("image/svg+xml", "SVG"),
}


@dataclass
class DriveState:
    """What the connector holds for a run."""

    settings: DriveSettings
    drive: Drive
    reach: Reach
    _domain: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def domain(self) -> str | None:
        """The Workspace domain sharing stays within: the setting, else the account's own."""
        if self.settings.domain:
            return self.settings.domain
        with self._lock:
            if self._domain is None:
                email = self.drive.account_email()
                self._domain = email.rsplit("@", 1)[-1] if "@" in email else ""
        return self._domain or None


def file_in_scope(state: DriveState, file_id: str, argument: str = "file_id") -> dict[str, Any]:
    """A file's metadata, once it is known to be in scope (read fresh, never from a cache).

    Raises:
        InvalidArgument: not a Drive id.
        OutOfScope: the file lies outside the allowed folders and drives.
    """
    from patchbay.scope import Malformed

    try:
        checked = state.reach.scope.kind.normalise(file_id)
    except Malformed as exc:
        raise InvalidArgument(argument, f"{file_id[:100]!r} {exc}") from None
    if state.reach.scope.is_empty:
        raise state.reach.refusal(file_id)  # fail closed before asking Drive anything
    item = state.drive.get(checked)
    state.reach.check(item, file_id)
    return item


def target_in_scope(state: DriveState, file_id: str) -> dict[str, Any]:
    """Like `file_in_scope`, following a shortcut to its target (which must be in scope too)."""
    item = file_in_scope(state, file_id)
    if item.get("mimeType") == SHORTCUT:
        target = (item.get("shortcutDetails") or {}).get("targetId")
        if not target:
            raise ToolError(f"The shortcut {file_id!r} points nowhere.")
        return file_in_scope(state, str(target))
    return item


def folder_in_scope(state: DriveState, folder_id: str, argument: str) -> dict[str, Any]:
    """A folder (or shared drive root) in scope, to list or to put things in.

    Raises:
        ToolError: it is not a folder. And as `file_in_scope`.
    """
    item = file_in_scope(state, folder_id, argument)
    if item.get("mimeType") != FOLDER:
        raise ToolError(f"{folder_id!r} is not a folder ({item.get('mimeType')}).")
    return item


def files_page(state: DriveState, q: str, cursor: str | None, limit: int, order_by: str | None = None) -> Files:
    """A page of files matching `q`, keeping those in scope and saying how many were withheld."""
    page = state.drive.list_files(q, cursor, limit, order_by)
    found: Filtered[dict[str, Any]] = _in_scope(state, page.get("files", []))
    note = found.note.replace("results", "files").replace("result", "file") if found.note else None
    return Files(items=[FileInfo.of(f) for f in found.kept], next_cursor=page.get("nextPageToken"), withheld=note)


def _in_scope(state: DriveState, items: list[dict[str, Any]]) -> Filtered[dict[str, Any]]:
    kept = [item for item in items if state.reach.admits(item)]
    return Filtered(kept, len(items) - len(kept), state.reach.scope.kind.noun)


def list_folder(state: DriveState, folder_id: str, cursor: str | None, limit: int) -> Files:
    """The children of a folder in scope (or of a shared drive's root)."""
    folder_in_scope(state, folder_id, "folder_id")  # a shared drive's id is its root folder's id
    q = f"{query.literal(folder_id)} in parents and trashed = false"
    return files_page(state, q, cursor, limit, "folder,name")


def shared_drives(state: DriveState, cursor: str | None, limit: int) -> tuple[list[SharedDrive], str | None]:
    """The shared drives the account reaches, each marked in scope or not (names of drives out of scope
    are withheld)."""
    page = state.drive.drives(cursor, limit)
    drives = []
    for drive in page.get("drives", []):
        allowed = state.reach.scope.admits(drive["id"])
        drives.append(SharedDrive(id=drive["id"], name=drive.get("name", "") if allowed else "", in_scope=allowed))
    return [d for d in drives if d.in_scope], page.get("nextPageToken")


# Reading content --------------------------------------------------------------------------------


def read(state: DriveState, file_id: str, max_bytes: int, offset: int) -> list[types.ContentBlock]:
    """A file's content as MCP content: Docs editors files exported to text, others read in range."""
    item = target_in_scope(state, file_id)
    mime = str(item.get("mimeType", ""))
    uri = f"gdrive:///{item['id']}"
    name = clean_untrusted(str(item.get("name", "")))
    if mime == FOLDER:
        raise ToolError(f"{file_id!r} is a folder; list_folder shows what it holds.")
    if mime == SHEET:
        return _sheets(state, item["id"], name, max_bytes)
    if mime in EXPORTS:
        export_mime, label = EXPORTS[mime]
        data = state.drive.export(item["id"], export_mime)
        got = to_content(
            data[offset : offset + max_bytes],
            name=name,
            uri=uri,
            mime_type=export_mime,
            start=offset,
            size=len(data),
            truncated=len(data) > offset + max_bytes,
        )
        return _cleaned([got.block], f"[{name}: exported as {label}]", got.truncated, got.range_note())
    if mime.startswith("application/vnd.google-apps."):
        raise ToolError(f"{name!r} is a {mime.rsplit('.', 1)[-1]}, which Drive cannot export as text.")
    if mime == "application/pdf":
        text = _pdf_text(state, item, max_bytes)
        if text is not None:
            return _cleaned([types.TextContent(type="text", text=text)], f"[{name}: text of the PDF]", False, "")
    size = int(item["size"]) if item.get("size") is not None else None
    got = read_content(
        size,
        lambda start, length: state.drive.download(item["id"], start, length),
        max_bytes=max_bytes,
        offset=offset,
        name=name,
        uri=uri,
        mime_type=mime or None,
    )
    return _cleaned([got.block], None, got.truncated, got.range_note())


def _sheets(state: DriveState, file_id: str, name: str, max_bytes: int) -> list[types.ContentBlock]:
    """A spreadsheet as one CSV block per sheet (exported as .xlsx: Drive's CSV export has one sheet)."""
    from patchbay_drive.sheets import XLSX, sheets_as_csv  # zipfile and XML: loaded when a sheet is read

    blocks: list[types.ContentBlock] = []
    budget = max_bytes
    for title, text in sheets_as_csv(state.drive.export(file_id, XLSX)):
        if budget <= 0:
            blocks.append(types.TextContent(type="text", text=f"[sheet {title!r} left out: over max_bytes]"))
            continue
        cut = text.encode()[:budget].decode(errors="ignore")
        budget -= len(cut.encode())
        note = "" if cut == text else f", cut at max_bytes ({len(text.encode())} bytes in all)"
        blocks.append(types.TextContent(type="text", text=f"[{name}: sheet {clean_untrusted(title)!r} as CSV{note}]"))
        blocks.append(types.TextContent(type="text", text=clean_untrusted(cut)))
    return blocks


def _cleaned(blocks: list[Any], header: str | None, truncated: bool, note: str) -> list[types.ContentBlock]:
    out: list[types.ContentBlock] = []
    for block in blocks:
        if isinstance(block, types.TextContent):
            block = block.model_copy(update={"text": clean_untrusted(block.text)})
        out.append(block)
    if header:
        out.insert(0, types.TextContent(type="text", text=header))
    if truncated:
        out.append(types.TextContent(type="text", text=f"[cut: {note}; pass offset or raise max_bytes to read more]"))
    return out


def _pdf_text(state: DriveState, item: dict[str, Any], max_bytes: int) -> str | None:
    """The PDF's text when a text extractor (pypdf) is installed and the PDF fits; else None."""
    try:
        import io

        from pypdf import PdfReader
    except ImportError:
        return None
    size = int(item.get("size") or 0)
    if size > 4 * max_bytes + (1 << 20):
        return None
    data = state.drive.download(item["id"], 0, size or max_bytes)
    pages = [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]
    return "\n\n".join(pages)[:max_bytes]


# Metadata listings ------------------------------------------------------------------------------


LISTINGS: dict[str, tuple[str, Any]] = {
    "revisions": ("id,modifiedTime,size,keepForever,lastModifyingUser(displayName)", Revision),
    "permissions": ("id,type,role,emailAddress,domain,displayName", Permission),
    "comments": ("id,content,createdTime,resolved,author(displayName),replies(id)", Comment),
}


def listing(state: DriveState, kind: str, file_id: str, cursor: str | None, limit: int) -> tuple[list[Any], str | None]:
    """A page of a file in scope's `revisions`, `permissions` or `comments`."""
    item = file_in_scope(state, file_id)
    fields, model = LISTINGS[kind]
    page = state.drive.page(kind, item["id"], f"nextPageToken,{kind}({fields})", cursor, limit)
    return [model.of(found) for found in page.get(kind, [])], page.get("nextPageToken")


# Writing ----------------------------------------------------------------------------------------


def create(
    state: DriveState,
    parent_id: str,
    metadata: dict[str, Any],
    data: bytes | None,
    mime_type: str | None,
    progress: Callable[[int, int], None] | None,
) -> FileInfo:
    """A new file or folder in a folder in scope."""
    folder_in_scope(state, parent_id, "parent_id")
    made = state.drive.create({**metadata, "parents": [parent_id]}, data, mime_type, progress)
    return FileInfo.of(made)


def move(state: DriveState, file_id: str, folder_id: str) -> FileInfo:
    """Move a file from its folders to one folder; both ends in scope."""
    item = file_in_scope(state, file_id)
    folder_in_scope(state, folder_id, "folder_id")
    old = ",".join(p for p in item.get("parents", []) if p != folder_id)
    moved = state.drive.update(item["id"], {}, add_parents=folder_id, remove_parents=old or None)
    state.reach.forget(item["id"])
    return FileInfo.of(moved)
