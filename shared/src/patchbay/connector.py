"""`Connector`: a connector's tools, resources and prompts, and the server built from them.

A connector module creates one `Connector` and registers functions on it with a
safety class. `build(settings)` turns that into an SDK `MCPServer` for one run:

- `read` tools are always offered; `write` and `destructive` tools only with
  `allow_writes`, and are otherwise absent (a call gets the unknown-tool error);
- every tool is wrapped once: page tokens are sealed into cursors, exceptions become
  short tool errors, destructive tools ask for confirmation first;
- the audit log, `tools/list` pagination, `logging/setLevel`, completions and
  resource subscriptions are wired in by the `Runtime` (runtime.py).
"""

from __future__ import annotations

import gc
import importlib.util
import inspect
import logging
import os
import sys
import typing
from collections.abc import Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, TypeVar, cast

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.request_state import RequestStateSecurity

from patchbay import client_log, keys, sdk, toolcall
from patchbay.audit import AuditLog
from patchbay.client_log import ClientLog
from patchbay.confirm import Summary
from patchbay.errors import ErrorMapper, Mapper
from patchbay.pagination import CursorCodec, Paginated
from patchbay.redaction import Redactor
from patchbay.registry import (
    Completer,
    Hooks,
    NotificationHook,
    ResourceLister,
    Safety,
    SubscriptionHook,
    ToolSpec,
)
from patchbay.runtime import Runtime, SettingsT, StateT, runtime_of
from patchbay.settings import ConnectorSettings, SettingsError
from patchbay.workers import Workers

F = TypeVar("F", bound=Callable[..., Any])

logger = logging.getLogger("patchbay")


