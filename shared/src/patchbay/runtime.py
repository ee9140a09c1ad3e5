"""`Runtime`: one built server's shared parts, and the protocol features the SDK leaves open.

It is the SDK's lifespan context, so tools reach it through their `ctx` (`runtime_of`).
It enters the connector's lifespan once however many connections share the server, and
serves what every connector gets from the base: the audit middleware, paged `tools/list`
(with output schemas inlined) and dynamic `resources/list`, `logging/setLevel` (log
records forwarded to the client, see client_log.py), completions, resource
subscriptions (both eras; not on stateless HTTP, which cannot deliver them) and
per-connection notifications. It advertises only what it serves: no `prompts`
capability without prompts.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import mcp_types as types
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError

from patchbay import sdk
from patchbay.audit import AuditLog
from patchbay.client_log import ClientLog
from patchbay.errors import ErrorMapper
from patchbay.pagination import CursorCodec, InvalidCursor
from patchbay.redaction import Redactor
from patchbay.registry import Hooks, NotificationHook, ToolSpec
from patchbay.schemas import compact_input_schema, lean_output_schema
from patchbay.settings import ConnectorSettings
from patchbay.workers import Workers

SettingsT = TypeVar("SettingsT", bound=ConnectorSettings)
StateT = TypeVar("StateT")


def runtime_of(ctx: Context[Any, Any] | ServerRequestContext[Any, Any]) -> Runtime[Any, Any]:
    """The running connector behind a tool's `ctx` (or a request's context)."""
    request = ctx.request_context if isinstance(ctx, Context) else ctx
    return cast(Runtime[Any, Any], request.lifespan_context)


@dataclass(eq=False)
class Runtime(Generic[SettingsT, StateT]):
    """One built server's shared parts; it is the SDK's lifespan context."""

    hooks: Hooks
    settings: SettingsT
    redactor: Redactor
    audit: AuditLog
    cursors: CursorCodec
    errors: ErrorMapper
    workers: Workers
    client_log: ClientLog
    tools: dict[str, ToolSpec] = field(default_factory=dict)
    server: MCPServer[Any] | None = None
    _state: Any = None
    _users: int = 0
    _exit: AbstractAsyncContextManager[Any] | None = None
    _subscribers: dict[str, set[Connection]] = field(default_factory=dict)
    _tools_listed: list[types.Tool] | None = None

    @property
    def state(self) -> StateT:
        """What the connector's lifespan yielded."""
        return cast(StateT, self._state)

    @asynccontextmanager
    async def lifespan(self, _server: Any) -> AsyncIterator[Runtime[SettingsT, StateT]]:
        """Enter the connector's lifespan once, however many connections share the server."""
        first = self._users == 0
        self._users += 1
        try:
            if first:
                self.audit.open()
                if self.hooks.lifespan is not None:
                    with self.redactor.running():  # credential providers made here register with it
                        self._exit = self.hooks.lifespan(self.settings)
                        self._state = await self._exit.__aenter__()
            yield self
        finally:
            self._users -= 1
            if self._users == 0:
                if self._exit is not None:
                    exit_, self._exit = self._exit, None
                    await exit_.__aexit__(*sys.exc_info())
                self.audit.close()

    async def resource_updated(self, uri: str) -> None:
        """Tell every subscriber of `uri` that it changed (both protocol eras)."""
        for connection in list(self._subscribers.get(uri, ())):
            try:
                await connection.send_resource_updated(uri)
            except Exception:  # a closed connection: forget it
                self._subscribers[uri].discard(connection)
        if self.server is not None:
            await sdk.publish_resource_updated(self.server, uri)

    def install(self, server: MCPServer[Any]) -> None:
        """Wire the protocol features the SDK leaves to the server author."""
        self.audit.errors = self.errors  # so resource and prompt failures use the connector's mappers
        server.middleware.append(self.audit)
        sdk.add_request_handler(server, "tools/list", types.PaginatedRequestParams, self._list_tools)
        sdk.add_request_handler(server, "logging/setLevel", types.SetLevelRequestParams, self._set_level)
        if self.settings.transport == "stdio" or self.settings.stateful:
            # Stateless HTTP has no stream to send a handshake-era update on: not offered there.
            sdk.add_request_handler(server, "resources/subscribe", types.SubscribeRequestParams, self._subscribe)
            sdk.add_request_handler(server, "resources/unsubscribe", types.UnsubscribeRequestParams, self._unsubscribe)
        sdk.add_request_handler(server, "completion/complete", types.CompleteRequestParams, self._complete)
        if self.hooks.resource_lister is not None:
            sdk.add_request_handler(server, "resources/list", types.PaginatedRequestParams, self._list_resources)
        if not self.hooks.has_prompts:
            sdk.remove_request_handler(server, "prompts/list")
            sdk.remove_request_handler(server, "prompts/get")
        for method, hook in self.hooks.notifications.items():
            sdk.add_notification_handler(server, method, self._notify_hook(hook))

    def _notify_hook(self, hook: NotificationHook) -> Callable[[ServerRequestContext[Any, Any], Any], Awaitable[None]]:
        async def handle(ctx: ServerRequestContext[Any, Any], _: Any) -> None:
            await hook(self, connection_of(ctx))

        return handle

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams
    ) -> types.ListToolsResult:
        tools = await self._listed_tools()
        size = self.settings.tools_page_size
        query = {"method": "tools/list"}
        start = 0
        if params.cursor:
            try:
                start = int(self.cursors.decode(params.cursor, query))
            except InvalidCursor as exc:
                raise MCPError(code=types.INVALID_PARAMS, message=f"Invalid cursor: {exc}") from None
        end = start + size
        next_cursor = self.cursors.encode(str(end), query) if end < len(tools) else None
        return types.ListToolsResult(tools=tools[start:end], next_cursor=next_cursor)

    async def _list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams
    ) -> types.ListResourcesResult:
        assert self.server is not None and self.hooks.resource_lister is not None
        query = {"method": "resources/list"}
        token = None
        if params.cursor:
            try:
                token = self.cursors.decode(params.cursor, query)
            except InvalidCursor as exc:
                raise MCPError(code=types.INVALID_PARAMS, message=f"Invalid cursor: {exc}") from None
        listed, following = await self.hooks.resource_lister(self, token)
        if token is None:
            listed = [*await self.server.list_resources(), *listed]
        next_cursor = self.cursors.encode(following, query) if following is not None else None
        return types.ListResourcesResult(resources=listed, next_cursor=next_cursor)

    async def _listed_tools(self) -> list[types.Tool]:
        """The tools as listed, built once: input schemas without titles or null options (what the
        model reads), output schemas lean (`lean_output_schema`: what clients validate on every call)."""
        if self._tools_listed is None:
            assert self.server is not None
            self._tools_listed = [
                tool.model_copy(
                    update={
                        "input_schema": compact_input_schema(tool.input_schema, closed=self.hooks.strict_arguments),
                        "output_schema": lean_output_schema(tool.output_schema) if tool.output_schema else None,
                    }
                )
                for tool in await self.server.list_tools()
            ]
        return self._tools_listed

    async def _set_level(self, ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams) -> Any:
        self.client_log.set_level(connection_of(ctx), params.level)
        return types.EmptyResult()

    async def _subscribe(self, ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams) -> Any:
        uri = str(params.uri)
        if self.hooks.on_subscribe is not None:
            await self.hooks.on_subscribe(self, uri, ctx)
        self._subscribers.setdefault(uri, set()).add(connection_of(ctx))
        return types.EmptyResult()

    async def _unsubscribe(self, ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams) -> Any:
        uri = str(params.uri)
        connections = self._subscribers.get(uri, set())
        connections.discard(connection_of(ctx))
        if not connections:
            self._subscribers.pop(uri, None)
            if self.hooks.on_unsubscribe is not None:
                await self.hooks.on_unsubscribe(self, uri, ctx)
        return types.EmptyResult()

    async def _complete(
        self, ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        ref = params.ref
        key = ref.name if isinstance(ref, types.PromptReference) else ref.uri
        completer = self.hooks.completers.get((key, params.argument.name))
        values: list[str] = []
        if completer is not None:
            context = params.context.arguments if params.context and params.context.arguments else {}
            values = await completer(params.argument.value, dict(context))
        return types.CompleteResult(
            completion=types.Completion(values=values[:100], total=len(values), has_more=len(values) > 100)
        )


def connection_of(ctx: ServerRequestContext[Any, Any] | Context[Any, Any]) -> Connection:
    """The client connection behind a request: one per client, where the SDK makes a new
    session object per request. Key per-client state (e.g. the client's roots) by it."""
    return sdk.connection_of(ctx)
