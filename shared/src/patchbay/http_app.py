"""Streamable HTTP: the app, its safety checks, and serving it with uvicorn.

Stateless by default, so replicas behind a plain round-robin balancer work (they
must share `state_key`); `--stateful` keeps sessions for handshake-era clients that
need server-to-client requests. `/healthz` answers without auth for probes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, MutableMapping
from typing import Any

import pydantic_core
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import INVALID_PARAMS, INVALID_REQUEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from patchbay.auth import resource_metadata, url_host
from patchbay.errors import InvalidArgument
from patchbay.settings import ConnectorSettings, SettingsError
from patchbay.unencodable import check_arguments, scrub

MCP_PATH = "/mcp"


def check_exposure(settings: ConnectorSettings) -> None:
    """Refuse to serve a non-loopback address without authentication, unless told to."""
    if settings.is_loopback or settings.has_auth or settings.insecure_no_auth:
        return
    raise SettingsError(
        f"refusing to listen on {settings.host} without authentication: anyone who can reach it could use "
        f"this connector. Set {settings.env_name('auth_tokens')} (or {settings.env_name('auth_token_file')}, "
        f"or {settings.env_name('jwt_jwks_url')}), bind to 127.0.0.1, or pass --insecure-no-auth."
    )


def build_app(server: MCPServer[Any], settings: ConnectorSettings) -> Starlette:
    """The ASGI app serving `server` at `/mcp`, plus `/healthz`."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "server": server.name, "version": server.version})

    server.custom_route("/healthz", methods=["GET"])(healthz)
    metadata = resource_metadata(settings, MCP_PATH)
    if metadata is not None:
        server.custom_route(metadata.path, methods=["GET"])(metadata.endpoint)

    security: TransportSecuritySettings | None = None  # loopback: the SDK protects itself
    if settings.allowed_hosts:
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=settings.allowed_hosts,
            allowed_origins=[f"{scheme}://{h}" for h in settings.allowed_hosts for scheme in ("http", "https")],
        )
    elif not settings.is_loopback:
        # Reachable from other machines: bearer auth (required above) is the guard.
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=not settings.stateful,
        max_request_body_size=settings.max_request_bytes,
        transport_security=security,
        host=settings.host,
    )
    app.add_middleware(_Edges, limit=settings.max_request_bytes, setting=settings.env_name("max_request_bytes"))
    if metadata is not None:
        app.add_middleware(_Wrap, wrap=metadata.challenge)
    return app


_EDGE_MESSAGES = {
    400: (INVALID_REQUEST, None),
    405: (INVALID_REQUEST, "Method not allowed: {path} takes POST (and GET/DELETE on a stateful server)."),
    406: (
        INVALID_REQUEST,
        "Not acceptable: the Accept header must list both application/json and text/event-stream.",
    ),
    413: (INVALID_REQUEST, "Request body too large: the limit is {limit} bytes ({setting})."),
    415: (INVALID_REQUEST, "Unsupported media type: the Content-Type header must be application/json."),
}


