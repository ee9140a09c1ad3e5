"""The example connector's tools: a notebook kept in memory for the life of the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from patchbay import Connector, Cursor, Page, ResourceNotFound, ToolError, __version__, runtime_of
from patchbay.example.settings import ExampleSettings

Key = Annotated[str, Field(min_length=1, max_length=200, description="The note's key, e.g. 'groceries'.")]


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


@asynccontextmanager
async def notebook(settings: ExampleSettings) -> AsyncIterator[dict[str, str]]:
    """The notebook lives as long as the server."""
    yield {f"note-{i:05d}": f"Seed note number {i}." for i in range(settings.seed_notes)}


connector: Connector[ExampleSettings, dict[str, str]] = Connector(
    "example",
    title="Patchbay example",
    version=__version__,
    settings=ExampleSettings,
    description="An in-memory notebook that shows every feature of the Patchbay base.",
    instructions="Notes are addressed by key. list_notes pages through them; note://{key} reads one.",
    lifespan=notebook,
    open_world=False,
)


def _notes(ctx: Context) -> dict[str, str]:
    notes: dict[str, str] = connector.state(ctx)
    return notes


def _get(ctx: Context, key: str) -> str:
    try:
        return _notes(ctx)[key]
    except KeyError:
        raise ToolError(f"No note with key {key!r}; list_notes shows the keys that exist.") from None


@connector.tool("read")
async def echo(text: Annotated[str, Field(description="Any text.")]) -> Echoed:
    """Return the text unchanged; a quick check that the connector answers."""
    return Echoed(text=text)


@connector.tool("read", paginated=True)
async def list_notes(
    ctx: Context,
    prefix: Annotated[str, Field(description="Only keys starting with this.")] = "",
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


@connector.tool("write", idempotent=True)
async def put_note(ctx: Context, key: Key, text: Annotated[str, Field(max_length=100_000)]) -> Note:
    """Create a note, or replace the text of an existing one."""
    _notes(ctx)[key] = text
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


@connector.resource("note://{key}", name="note", mime_type="text/plain", description="The text of one note.")
async def note_resource(key: str, ctx: Context) -> str:
    try:
        return _notes(ctx)[key]
    except KeyError:
        raise ResourceNotFound(f"No note with key {key!r}; list_notes shows the keys that exist.") from None


@connector.prompt(title="Summarise notes")
def summarize_notes(prefix: str = "") -> str:
    """Ask for a summary of the notes whose keys start with a prefix."""
    return f"Use list_notes with prefix {prefix!r} to read the notes, then summarise them in five bullet points."


@connector.completion("summarize_notes", "prefix")
async def complete_prefix(value: str, _: dict[str, str]) -> list[str]:
    return [p for p in ("note-", "todo-", "idea-") if p.startswith(value)]
