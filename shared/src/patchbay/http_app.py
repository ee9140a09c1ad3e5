"""Streamable HTTP: the app, its safety checks, and serving it with uvicorn.

Stateless by default, so replicas behind a plain round-robin balancer work (they
must share `state_key`); `--stateful` keeps sessions for handshake-era clients that
need server-to-client requests. `/healthz` answers without auth for probes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from patchbay.auth import resource_metadata, url_host
from patchbay.settings import ConnectorSettings, SettingsError

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
    if metadata is not None:
        app.add_middleware(_Wrap, wrap=metadata.challenge)
    return app


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
