"""The example connector's tools: a notebook kept in memory for the life of the server,
and the books of a library service it may read (library.py).

It uses every hook the base offers, so its tests (and the official conformance
suite) exercise them: safety classes, confirmation with a fingerprint, pagination,
secret settings and arguments, error mappers, a preflight check, blocking work in
worker threads with progress and cancellation, binary content, resources with a
dynamic listing and subscriptions, a prompt with completion, a client notification
hook and log records sent to the client; and for its upstream, the upstream helper,
the retry policy, a scope (shelves), the content helper and untrusted-text cleaning.
"""

from __future__ import annotations

import base64
import hmac
import io
import logging
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import mcp_types as types
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from patchbay import (
    Connector,
    Cursor,
    MCPError,
    Page,
    Progress,
    Question,
    ResourceNotFound,
    Runtime,
    SettingsError,
    ToolError,
    __version__,
    check_unchanged,
    fingerprint,
    runtime_of,
)
from patchbay.example.library import Library, library_errors
from patchbay.example.settings import ExampleSettings
from patchbay.untrusted import Untrusted
from patchbay.upstream import upstream_of

logger = logging.getLogger("patchbay.example")

Key = Annotated[str, Field(min_length=1, max_length=200, description="The note's key, e.g. 'groceries'.")]
Prefix = Annotated[str, Field(max_length=200, description="Only keys starting with this.")]


class Notebook(dict[str, str]):
    """The notes, and what the connector learnt about its clients."""

    def __init__(self, notes: dict[str, str], limit: int, library: Library | None = None) -> None:
        super().__init__(notes)
        self.limit = limit
        self.library = library
        self.watched: set[str] = set()
        self.roots_changes = 0


class NotebookFull(Exception):
    """The notebook holds `max_notes` notes already (mapped to a tool error by `_notebook_errors`)."""


def _notebook_errors(exc: BaseException) -> str | None:
    if isinstance(exc, NotebookFull):
        return f"The notebook is full ({exc}); delete notes first, or raise PATCHBAY_EXAMPLE_MAX_NOTES."
    return None


async def _preflight(settings: ExampleSettings) -> None:
    if settings.seed_notes > settings.max_notes:
        raise SettingsError(
            f"PATCHBAY_EXAMPLE_SEED_NOTES ({settings.seed_notes}) is more than PATCHBAY_EXAMPLE_MAX_NOTES "
            f"({settings.max_notes}); lower one or raise the other"
        )


@asynccontextmanager
async def notebook(settings: ExampleSettings) -> AsyncIterator[Notebook]:
    """The notebook lives as long as the server."""
    notes = {f"note-{i:05d}": f"Seed note number {i}." for i in range(settings.seed_notes)}
    library = Library(settings.library_url, settings.retry_policy("The library")) if settings.library_url else None
    yield Notebook(notes, settings.max_notes, library)


connector: Connector[ExampleSettings, Notebook] = Connector(
    "example",
    title="Patchbay example",
    version=__version__,
    settings=ExampleSettings,
    description="An in-memory notebook that shows every feature of the Patchbay base.",
    instructions="Notes are addressed by key. list_notes pages through them; note://{key} reads one.",
    lifespan=notebook,
    open_world=False,
    error_mappers=[_notebook_errors, library_errors],
    preflight=_preflight,
)


class Note(BaseModel):
    """One note."""

    key: str
    text: str


class Echoed(BaseModel):
    """What `echo` returns."""

    text: str


class Deleted(BaseModel):
    """What `delete_note` removed."""

    key: str
    size: int = Field(description="Characters the note held.")


class DeletedNotes(BaseModel):
    """What `delete_notes` removed."""

    keys: list[str]


class WordCount(BaseModel):
    """What `count_words` found."""

    notes: int
    words: int


class PassphraseCheck(BaseModel):
    """Whether the passphrase matched."""

    matches: bool


def _notes(ctx: Context) -> Notebook:
    return connector.state(ctx)


def _get(ctx: Context, key: str) -> str:
    try:
        return _notes(ctx)[key]
    except KeyError:
        raise ToolError(f"No note with key {key!r}; list_notes shows the keys that exist.") from None


# Reading ------------------------------------------------------------------------------


@connector.tool("read")
async def echo(text: Annotated[str, Field(description="Any text.")]) -> Echoed:
    """Return the text unchanged; a quick check that the connector answers."""
    return Echoed(text=text)


@connector.tool("read", paginated=True)
async def list_notes(
    ctx: Context,
    prefix: Prefix = "",
    cursor: Cursor = None,
    limit: Annotated[int, Field(ge=1, le=100, description="Notes per page.")] = 20,
) -> Page[Note]:
    """List notes in key order, a page at a time."""
    keys = sorted(k for k in _notes(ctx) if k.startswith(prefix) and (cursor is None or k > cursor))
    page = keys[:limit]
    more = len(keys) > limit
    return Page(items=[Note(key=k, text=_notes(ctx)[k]) for k in page], next_cursor=page[-1] if more else None)


