"""The effective scope of a call: the operator's directories, narrowed by the client's roots.

The operator's directories are the ceiling. A client that supports MCP roots narrows
them: the scope is the intersection, so a root outside every operator directory
grants nothing and an empty root list admits nothing. A call that finds nothing in
scope is refused with the cause and the remedy, not blamed on its path. Operators whose
host sends no useful roots set `client_roots = "ignore"` (`--client-roots ignore`):
then the client is never asked and the operator's directories apply as they are.

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
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, ListRoots, Resolve
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import is_version_at_least

from patchbay import ToolError, connection_of, runtime_of
from patchbay_filesystem.paths import Root, locate

_MODERN = "2026-07-28"
Request = ServerRequestContext[Any, Any]


@dataclass(frozen=True)
class Scope:
    """The directories one call may use, whether client roots narrowed them, and why it is empty."""

    directories: tuple[Root, ...]
    narrowed_by_client: bool
    empty_because: str | None = None
    """When the client's roots left nothing in scope: the cause and the remedy."""

    @property
    def roots(self) -> tuple[Root, ...]:
        """The directories to locate paths in.

        Raises:
            ToolError: the client's roots left nothing in scope; the message says why and what to do,
                rather than blame the path the call named.
        """
        if not self.directories and self.empty_because is not None:
            raise ToolError(f"Access denied: {self.empty_because}")
        return self.directories


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

    async def roots(self, request: Request) -> list[types.Root]:
        """The client's current roots, fetched if unknown or changed since last fetched."""
        state = self._clients.setdefault(connection_of(request), _ClientRoots())
        with anyio.fail_after(self._timeout):
            while state.fetched != state.generation:
                if state.fetching is not None:  # another call is asking: wait for its answer
                    await state.fetching.wait()
                    continue
                state.fetching = done = anyio.Event()
                generation = state.generation
                try:
                    result = await request.session.send_request(
                        types.ListRootsRequest(),
                        types.ListRootsResult,
                        metadata=ServerMessageMetadata(related_request_id=request.request_id),
                    )
                    state.roots, state.fetched = list(result.roots), generation
                finally:
                    state.fetching = None
                    done.set()
        return state.roots


def is_modern(request: Request) -> bool:
    """Whether this request speaks 2026-07-28 (roots come with each call)."""
    return is_version_at_least(request.protocol_version, _MODERN)


def client_supports_roots(request: Request) -> bool:
    """Whether the client declared the roots capability (and can be asked on this connection).

    A handshake-era client on stateless HTTP cannot be asked and its capabilities are
    unknown: the operator's directories apply (`--stateful` lets such clients narrow them).
    With `client_roots = "ignore"` no client is asked.
    """
    if runtime_of(request).state.settings.client_roots == "ignore":
        return False
    capabilities = request.session.client_capabilities
    if capabilities is None or capabilities.roots is None:
        return False
    return is_modern(request) or request.session.can_send_request


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


_REMEDY = (
    "or start the server with --client-roots ignore (PATCHBAY_FILESYSTEM_CLIENT_ROOTS=ignore) "
    "to use the operator's directories as they are."
)


def client_scope(ceiling: tuple[Root, ...], client_roots: list[types.Root]) -> Scope:
    """The operator's directories narrowed by the client's roots; when nothing is left, why."""
    roots = intersect(ceiling, client_roots)
    if roots:
        return Scope(roots, narrowed_by_client=True)
    if not client_roots:
        why = (
            "the client sent no roots (its roots/list answer is empty), so nothing is in scope. "
            'Configure roots in the client (MCP Inspector: a "roots" list in its --config file), '
        )
    else:
        sent = ", ".join(str(root.uri) for root in client_roots)
        within = ", ".join(directory.path for directory in ceiling)
        why = (
            f"none of the client's roots ({sent}) is an existing directory within the operator's "
            f"directories ({within}), so nothing is in scope. Add such a root in the client, "
        )
    return Scope((), narrowed_by_client=True, empty_because=why + _REMEDY)


def _real_directory(ceiling: tuple[Root, ...], path: str) -> str | None:
    """The real path of an existing directory inside the ceiling, symbolic links resolved safely."""
    try:
        with locate(ceiling, path) as entry:
            return entry.path if stat.S_ISDIR(entry.lstat().st_mode) else None
    except ToolError:
        return None


async def handshake_scope(request: Request) -> Scope:
    """The scope of a handshake-era request (or one from a client without roots)."""
    state = runtime_of(request).state
    if not client_supports_roots(request):
        return Scope(state.ceiling, narrowed_by_client=False)
    try:
        roots: list[types.Root] = await state.roots.roots(request)
    except TimeoutError:
        raise ToolError(
            "The client did not list its roots in time, so the allowed directories are unknown; nothing was done."
        ) from None
    return client_scope(state.ceiling, roots)


def narrowed(request: Request, roots: list[types.Root]) -> Scope:
    """The scope for roots a 2026-07-28 client sent with this request."""
    return client_scope(runtime_of(request).state.ceiling, roots)


async def _client_roots(ctx: Context) -> Any:
    """In 2026-07-28, ask the client for its roots (an input-required round); else nothing to ask."""
    if is_modern(ctx.request_context) and client_supports_roots(ctx.request_context):
        return ListRoots()
    return None


async def _scope(ctx: Context, answer: Annotated[types.ListRootsResult | None, Resolve(_client_roots)]) -> Scope:
    if answer is not None:
        return narrowed(ctx.request_context, list(answer.roots))
    return await handshake_scope(ctx.request_context)


InScope = Annotated[Scope, Resolve(_scope)]
"""A tool parameter that receives the call's effective scope."""
