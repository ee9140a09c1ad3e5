"""The effective scope of a call: the operator's directories, narrowed by the client's roots.

The operator's directories are the ceiling. A client that supports MCP roots narrows
them: the scope is the intersection, so a root outside every operator directory
grants nothing and an empty root list admits nothing.

How the roots arrive depends on the protocol era. In 2026-07-28 they are asked for on
every call (an input-required round, through the SDK's resolver). In the handshake era
they are fetched once per connection and again after `notifications/roots/list_changed`;
a call waits (bounded) for the first answer rather than use a wider scope.
"""

from __future__ import annotations

import posixpath
import stat
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import unquote, urlparse
from weakref import WeakKeyDictionary

import anyio
import mcp_types as types
from mcp.server.connection import Connection
from mcp.server.mcpserver import Context, ListRoots, Resolve
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import is_version_at_least

from patchbay import ToolError, connection_of, runtime_of
from patchbay_filesystem.paths import Root, locate

_MODERN = "2026-07-28"


@dataclass(frozen=True)
class Scope:
    """The directories one call may use, and whether client roots narrowed them."""

    roots: tuple[Root, ...]
    narrowed_by_client: bool


@dataclass
class _ClientRoots:
    generation: int = 0
    fetched: int = -1  # the generation the roots below belong to
    roots: list[types.Root] = field(default_factory=list)
    fetching: anyio.Event | None = None


class RootsTracker:
    """The handshake-era client roots of every connection, refetched after list_changed."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._clients: WeakKeyDictionary[Connection, _ClientRoots] = WeakKeyDictionary()

    def changed(self, connection: Connection) -> None:
        """The client said its roots changed: the next call waits for the new list."""
        self._clients.setdefault(connection, _ClientRoots()).generation += 1

    async def roots(self, ctx: Context) -> list[types.Root]:
        """The client's current roots, fetched if unknown or changed since last fetched."""
        state = self._clients.setdefault(connection_of(ctx), _ClientRoots())
        with anyio.fail_after(self._timeout):
            while state.fetched != state.generation:
                if state.fetching is not None:  # another call is asking: wait for its answer
                    await state.fetching.wait()
                    continue
                state.fetching = done = anyio.Event()
                generation = state.generation
                try:
                    result = await ctx.request_context.session.send_request(
                        types.ListRootsRequest(),
                        types.ListRootsResult,
                        metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
                    )
                    state.roots, state.fetched = list(result.roots), generation
                finally:
                    state.fetching = None
                    done.set()
        return state.roots


def is_modern(ctx: Context) -> bool:
    """Whether this request speaks 2026-07-28 (roots come with each call)."""
    version = ctx.protocol_version
    return version is not None and is_version_at_least(version, _MODERN)


def client_supports_roots(ctx: Context) -> bool:
    """Whether the client declared the roots capability (and can be asked on this connection)."""
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.roots is None:
        return False
    return is_modern(ctx) or ctx.request_context.session.can_send_request


def intersect(ceiling: tuple[Root, ...], client_roots: list[types.Root]) -> tuple[Root, ...]:
    """The parts of the operator's directories that the client's roots also cover."""
    found: dict[str, Root] = {}
    for client_root in client_roots:
        uri = str(client_root.uri)
        parsed = urlparse(uri)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            continue  # only local file roots say anything about this filesystem
        path = posixpath.normpath(unquote(parsed.path)) or "/"
        for directory in ceiling:
            if directory.contains(path):
                real = _real_directory(ceiling, path)
                if real is not None and real not in found:
                    found[real] = Root(real, f"client root {uri} (within operator directory {directory.path})")
            elif Root(path, "").contains(directory.path) and directory.path not in found:
                found[directory.path] = Root(directory.path, f"operator directory (within client root {uri})")
    return tuple(found.values())


def _real_directory(ceiling: tuple[Root, ...], path: str) -> str | None:
    """The real path of an existing directory inside the ceiling, symbolic links resolved safely."""
    try:
        with locate(ceiling, path) as entry:
            return entry.path if stat.S_ISDIR(entry.lstat().st_mode) else None
    except ToolError:
        return None


async def _client_roots(ctx: Context) -> Any:
    """The client's roots: asked per call in 2026-07-28, tracked per connection before that.

    None when the client has no roots, in which case the operator's directories apply.
    """
    if not client_supports_roots(ctx):
        return None
    if is_modern(ctx):
        return ListRoots()
    try:
        roots: list[types.Root] = await runtime_of(ctx).state.roots.roots(ctx)
    except TimeoutError:
        raise ToolError(
            "The client did not list its roots in time, so the allowed directories are unknown; nothing was done."
        ) from None
    return types.ListRootsResult(roots=roots)


async def _scope(ctx: Context, answer: Annotated[types.ListRootsResult | None, Resolve(_client_roots)]) -> Scope:
    ceiling: tuple[Root, ...] = runtime_of(ctx).state.ceiling
    if answer is None:
        return Scope(ceiling, narrowed_by_client=False)
    return Scope(intersect(ceiling, list(answer.roots)), narrowed_by_client=True)


InScope = Annotated[Scope, Resolve(_scope)]
"""A tool parameter that receives the call's effective scope."""