@connector.tool("read")
async def get_note(ctx: Context, key: Key) -> Note:
    """Read one note."""
    return Note(key=key, text=_get(ctx, key))


@connector.tool("read")
def count_words(ctx: Context, prefix: Prefix = "") -> WordCount:
    """Count the words of the notes whose keys start with a prefix (reports progress on big notebooks)."""
    progress = Progress(ctx, "notes counted", every=1000)
    notes = words = 0
    for key, text in list(_notes(ctx).items()):  # a worker thread: blocking work is fine here
        if key.startswith(prefix):
            notes += 1
            words += len(text.split())
        progress.advance()  # also where a cancelled call stops
    return WordCount(notes=notes, words=words)


@connector.tool("read")
def export_notes(ctx: Context, prefix: Prefix = "") -> types.CallToolResult:
    """Export the notes whose keys start with a prefix as a zip file (one .txt per note)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, text in sorted(_notes(ctx).items()):
            if key.startswith(prefix):
                archive.writestr(f"{key}.txt", text)
    blob = base64.b64encode(buffer.getvalue()).decode()
    resource = types.BlobResourceContents(
        uri=f"notes-export://{prefix or 'all'}.zip", mime_type="application/zip", blob=blob
    )
    return types.CallToolResult(content=[types.EmbeddedResource(type="resource", resource=resource)])


@connector.tool("read", secret_args=["passphrase"])
async def check_passphrase(ctx: Context, passphrase: Annotated[str, Field(max_length=1000)]) -> PassphraseCheck:
    """Say whether a passphrase is the one the operator configured."""
    expected = runtime_of(ctx).settings.passphrase
    if expected is None:
        raise ToolError("No passphrase is configured; the operator sets PATCHBAY_EXAMPLE_PASSPHRASE.")
    logger.info("checking a passphrase of %d characters", len(passphrase))
    return PassphraseCheck(matches=hmac.compare_digest(passphrase, expected.get_secret_value()))


# Writing ------------------------------------------------------------------------------


@connector.tool("write", idempotent=True)
async def put_note(ctx: Context, key: Key, text: Annotated[str, Field(max_length=100_000)]) -> Note:
    """Create a note, or replace the text of an existing one."""
    notes = _notes(ctx)
    if key not in notes and len(notes) >= notes.limit:
        raise NotebookFull(f"{len(notes)} notes")
    notes[key] = text
    await runtime_of(ctx).resource_updated(f"note://{key}")
    return Note(key=key, text=text)


def _deletion_question(ctx: Context, key: str) -> str:
    size = len(_get(ctx, key))
    return f"Delete the note {key!r} ({size} characters)? This cannot be undone."


@connector.tool("destructive", confirm=_deletion_question)
async def delete_note(ctx: Context, key: Key) -> Deleted:
    """Delete a note for good. The user is asked to confirm first."""
    text = _notes(ctx).pop(key, None)
    if text is None:
        raise ToolError(f"No note with key {key!r}; nothing was deleted.")
    await runtime_of(ctx).resource_updated(f"note://{key}")
    return Deleted(key=key, size=len(text))


def _matching(ctx: Context, prefix: str) -> list[str]:
    return sorted(k for k in _notes(ctx) if k.startswith(prefix))


def _bulk_question(ctx: Context, prefix: str) -> Question:
    keys = _matching(ctx, prefix)
    if not keys:
        raise ToolError(f"No note has a key starting with {prefix!r}; nothing to delete.")
    return Question(f"Delete {len(keys)} notes whose keys start with {prefix!r}?", fingerprint(keys))


@connector.tool("destructive", confirm=_bulk_question)
async def delete_notes(ctx: Context, prefix: Annotated[str, Field(min_length=1, max_length=200)]) -> DeletedNotes:
    """Delete every note whose key starts with a prefix. The user confirms the exact set first."""
    keys = _matching(ctx, prefix)
    check_unchanged(fingerprint(keys), f"the notes under {prefix!r}")
    for key in keys:
        del _notes(ctx)[key]
        await runtime_of(ctx).resource_updated(f"note://{key}")
    logger.info("deleted %d notes under %r", len(keys), prefix)
    return DeletedNotes(keys=keys)


# The library (an upstream service) ----------------------------------------------------------

Shelf = Annotated[str, Field(min_length=1, max_length=200, description="A shelf of the library, e.g. 'fiction'.")]


class Book(BaseModel):
    """A book of the library; its title is written by others, so it is cleaned of hidden text."""

    id: str
    shelf: str
    title: Untrusted
    size: int = Field(description="Bytes of its content.")


class BooksFound(BaseModel):
    """Books whose titles matched, on the shelves this connector may read."""

    books: list[Book]
    withheld: str | None = Field(None, description="How many matches on other shelves were left out.")


def _library(ctx: Context) -> Library:
    library = _notes(ctx).library
    if library is None:
        raise ToolError("No library is configured; the operator sets PATCHBAY_EXAMPLE_LIBRARY_URL.")
    return library


def _shelves(ctx: Context) -> Any:
    settings: ExampleSettings = runtime_of(ctx).settings
    return settings.shelves


@connector.tool("read", paginated=True)
async def list_shelf(
    ctx: Context,
    shelf: Shelf,
    cursor: Cursor = None,
    limit: Annotated[int, Field(ge=1, le=100, description="Books per page.")] = 20,
) -> Page[Book]:
    """List the books on a shelf of the library, a page at a time."""
    name = _shelves(ctx).check(shelf, argument="shelf")
    data = await upstream_of(ctx, "The library").call(_library(ctx).books, name, cursor, limit)
    return Page(items=[Book.model_validate(b) for b in data["books"]], next_cursor=data.get("next_page_token"))


@connector.tool("read")
async def search_books(ctx: Context, query: Annotated[str, Field(min_length=1, max_length=200)]) -> BooksFound:
    """Find books whose titles contain some text, on the shelves you may read."""
    data = await upstream_of(ctx, "The library").call(_library(ctx).search, query)
    found = _shelves(ctx).filter([Book.model_validate(b) for b in data["books"]], key=lambda book: book.shelf)
    return BooksFound(books=found.kept, withheld=found.note)


@connector.tool("read")
async def read_book(
    ctx: Context,
    shelf: Shelf,
    book: Annotated[str, Field(min_length=1, max_length=200, description="The book's id, from list_shelf.")],
    max_bytes: Annotated[int, Field(ge=1, le=1 << 20, description="Read at most this many bytes.")] = 65536,
) -> types.CallToolResult:
    """Read a book of the library: text as text, anything else as binary content; long texts are cut."""
    name = _shelves(ctx).check(f"{shelf}/{book}", argument="book")
    shelf_name, _, book_id = name.partition("/")
    found = await upstream_of(ctx, "The library").call(_library(ctx).content, shelf_name, book_id, max_bytes)
    blocks: list[types.ContentBlock] = [found.block]
    if found.truncated:
        blocks.append(types.TextContent(type="text", text=f"[cut: {found.range_note()}; raise max_bytes to read more]"))
    return types.CallToolResult(content=blocks)


# Resources, prompts, notifications ---------------------------------------------------------


@connector.resource("note://{key}", name="note", mime_type="text/plain", description="The text of one note.")
async def note_resource(key: str, ctx: Context) -> str:
    try:
        return _notes(ctx)[key]
    except KeyError:
        raise ResourceNotFound(f"No note with key {key!r}; list_notes shows the keys that exist.") from None


@connector.resource_list
async def list_note_resources(runtime: Runtime[Any, Any], token: str | None) -> tuple[list[types.Resource], str | None]:
    """Every note as a resource, 100 a page (the token is the last key of the previous page)."""
    notes: Notebook = runtime.state
    keys = sorted(k for k in notes if token is None or k > token)
    page = keys[:100]
    resources = [types.Resource(uri=f"note://{k}", name=k, mime_type="text/plain") for k in page]
    return resources, page[-1] if len(keys) > 100 else None


async def _watch(runtime: Runtime[Any, Any], uri: str, _: ServerRequestContext[Any, Any]) -> None:
    if uri.startswith("file:"):  # a notebook has no files: say so rather than never send an update
        raise MCPError(code=types.INVALID_PARAMS, message="This connector has no file:// resources to subscribe to.")
    runtime.state.watched.add(uri)


async def _unwatch(runtime: Runtime[Any, Any], uri: str, _: ServerRequestContext[Any, Any]) -> None:
    runtime.state.watched.discard(uri)


connector.subscriptions(_watch, _unwatch)


@connector.notification("notifications/roots/list_changed")
async def _roots_changed(runtime: Runtime[Any, Any], _: Connection) -> None:
    runtime.state.roots_changes += 1  # the notebook has no roots; it counts, to show the hook


@connector.prompt(title="Summarise notes")
def summarize_notes(prefix: str = "") -> str:
    """Ask for a summary of the notes whose keys start with a prefix."""
    return f"Use list_notes with prefix {prefix!r} to read the notes, then summarise them in five bullet points."


@connector.completion("summarize_notes", "prefix")
async def complete_prefix(value: str, _: dict[str, str]) -> list[str]:
    return [p for p in ("note-", "todo-", "idea-") if p.startswith(value)]
