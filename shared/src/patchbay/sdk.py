"""The one place that reaches into the MCP SDK's private parts.

`MCPServer` (mcp 2.3.0) leaves some protocol features to the server author and
offers no public seam for them: request handlers on its low-level server, the
subscription bus, the connection behind a request, the capabilities it derives from
registered handlers, and its `tools/call` handler. Every such access lives here, so
an SDK upgrade is checked in one module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import mcp_types as types
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.shared.subscriptions import ResourceUpdated
from pydantic import BaseModel, ValidationError

Request = ServerRequestContext[Any, Any]
Handler = Callable[[Request, Any], Awaitable[Any]]
CallTool = Callable[[Context[Any, Any], types.CallToolRequestParams], Awaitable[Any]]


def add_request_handler(server: MCPServer[Any], method: str, params: type[BaseModel], handler: Handler) -> None:
    """Serve `method` (replacing the SDK's own handler, if any)."""
    server._lowlevel_server.add_request_handler(method, params, handler)


def add_notification_handler(server: MCPServer[Any], method: str, handler: Handler) -> None:
    """Handle the client notification `method`."""
    server._lowlevel_server.add_notification_handler(method, types.NotificationParams, handler)


def remove_request_handler(server: MCPServer[Any], method: str) -> None:
    """Stop serving `method`; capabilities derived from it are no longer advertised."""
    server._lowlevel_server._request_handlers.pop(method, None)


def serve_call_tool(server: MCPServer[Any], handler: CallTool) -> None:
    """Answer `tools/call` with `handler(ctx, params)`, given the same `Context` the SDK builds."""

    async def call_tool(request: Request, params: types.CallToolRequestParams) -> Any:
        bus = server._subscriptions
        ctx = Context(request_context=request, mcp_server=server, input_params=params, subscriptions=bus)
        return await handler(ctx, params)

    add_request_handler(server, "tools/call", types.CallToolRequestParams, call_tool)


async def publish_resource_updated(server: MCPServer[Any], uri: str) -> None:
    """Tell `subscriptions/listen` streams (2026-07-28) that `uri` changed."""
    await server._subscriptions.publish(ResourceUpdated(uri=uri))


def connection_of(ctx: Request | Context[Any, Any]) -> Connection:
    """The client connection behind a request: one per client, where the SDK makes a new
    session object per request. Key per-client state (e.g. the client's roots) by it."""
    request = ctx.request_context if isinstance(ctx, Context) else ctx
    connection: Connection = request.session._connection
    return connection


async def run_stdio(server: MCPServer[Any]) -> None:
    """Serve over stdio like `MCPServer.run_stdio_async`, but answer every request line.

    The SDK parses each line with pydantic's strict JSON parser, which refuses a lone
    surrogate escape (`"\\ud800"`), and then drops the line with a debug log: the client
    waits forever. Here such a line is parsed again with Python's `json` (which keeps the
    surrogate, so the `tools/call` handler can refuse the argument by name); a line that
    is not JSON-RPC at all is answered with a parse error (its id when one can be read).
    """
    lowlevel = server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream):
        lenient = _LenientReader(read_stream, write_stream)
        await lowlevel.run(lenient, write_stream, lowlevel.create_initialization_options())


_ID = re.compile(r'"id"\s*:\s*(-?\d{1,18}|"(?:[^"\\\\]|\\\\.){0,200}")')


class _LenientReader:
    """The stdio read stream with the lines the SDK's parser refused parsed again, or answered."""

    def __init__(self, inner: Any, write: Any) -> None:
        self._inner = inner
        self._write = write

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        while True:
            item = await self._inner.receive()
            if not isinstance(item, ValidationError):
                return item
            line = _refused_line(item)
            message = _parse_leniently(line)
            if message is not None:
                return SessionMessage(message)
            await self._write.send(SessionMessage(_parse_error(line)))

    def __aiter__(self) -> _LenientReader:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    def close(self) -> None:
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _LenientReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _refused_line(error: ValidationError) -> str:
    for detail in error.errors(include_url=False):
        if isinstance(detail.get("input"), str):
            return str(detail["input"])
    return ""


def _parse_leniently(line: str) -> types.JSONRPCMessage | None:
    try:
        message: types.JSONRPCMessage = types.jsonrpc_message_adapter.validate_python(json.loads(line), by_name=False)
    except (ValueError, ValidationError):
        return None
    return message


def _parse_error(line: str) -> types.JSONRPCError:
    """A parse error for a line that is not a JSON-RPC message, to its id when one can be read."""
    found = _ID.search(line[:10_000])
    request_id: types.RequestId | None = None
    if found is not None:
        raw = json.loads(found.group(1))
        request_id = raw if isinstance(raw, int | str) else None
    error = types.ErrorData(code=types.PARSE_ERROR, message="Parse error: the line is not a JSON-RPC message.")
    return types.JSONRPCError(jsonrpc="2.0", id=request_id, error=error)
