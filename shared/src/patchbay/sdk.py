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
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import mcp_types as types
from mcp.server import stdio
from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.elicitation import AcceptedElicitation
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.shared.subscriptions import ResourceUpdated
from opentelemetry import trace
from pydantic import BaseModel, ValidationError

from patchbay import pipes

Request = ServerRequestContext[Any, Any]

# The SDK wraps every resolved tool parameter (e.g. filesystem's `InScope`) as
# `AcceptedElicitation[Any]`, looked up per call in pydantic's weak cache of generic
# classes. Nothing else holds that class, so each garbage collection freed it and the next
# call built it again (~0.3 ms; 82 times in 2,051 `list_directory` calls over stdio). Held
# here, it is built once, at import, before `Connector.run` freezes the start-up heap.
_ACCEPTED_ANY = AcceptedElicitation[Any]
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


def trace_only_when_configured(server: MCPServer[Any]) -> bool:
    """Leave out the SDK's OpenTelemetry span around every request when no tracer provider is
    set (none set in code before the server is built, no `opentelemetry-instrument`, no
    `OTEL_PYTHON_TRACER_PROVIDER`): each span then records nothing, yet costs about 20 µs a
    request. Returns whether requests are traced."""
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return True
    server.middleware[:] = [m for m in server.middleware if not isinstance(m, OpenTelemetryMiddleware)]
    return False


def leave_output_check_to_tool(server: MCPServer[Any], name: str) -> None:
    """Stop the SDK validating the structured content of tool `name` against its output model
    on every call (the schema is still listed); the tool's wrapper checks what needs it."""
    tool = server._tool_manager.get_tool(name)
    assert tool is not None, name
    tool.fn_metadata = tool.fn_metadata.model_copy(update={"output_model": None})


async def publish_resource_updated(server: MCPServer[Any], uri: str) -> None:
    """Tell `subscriptions/listen` streams (2026-07-28) that `uri` changed."""
    await server._subscriptions.publish(ResourceUpdated(uri=uri))


def connection_of(ctx: Request | Context[Any, Any]) -> Connection:
    """The client connection behind a request: one per client, where the SDK makes a new
    session object per request. Key per-client state (e.g. the client's roots) by it."""
    request = ctx.request_context if isinstance(ctx, Context) else ctx
    connection: Connection = request.session._connection
    return connection


async def run_stdio(server: MCPServer[Any], max_line_bytes: int, setting: str) -> None:
    """Serve over stdio like `MCPServer.run_stdio_async`, but answer every request line.

    The SDK parses each line with pydantic's strict JSON parser, which refuses a lone
    surrogate escape (`"\\ud800"`), and then drops the line with a debug log: the client
    waits forever. Here such a line is parsed again with Python's `json` (which keeps the
    surrogate, so the `tools/call` handler can refuse the argument by name); a line that
    is not JSON-RPC at all is answered with a parse error (its id when one can be read).
    On pipes, a line over `max_line_bytes` is dropped unread and answered with an error
    that names `setting`, the environment variable that raises the limit.
    """
    lowlevel = server._lowlevel_server
    # The SDK's own claims of fd 0 and fd 1 (the wire moves to private descriptors; fd 0 then
    # reads /dev/null and fd 1 writes to stderr, so stray prints miss the wire), done here to
    # serve pipes on the event loop (`pipes`) rather than a worker-thread hop per message.
    out_buffer, restore_stdout = stdio._claim_fd(1, sys.stdout, "wb", stdio._open_stdout_diversion)
    in_buffer, restore_stdin = stdio._claim_fd(0, sys.stdin, "rb", stdio._open_stdin_diversion)
    stdin: Any = None
    stdout: Any = None
    try:
        stdin = await _stdin(in_buffer, max_line_bytes)
        stdout = await _stdout(out_buffer)
        async with stdio_server(stdin=stdin, stdout=stdout) as (read_stream, write_stream):
            lenient = _LenientReader(read_stream, write_stream, _too_long(max_line_bytes, setting))
            await lowlevel.run(lenient, write_stream, lowlevel.create_initialization_options())
    finally:
        if isinstance(stdout, pipes.PipeWriter):
            await stdout.aclose()
        if isinstance(stdin, pipes.PipeLines):
            stdin.close()
        for buffer in (in_buffer, out_buffer):
            pipes.restore_blocking(buffer.fileno())
        if restore_stdin is not None:
            restore_stdin()
        if restore_stdout is not None:
            restore_stdout()


