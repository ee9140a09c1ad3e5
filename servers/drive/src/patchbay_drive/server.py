"""The Google Drive connector's tools: search and read within the allowed folders and shared
drives; writes with --allow-writes; sharing only with --allow-sharing as well."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import mcp_types as types
from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from patchbay import Connector, Cursor, Page, Progress, Question, ResourceDenied, ToolError, fingerprint
from patchbay.content import body_from
from patchbay.errors import InvalidArgument
from patchbay.upstream import upstream_of
from patchbay_drive import __version__, errors, ops, query, sharing
from patchbay_drive.client import Drive
from patchbay_drive.credentials import check_files, provider_for
from patchbay_drive.models import FOLDER, Comment, FileInfo, Files, Permission, Revision, SharedDrive, Trashed
from patchbay_drive.ops import DriveState
from patchbay_drive.reach import Reach
from patchbay_drive.settings import DriveSettings

SERVICE = "Google Drive"
FileId = Annotated[str, Field(min_length=1, max_length=200, description="A Drive file id, e.g. from search_files.")]
FolderId = Annotated[str, Field(min_length=1, max_length=200, description="A folder or shared-drive id.")]
Limit = Annotated[int, Field(ge=1, le=200, description="Results per page.")]
Name = Annotated[str, Field(min_length=1, max_length=1000, description="The file's name.")]


@asynccontextmanager
async def drive_state(settings: DriveSettings) -> AsyncIterator[DriveState]:
    """The Drive client and the scope check, for the life of the server."""
    try:
        credential = provider_for(settings)
    except (OSError, ValueError) as exc:
        raise errors.settings_error(settings, exc) from None
    policy = settings.retry_policy(SERVICE)
    drive = Drive(
        credential,
        policy,
        api_url=settings.api_url,
        timeout=settings.upstream_timeout_seconds,
        chunk_bytes=settings.resumable_threshold_bytes,
    )
    reach = Reach(settings.scope(), drive.parents, ttl=settings.scope_cache_seconds)
    yield DriveState(settings, drive, reach)


async def _preflight(settings: DriveSettings) -> None:
    """Refuse to start over a credentials file that cannot work (rather than fail every call)."""
    try:
        check_files(settings)
    except (OSError, ValueError) as exc:
        raise errors.settings_error(settings, exc) from None


connector: Connector[DriveSettings, DriveState] = Connector(
    "drive",
    title="Patchbay Google Drive",
    version=__version__,
    settings=DriveSettings,
    description="Search and read Google Drive within allowed folders and shared drives; writes and sharing opt-in.",
    instructions="Files are addressed by id: search_files or list_folder find them, read_file reads them.",
    lifespan=drive_state,
    error_mappers=[errors.drive_errors],
    preflight=_preflight,
)


def _state(ctx: Context) -> DriveState:
    return connector.state(ctx)


async def _call(ctx: Context, fn: Any, *args: Any) -> Any:
    return await upstream_of(ctx, SERVICE).call(fn, _state(ctx), *args)


# Reading ----------------------------------------------------------------------------------------


@connector.tool("read", paginated=True)
async def search_files(
    ctx: Context,
    name_contains: Annotated[str | None, Field(max_length=500, description="Text in the file name.")] = None,
    full_text: Annotated[str | None, Field(max_length=500, description="Text in the name or content.")] = None,
    mime_type: Annotated[str | None, Field(max_length=200, description="Exact MIME type.")] = None,
    owner: Annotated[str | None, Field(max_length=320, description="Owner's email address.")] = None,
    modified_after: Annotated[str | None, Field(max_length=40, description="ISO 8601 date or time.")] = None,
    modified_before: Annotated[str | None, Field(max_length=40, description="ISO 8601 date or time.")] = None,
    filters: Annotated[list[query.Filter], Field(max_length=20, description="More clauses, ANDed.")] = [],  # noqa: B006
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Files:
    """Search files by name, full text, MIME type, owner and modified time; results outside the
    allowed folders are withheld."""
    clauses = list(filters)
    for field, op, value in (
        ("name", "contains", name_contains),
        ("fullText", "contains", full_text),
        ("mimeType", "=", mime_type),
        ("owners", "in", owner),
        ("modifiedTime", ">", modified_after),
        ("modifiedTime", "<", modified_before),
    ):
        if value is not None:
            clauses.append(query.Filter.model_validate({"field": field, "op": op, "value": value}))
    q = query.build(clauses)
    return await _call(ctx, ops.files_page, q, cursor, limit)  # type: ignore[no-any-return]


@connector.tool("read", paginated=True)
async def list_folder(ctx: Context, folder_id: FolderId, cursor: Cursor = None, limit: Limit = 100) -> Files:
    """List a folder (or a shared drive's top level): folders first, then files by name."""
    return await _call(ctx, ops.list_folder, folder_id, cursor, limit)  # type: ignore[no-any-return]


@connector.tool("read", paginated=True)
async def list_shared_drives(ctx: Context, cursor: Cursor = None, limit: Limit = 50) -> Page[SharedDrive]:
    """List the shared drives in scope."""
    drives, token = await _call(ctx, ops.shared_drives, cursor, limit)
    return Page(items=drives, next_cursor=token)


@connector.tool("read")
async def get_file_metadata(ctx: Context, file_id: FileId) -> FileInfo:
    """Get a file's metadata: name, type, size, folders, owners, times."""
    return FileInfo.of(await _call(ctx, ops.file_in_scope, file_id))


@connector.tool("read")
async def read_file(
    ctx: Context,
    file_id: FileId,
    max_bytes: Annotated[int, Field(ge=1, le=1 << 22, description="Read at most this many bytes.")] = 262144,
    offset: Annotated[int, Field(ge=0, description="Start at this byte.")] = 0,
) -> types.CallToolResult:
    """Read a file: Docs as Markdown, Sheets as CSV, Slides as text, PDFs as text where possible,
    other files as text or binary; long content is cut (ask again with offset)."""
    blocks = await _call(ctx, ops.read, file_id, max_bytes, offset)
    return types.CallToolResult(content=blocks)


@connector.tool("read", paginated=True)
async def list_revisions(ctx: Context, file_id: FileId, cursor: Cursor = None, limit: Limit = 50) -> Page[Revision]:
    """List a file's revisions."""
    found, token = await _call(ctx, ops.listing, "revisions", file_id, cursor, limit)
    return Page(items=found, next_cursor=token)


@connector.tool("read", paginated=True)
async def list_permissions(
    ctx: Context, file_id: FileId, cursor: Cursor = None, limit: Limit = 100
) -> Page[Permission]:
    """List who a file is shared with."""
    found, token = await _call(ctx, ops.listing, "permissions", file_id, cursor, limit)
    return Page(items=found, next_cursor=token)


@connector.tool("read", paginated=True)
async def list_comments(ctx: Context, file_id: FileId, cursor: Cursor = None, limit: Limit = 50) -> Page[Comment]:
    """List a file's comments."""
    found, token = await _call(ctx, ops.listing, "comments", file_id, cursor, limit)
    return Page(items=found, next_cursor=token)


# Writing ----------------------------------------------------------------------------------------


@connector.tool("write")
async def create_folder(ctx: Context, parent_id: FolderId, name: Name) -> FileInfo:
    """Create a folder inside a folder."""
    return await _call(ctx, ops.create, parent_id, {"name": name, "mimeType": FOLDER}, None, None, None)  # type: ignore[no-any-return]


@connector.tool("write")
def create_file(
    ctx: Context,
    parent_id: FolderId,
    name: Name,
    text: Annotated[str | None, Field(description="Text content.")] = None,
    content_base64: Annotated[str | None, Field(description="Binary content, base64.")] = None,
    mime_type: Annotated[str | None, Field(max_length=200, description="Content type.")] = None,
    as_google_doc: Annotated[bool, Field(description="Convert the text into a Google Doc.")] = False,
) -> FileInfo:
    """Create a file from text or base64 content, or a Google Doc from text; large files upload
    resumably with progress."""
    data = body_from(text, content_base64, names=("text", "content_base64"))
    metadata: dict[str, Any] = {"name": name}
    if as_google_doc:
        metadata["mimeType"] = "application/vnd.google-apps.document"
    kind = mime_type or ("text/plain" if text is not None else None)
    progress = Progress(ctx, "bytes uploaded", every=1)
    state = _state(ctx)
    return ops.create(state, parent_id, metadata, data, kind, _reporter(progress))


@connector.tool("write")
def update_file(
    ctx: Context,
    file_id: FileId,
    name: Annotated[str | None, Field(max_length=1000, description="A new name.")] = None,
    description: Annotated[str | None, Field(max_length=10000, description="A new description.")] = None,
    text: Annotated[str | None, Field(description="New text content.")] = None,
    content_base64: Annotated[str | None, Field(description="New binary content, base64.")] = None,
    mime_type: Annotated[str | None, Field(max_length=200, description="Content type.")] = None,
) -> FileInfo:
    """Replace a file's content and/or change its name or description."""
    data = body_from(text, content_base64, names=("text", "content_base64"))
    metadata = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
    if not metadata and data is None:
        raise ToolError("Nothing to change: give name, description, text or content_base64.")
    state = _state(ctx)
    item = ops.file_in_scope(state, file_id)
    progress = _reporter(Progress(ctx, "bytes uploaded", every=1))
    kind = mime_type or ("text/plain" if text is not None else item.get("mimeType"))
    return FileInfo.of(state.drive.update(item["id"], metadata, data, kind, progress))


@connector.tool("write")
async def copy_file(
    ctx: Context, file_id: FileId, folder_id: FolderId, name: Annotated[str | None, Field(max_length=1000)] = None
) -> FileInfo:
    """Copy a file into a folder."""
    return await _call(ctx, _copy, file_id, folder_id, name)  # type: ignore[no-any-return]


def _copy(state: DriveState, file_id: str, folder_id: str, name: str | None) -> FileInfo:
    item = ops.target_in_scope(state, file_id)
    ops.folder_in_scope(state, folder_id, "folder_id")
    return FileInfo.of(state.drive.copy(item["id"], {"parents": [folder_id], **({"name": name} if name else {})}))


@connector.tool("write")
async def move_file(ctx: Context, file_id: FileId, folder_id: FolderId) -> FileInfo:
    """Move a file (or folder) into another folder."""
    return await _call(ctx, ops.move, file_id, folder_id)  # type: ignore[no-any-return]


class Commented(BaseModel):
    """The comment that was added."""

    id: str
    content: str


@connector.tool("write")
async def add_comment(
    ctx: Context, file_id: FileId, content: Annotated[str, Field(min_length=1, max_length=30000)]
) -> Commented:
    """Add a comment to a file."""
    made = await _call(ctx, lambda state: state.drive.add_comment(ops.file_in_scope(state, file_id)["id"], content))
    return Commented(id=made["id"], content=made.get("content", content))


# Destructive (confirmed) ------------------------------------------------------------------------


def _about(state: DriveState, file_id: str) -> tuple[dict[str, Any], str]:
    item = ops.file_in_scope(state, file_id)
    return item, fingerprint(item["id"], item.get("name"), item.get("version"), item.get("parents"))


def _trash_question(ctx: Context, file_id: str) -> Question:
    item, facts = _about(_state(ctx), file_id)
    kind = "folder and everything in it" if item.get("mimeType") == FOLDER else "file"
    return Question(f"Move the {kind} {item.get('name')!r} ({item['id']}) to the trash?", facts)


@connector.tool("destructive", confirm=_trash_question)
def trash_file(ctx: Context, file_id: FileId) -> Trashed:
    """Move a file or folder to the trash. The user confirms first."""
    from patchbay import check_unchanged

    state = _state(ctx)
    item, facts = _about(state, file_id)
    check_unchanged(facts, f"the file {file_id!r}")
    state.drive.update(item["id"], {"trashed": True})
    return Trashed(id=item["id"], name=item.get("name", ""))


Grantee = Annotated[
    Literal["user", "group", "domain", "anyone"], Field(description="Who: a user, a group, a domain, or anyone.")
]


def _share_question(
    ctx: Context, file_id: str, grantee: str, role: str, email: str | None = None, domain: str | None = None
) -> Question:
    state = _state(ctx)
    _share_allowed(state, grantee, email, domain)
    item, facts = _about(state, file_id)
    who = {"anyone": "anyone with the link", "domain": f"everyone at {domain}"}.get(grantee, str(email))
    return Question(f"Share {item.get('name')!r} ({item['id']}) with {who} as {role}?", facts)


def _share_allowed(state: DriveState, grantee: str, email: str | None, domain: str | None) -> None:
    settings = state.settings
    if grantee in ("user", "group") and not email:
        raise InvalidArgument("email", f"a {grantee} share needs the email address")
    if grantee == "domain" and not domain:
        raise InvalidArgument("domain", "a domain share needs the domain")
    ours = state.domain() if settings.allow_sharing and not settings.allow_public_sharing else None
    target = domain if grantee == "domain" else email
    sharing.check_allowed(
        grantee,  # type: ignore[arg-type]
        target,
        allow_sharing=settings.allow_sharing,
        allow_public=settings.allow_public_sharing,
        domain=ours,
    )


@connector.tool("destructive", confirm=_share_question)
def share_file(
    ctx: Context,
    file_id: FileId,
    grantee: Grantee,
    role: Annotated[Literal["reader", "commenter", "writer"], Field(description="What they may do.")],
    email: Annotated[str | None, Field(max_length=320, description="For a user or group.")] = None,
    domain: Annotated[str | None, Field(max_length=253, description="For a domain.")] = None,
    notify: Annotated[bool, Field(description="Email the people shared with.")] = False,
) -> Permission:
    """Share a file (needs --allow-sharing; public or outside-domain shares need
    --allow-public-sharing). The user confirms first."""
    from patchbay import check_unchanged

    state = _state(ctx)
    _share_allowed(state, grantee, email, domain)
    item, facts = _about(state, file_id)
    check_unchanged(facts, f"the file {file_id!r}")
    body: dict[str, Any] = {"type": grantee, "role": role}
    if grantee in ("user", "group"):
        body["emailAddress"] = email
    if grantee == "domain":
        body["domain"] = domain
    made = state.drive.share(item["id"], body, notify)
    return Permission(id=made["id"], type=grantee, role=role, email=made.get("emailAddress"), domain=made.get("domain"))


def _unshare_question(ctx: Context, file_id: str, permission_id: str) -> Question:
    state = _state(ctx)
    sharing.check_allowed("user", None, allow_sharing=state.settings.allow_sharing, allow_public=True, domain=None)
    item, facts = _about(state, file_id)
    return Question(f"Remove permission {permission_id!r} from {item.get('name')!r} ({item['id']})?", facts)


@connector.tool("destructive", confirm=_unshare_question)
def remove_permission(
    ctx: Context, file_id: FileId, permission_id: Annotated[str, Field(min_length=1, max_length=200)]
) -> Permission:
    """Remove one permission from a file (needs --allow-sharing). The user confirms first."""
    from patchbay import check_unchanged

    state = _state(ctx)
    sharing.check_allowed("user", None, allow_sharing=state.settings.allow_sharing, allow_public=True, domain=None)
    item, facts = _about(state, file_id)
    check_unchanged(facts, f"the file {file_id!r}")
    state.drive.remove_permission(item["id"], permission_id)
    return Permission(id=permission_id, type="removed", role="none")


def _reporter(progress: Progress) -> Any:
    sent = [0]

    def report(done: int, total: int) -> None:
        progress.advance(done - sent[0])
        sent[0] = done

    return report


# Resources --------------------------------------------------------------------------------------


@connector.resource("gdrive:///{file_id}", name="file", description="A Drive file's content, by id.")
async def file_resource(file_id: str, ctx: Context) -> str:
    try:
        blocks = await _call(ctx, ops.read, file_id, _state(ctx).settings.max_result_bytes, 0)
    except ToolError as exc:
        raise ResourceDenied(str(exc)) from None
    texts = [b.text for b in blocks if isinstance(b, types.TextContent)]
    if not texts:
        raise ResourceDenied(f"{file_id!r} is not text; read_file returns it as binary content.")
    return "\n".join(texts)