class Connector(Generic[SettingsT, StateT]):
    """One connector: its identity, settings class, lifespan and registered functions."""

    def __init__(
        self,
        connector_id: str,
        *,
        title: str,
        version: str,
        settings: type[SettingsT],
        description: str = "",
        instructions: str | None = None,
        lifespan: Callable[[SettingsT], AbstractAsyncContextManager[StateT]] | None = None,
        open_world: bool = True,
        error_mappers: Collection[Mapper] = (),
        preflight: Callable[[SettingsT], Awaitable[None]] | None = None,
        strict_arguments: bool = False,
    ) -> None:
        expected = f"PATCHBAY_{connector_id.upper()}_"
        if settings.model_config.get("env_prefix") != expected:
            raise ValueError(f"{settings.__name__} must set env_prefix={expected!r}")
        self.id = connector_id
        self.title = title
        self.version = version
        self.description = description
        self.instructions = instructions
        self.settings_class = settings
        self.hooks = Hooks(lifespan=lifespan, strict_arguments=strict_arguments)
        self.open_world = open_world
        self.error_mappers = list(error_mappers)
        self.preflight = preflight  # checks before serving that may refuse to start (SettingsError)
        self.tools: dict[str, ToolSpec] = {}
        self._registrations: list[Callable[[MCPServer[Any]], None]] = []

    # Registration -----------------------------------------------------------------

    def tool(
        self,
        safety: Safety = "read",
        *,
        name: str | None = None,
        title: str | None = None,
        confirm: Summary | None = None,
        idempotent: bool | None = None,
        may_destroy: bool = False,
        open_world: bool | None = None,
        secret_args: Collection[str] = (),
        paginated: bool = False,
    ) -> Callable[[F], F]:
        """Register a tool with its safety class.

        `confirm` builds the question put to the user from the tool's arguments, e.g.
        `lambda key: f"Delete note {key!r}?"`, or a `Question` with a fingerprint of the
        facts it shows (see `confirm.check_unchanged`). Destructive tools must have one
        and always ask (a question function that returns None refuses the call); a write
        tool may have one that returns None when there is nothing to ask (e.g. a small
        change). `may_destroy` gives a write tool that can replace data (an upload over an
        existing object) `destructiveHint`, for hosts that approve calls by annotation
        (`--confirm=never`). `secret_args` names arguments whose values never appear in logs or
        results. `paginated` tools take `cursor: Cursor` and return a `Page`: the base
        opens the client's cursor before the call and seals `next_cursor` after it.
        A plain `def` tool runs in a worker thread (blocking work); `async def` on the loop.

        Raises:
            ValueError: the registration contradicts itself (see the messages).
        """

        def register(fn: F) -> F:
            tool_name = name or fn.__name__
            if tool_name in self.tools:
                raise ValueError(f"tool {tool_name!r} is registered twice")
            if safety == "destructive" and confirm is None:
                raise ValueError(f"destructive tool {tool_name!r} needs confirm= (the question to ask the user)")
            _check_pagination(fn, tool_name, paginated)
            self.tools[tool_name] = ToolSpec(
                fn=fn,
                name=tool_name,
                safety=safety,
                title=title or tool_name.replace("_", " ").capitalize(),
                summary=confirm,
                idempotent=idempotent,
                may_destroy=may_destroy,
                open_world=self.open_world if open_world is None else open_world,
                secret_args=frozenset(secret_args),
                paginated=paginated,
            )
            return fn

        return register

    def resource(self, uri: str, **options: Any) -> Callable[[F], F]:
        """Register a resource or resource template (`MCPServer.resource` options)."""

        def register(fn: F) -> F:
            self._registrations.append(lambda server: _discard(server.resource(uri, **options)(fn)))
            return fn

        return register

    def prompt(self, **options: Any) -> Callable[[F], F]:
        """Register a prompt (`MCPServer.prompt` options)."""

        def register(fn: F) -> F:
            self.hooks.has_prompts = True
            self._registrations.append(lambda server: _discard(server.prompt(**options)(fn)))
            return fn

        return register

    def completion(self, ref: str, argument: str) -> Callable[[Completer], Completer]:
        """Register completion of `argument` of a prompt name or resource-template URI."""

        def register(fn: Completer) -> Completer:
            self.hooks.completers[(ref, argument)] = fn
            return fn

        return register

    def resource_list(self, fn: ResourceLister) -> ResourceLister:
        """Register the lister of dynamic resources (e.g. one per table); `resources/list` pages through it."""
        self.hooks.resource_lister = fn
        return fn

    def subscriptions(self, on_subscribe: SubscriptionHook, on_unsubscribe: SubscriptionHook) -> None:
        """Hooks run when a resource gets its first subscriber and loses its last."""
        self.hooks.on_subscribe = on_subscribe
        self.hooks.on_unsubscribe = on_unsubscribe

    def notification(self, method: str) -> Callable[[NotificationHook], NotificationHook]:
        """Handle a client notification (e.g. `notifications/roots/list_changed`) per connection."""

        def register(fn: NotificationHook) -> NotificationHook:
            self.hooks.notifications[method] = fn
            return fn

        return register

    # Running ----------------------------------------------------------------------

    def load_settings(self, overrides: dict[str, Any] | None = None) -> SettingsT:
        """Settings from the environment and `overrides`; raises `SettingsError`."""
        return cast(SettingsT, self.settings_class.load(overrides))

    def enabled_tools(self, settings: ConnectorSettings) -> list[ToolSpec]:
        """The tools this configuration offers."""
        return [spec for spec in self.tools.values() if settings.allow_writes or spec.safety == "read"]

    def build(self, settings: SettingsT) -> MCPServer[Runtime[SettingsT, StateT]]:
        """The SDK server for one run with `settings`."""
        runtime = self._runtime(settings)
        for notice in settings.scope_notices():
            logger.warning(notice)
        auth = None
        if settings.transport == "http":
            from patchbay.auth import verifier_for  # JWT support costs start-up time stdio never needs

            auth = verifier_for(settings)
        server: MCPServer[Runtime[SettingsT, StateT]] = MCPServer(
            f"patchbay-{self.id}",
            title=self.title,
            description=self.description,
            instructions=self.instructions,
            version=self.version,
            lifespan=runtime.lifespan,
            log_level=settings.log_level,
            request_state_security=RequestStateSecurity(keys=[keys.derive(settings.state_key, "request-state")]),
            auth=auth[0] if auth else None,
            token_verifier=auth[1] if auth else None,
        )
        runtime.server = server
        for spec in runtime.tools.values():
            toolcall.register(server, spec, runtime)
        for registration in self._registrations:
            registration(server)
        runtime.install(server)
        toolcall.serve_tool_calls(server, runtime)
        sdk.trace_only_when_configured(server)
        return server

    def _runtime(self, settings: SettingsT) -> Runtime[SettingsT, StateT]:
        """The shared parts of one run: redactor, logs, audit, cursors, errors, workers."""
        redactor = Redactor(settings.secret_values())
        _configure_logging(settings, redactor)
        forward = ClientLog(redactor, self.id)
        client_log.install(forward)
        tools = {spec.name: spec for spec in self.enabled_tools(settings)}
        return Runtime(
            hooks=self.hooks,
            settings=settings,
            redactor=redactor,
            audit=AuditLog(self.id, redactor, tools, settings.audit_log),
            cursors=CursorCodec(keys.derive(settings.state_key, "cursor"), ttl_seconds=settings.cursor_ttl_seconds),
            errors=ErrorMapper(self.error_mappers),
            workers=Workers(settings.workers),
            client_log=forward,
            tools=tools,
        )

    def run(self, settings: SettingsT) -> None:
        """Check, then serve until interrupted, over the configured transport."""
        if self.preflight is not None:
            anyio.run(self.preflight, settings)
        server = self.build(settings)
        # What start-up made (modules, schemas, the built server) lives as long as the process:
        # out of the collector's sight, a full collection no longer walks it each time calls
        # allocate (a 10,000-row page took almost twice as long with it tracked). No collection
        # first: it would cost start-up more than the little garbage it could free. (The CLI
        # turns collection off for start-up; serving needs it back.)
        gc.freeze()
        gc.enable()
        loop = event_loop_options()
        logger.debug("event loop: %s", "uvloop" if loop["use_uvloop"] else "asyncio")
        if settings.transport == "http":
            from patchbay.http_app import serve

            anyio.run(serve, server, settings, backend_options=loop)
        else:
            limit, setting = settings.max_request_bytes, settings.env_name("max_request_bytes")
            anyio.run(sdk.run_stdio, server, limit, setting, backend_options=loop)

    def state(self, ctx: Context[Any, Any]) -> StateT:
        """The object the connector's lifespan yielded, from inside a tool."""
        return cast(StateT, runtime_of(ctx).state)