async def _stdin(buffer: Any, max_line_bytes: int) -> Any:
    """Lines of the claimed stdin: read by the loop from a pipe, else as the SDK reads them."""
    if pipes.is_pipe(buffer.fileno()):
        try:
            return await pipes.PipeLines.open(buffer.fileno(), max_line_bytes)
        except (OSError, ValueError):
            pass
    return anyio.wrap_file(stdio._UnownedTextWrapper(buffer, encoding="utf-8", errors="replace"))


async def _stdout(buffer: Any) -> Any:
    """The claimed stdout: written by the loop to a pipe, else each message in one worker-thread hop."""
    if pipes.is_pipe(buffer.fileno()):
        try:
            return await pipes.PipeWriter.open(buffer.fileno())
        except (OSError, ValueError):
            pass
    return _OneHopStdout(stdio._UnownedTextWrapper(buffer, encoding="utf-8"))


class _OneHopStdout(anyio.AsyncFile[str]):
    """The stdio transport's stdout: `write` writes and flushes in one worker-thread hop.

    The SDK's writer awaits `write(line)` then `flush()` for every message, each a hop to a
    worker thread and back; the write only fills the text buffer, so that hop did nothing
    but wait for two thread wake-ups. Each message still reaches the pipe, whole and in
    order, before the next is written; the loop never blocks on a full pipe."""

    async def write(self, b: str) -> int:
        return await anyio.to_thread.run_sync(self._write_and_flush, b, limiter=self.limiter)

    async def flush(self) -> None:
        await anyio.lowlevel.checkpoint()  # `write` has flushed already

    def _write_and_flush(self, text: str) -> int:
        written: int = self.wrapped.write(text)
        self.wrapped.flush()
        return written


_ID = re.compile(r'"id"\s*:\s*(-?\d{1,18}|"(?:[^"\\\\]|\\\\.){0,200}")')


class _LenientReader:
    """The stdio read stream with the lines the SDK's parser refused parsed again, or answered."""

    def __init__(self, inner: Any, write: Any, too_long: Callable[[str], types.JSONRPCError]) -> None:
        self._inner = inner
        self._write = write
        self._too_long = too_long

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        while True:
            item = await self._inner.receive()
            if not isinstance(item, ValidationError):
                return item
            line = _refused_line(item)
            if line.startswith(pipes.TOO_LONG):
                await self._write.send(SessionMessage(self._too_long(line[len(pipes.TOO_LONG) :])))
                continue
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
    error = types.ErrorData(code=types.PARSE_ERROR, message="Parse error: the line is not a JSON-RPC message.")
    return types.JSONRPCError(jsonrpc="2.0", id=_id_in(line), error=error)


def _too_long(limit: int, setting: str) -> Callable[[str], types.JSONRPCError]:
    """The answer to a line over `limit` bytes, given its head: the words of the HTTP transport's 413."""
    message = f"Request too large: a line on stdio may be at most {limit} bytes ({setting}); it was not read."

    def answer(head: str) -> types.JSONRPCError:
        error = types.ErrorData(code=types.INVALID_REQUEST, message=message)
        return types.JSONRPCError(jsonrpc="2.0", id=_id_in(head), error=error)

    return answer


def _id_in(line: str) -> types.RequestId | None:
    """The request id a line that could not be parsed seems to carry, if one can be read."""
    found = _ID.search(line[: pipes.HEAD_CHARS])
    if found is None:
        return None
    raw = json.loads(found.group(1))
    return raw if isinstance(raw, int | str) else None