class _Edges:
    """The edges of `/mcp` the SDK answers in plain text, answered as JSON-RPC errors instead.

    A plain-text 400/405/406/413/415 becomes a JSON-RPC error body saying the limit or the
    header that is missing. And a POST body the SDK's strict JSON parser refuses only for a
    lone surrogate escape (which Python's `json` reads) is answered here: a `tools/call`
    with the tool error naming the argument, as on stdio; any other request with an
    invalid-params error naming it.
    """

    def __init__(self, app: ASGIApp, limit: int, setting: str) -> None:
        self._app = app
        self._limit = limit
        self._setting = setting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != MCP_PATH:
            await self._app(scope, receive, send)
            return
        send = self._json_errors(scope, send)
        if scope["method"] == "POST":
            body = await _body(receive, self._limit)
            if body is None:  # over the limit (or the client left): the rest is never read
                await self._send_error({"status": 413, "headers": []}, "", scope, send)
                return
            if await _answer_unencodable(body, scope, send):
                return
            receive = _replay(body, receive)
        await self._app(scope, receive, send)

    def _json_errors(self, scope: Scope, send: Send) -> Send:
        held: dict[str, Any] = {}

        async def wrapped(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start" and _plain_edge(message):
                held["start"] = message
                return
            if "start" in held and message["type"] == "http.response.body":
                if message.get("more_body"):
                    held["text"] = held.get("text", b"") + message.get("body", b"")
                    return
                text = (held.get("text", b"") + message.get("body", b"")).decode(errors="replace")
                await self._send_error(held.pop("start"), text, scope, send)
                return
            await send(message)

        return wrapped

    async def _send_error(self, start: MutableMapping[str, Any], text: str, scope: Scope, send: Send) -> None:
        status = start["status"]
        code, template = _EDGE_MESSAGES[status]
        message = (template or "{text}").format(path=MCP_PATH, limit=self._limit, setting=self._setting, text=text)
        if status == 400 and not text:
            message = "Bad request."
        body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}).encode()
        kept = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-type", b"content-length")]
        headers = [*kept, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _plain_edge(start: MutableMapping[str, Any]) -> bool:
    """An edge answer without a JSON body (the SDK's plain-text or empty ones)."""
    if start["status"] not in _EDGE_MESSAGES:
        return False
    content_type = dict(start.get("headers", [])).get(b"content-type", b"")
    return not content_type.startswith(b"application/json")


async def _body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it is over `limit` (the SDK then answers 413)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            return None
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return dict(await receive())

    return replayed


async def _answer_unencodable(body: bytes, scope: Scope, send: Send) -> bool:
    """Answer a request holding a lone surrogate (see `_Edges`); False for any other body."""
    try:
        pydantic_core.from_json(body)
        return False
    except ValueError:
        pass
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return False
    if not isinstance(message, dict) or "id" not in message or not isinstance(message.get("params"), dict):
        return False
    params = message["params"]
    try:
        check_arguments(params.get("arguments") if isinstance(params.get("arguments"), dict) else params)
        return False
    except InvalidArgument as exc:
        problem = str(exc)
    answer: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"]}
    if message.get("method") == "tools/call":
        answer["result"] = {"content": [{"type": "text", "text": problem}], "isError": True}
    else:
        answer["error"] = {"code": INVALID_PARAMS, "message": problem}
    response = JSONResponse(scrub(answer))
    await response(scope, _no_body, send)
    return True


async def _no_body() -> dict[str, Any]:
    return {"type": "http.disconnect"}


class _Wrap:
    """Starlette middleware from a function that wraps an ASGI app."""

    def __init__(self, app: ASGIApp, wrap: Callable[[ASGIApp], ASGIApp]) -> None:
        self._app = wrap(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def host_config(name: str, settings: ConnectorSettings) -> str:
    """The JSON an MCP host needs to reach this server: its URL and, with auth, the header to send.

    The URL is `public_url` when set: behind a port mapping (a container published on
    another port) or a proxy, only the operator knows the address clients use. Otherwise
    it is the bound address, loopback for a bind to every interface. The token is never
    printed, only where it goes.
    """
    if settings.public_url:
        url = settings.public_url
    else:
        reachable = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
        url = f"http://{url_host(reachable)}:{settings.port}{MCP_PATH}"
    entry: dict[str, Any] = {"type": "http", "url": url}
    if settings.has_auth:
        entry["headers"] = {"Authorization": "Bearer <token>"}
    return json.dumps({"mcpServers": {name: entry}})


def _port_note(name: str, settings: ConnectorSettings) -> str:
    """A reminder, when bound to every interface, that a published port may differ from this one."""
    if settings.public_url or settings.is_loopback:
        return ""
    return (
        f"\n{name}: port {settings.port} is the port inside; published on another one (a container run with "
        f"-p HOST:{settings.port}), set {settings.env_name('public_url')} to the URL clients use to have it "
        "printed above"
    )


async def serve(server: MCPServer[Any], settings: ConnectorSettings) -> None:
    """Serve until interrupted."""
    check_exposure(settings)
    app = build_app(server, settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        server_header=False,
    )
    mode = "read-write" if settings.allow_writes else "read-only"
    bound = f"http://{url_host(settings.host)}:{settings.port}{MCP_PATH}"
    print(
        f"{server.name}: serving {mode} on {bound} ({'stateful' if settings.stateful else 'stateless'})\n"
        f"{server.name}: to add it to an MCP host's config: {host_config(server.name, settings)}"
        + _port_note(server.name, settings),
        file=sys.stderr,
        flush=True,
    )
    await uvicorn.Server(config).serve()