def event_loop_options() -> dict[str, Any]:
    """anyio's asyncio options for serving: uvloop where it is installed (a dependency except on
    Windows), unless PATCHBAY_EVENT_LOOP=asyncio asks for the standard loop.

    uvloop's readers, timers and thread hand-offs cost less per wait than the standard
    loop's: a PostgreSQL query waits on its socket about a dozen times (see the README).
    """
    wanted = os.environ.get("PATCHBAY_EVENT_LOOP", "uvloop")
    return {"use_uvloop": wanted != "asyncio" and importlib.util.find_spec("uvloop") is not None}


def _check_pagination(fn: Callable[..., Any], name: str, paginated: bool) -> None:
    """A paginated tool takes a cursor and returns a page; a tool that does either says so."""
    takes_cursor = "cursor" in inspect.signature(fn).parameters
    returns = typing.get_type_hints(fn).get("return")
    returns_page = isinstance(returns, type) and issubclass(returns, Paginated)
    if paginated and not (takes_cursor and returns_page):
        raise ValueError(f"paginated tool {name!r} must take `cursor: Cursor` and return a Page (or Paginated)")
    if not paginated and takes_cursor:
        raise ValueError(f"tool {name!r} takes a cursor: register it with paginated=True")


def _discard(_: object) -> None:
    """Registration decorators return the function; the caller has no use for it."""


_HANDLER_NAME = "patchbay"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record is emitted (tests swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def _configure_logging(settings: ConnectorSettings, redactor: Redactor) -> None:
    """Server log to stderr only (stdout carries the protocol on stdio), secrets scrubbed."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(redactor.log_filter())
    handler.setLevel(settings.log_level)  # the patchbay loggers may go lower for a client's log
    root.addHandler(handler)
    root.setLevel(settings.log_level)


__all__ = ["Connector", "Safety", "SettingsError", "Summary", "ToolSpec"]
