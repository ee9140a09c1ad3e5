"""The one place that reaches into the MCP SDK's private parts.

`MCPServer` (mcp 2.3.0) leaves some protocol features to the server author and
offers no public seam for them: request handlers on its low-level server, the
subscription bus, the connection behind a request, the capabilities it derives from
registered handlers, and its `tools/call` handler. Every such access lives here, so
an SDK upgrade is checked in one module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.subscriptions import ResourceUpdated
from pydantic import BaseModel

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
