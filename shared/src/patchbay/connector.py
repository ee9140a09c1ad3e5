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

import inspect
import logging
import sys
import typing
from collections.abc import Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar, cast

import anyio.to_thread
import mcp_types as types
import pydantic_core
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resolve import find_resolved_parameters
from mcp.server.request_state import RequestStateSecurity
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

from patchbay import keys
from patchbay.audit import AuditLog, current_call
from patchbay.confirm import CONFIRM_PARAM, Confirmed, Summary, confirmation_parameter, settle
from patchbay.errors import ErrorMapper, InvalidArgument, Mapper
from patchbay.pagination import CursorCodec, InvalidCursor
from patchbay.redaction import Redactor
from patchbay.runtime import Runtime, SettingsT, StateT, runtime_of
from patchbay.settings import ConnectorSettings, SettingsError

Safety = Literal["read", "write", "destructive"]
F = TypeVar("F", bound=Callable[..., Any])

Completer = Callable[[str, dict[str, str]], Awaitable[list[str]]]
"""Completes one argument: (partial value, other arguments) -> candidate values."""
SubscriptionHook = Callable[["Runtime[Any, Any]", str, ServerRequestContext[Any, Any]], Awaitable[None]]
"""Called with the runtime, the resource URI and the subscribing request."""
NotificationHook = Callable[["Runtime[Any, Any]", Connection], Awaitable[None]]
ResourceLister = Callable[["Runtime[Any, Any]", str | None], Awaitable[tuple[list[types.Resource], str | None]]]
"""Lists a connector's dynamic resources a page at a time: (runtime, upstream token) -> (page, next token)."""

logger = logging.getLogger("patchbay")


@dataclass(frozen=True)
class ToolSpec:
    """A tool as registered, before a server is built."""

    fn: Callable[..., Any]
    name: str
    safety: Safety
    title: str | None
    summary: Summary | None
    idempotent: bool | None
    open_world: bool
    secret_args: frozenset[str]

    def annotations(self) -> types.ToolAnnotations:
        """MCP hints that follow from the safety class."""
        read = self.safety == "read"
        return types.ToolAnnotations(
            title=self.title,
            read_only_hint=read,
            destructive_hint=self.safety == "destructive",
            idempotent_hint=read if self.idempotent is None else self.idempotent,
            open_world_hint=self.open_world,
        )


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
        self.lifespan = lifespan
        self.open_world = open_world
        self.error_mappers = list(error_mappers)
        self.preflight = preflight  # checks before serving that may refuse to start (SettingsError)
        self.tools: dict[str, ToolSpec] = {}
        self._registrations: list[Callable[[MCPServer[Any]], None]] = []
        self._completers: dict[tuple[str, str], Completer] = {}
        self._notifications: dict[str, NotificationHook] = {}
        self._resource_lister: ResourceLister | None = None
        self.on_subscribe: SubscriptionHook | None = None
        self.on_unsubscribe: SubscriptionHook | None = None

    # Registration -----------------------------------------------------------------

    def tool(
        self,
        safety: Safety = "read",
        *,
        name: str | None = None,
        title: str | None = None,
        confirm: Summary | None = None,
        idempotent: bool | None = None,
        open_world: bool | None = None,
        secret_args: Collection[str] = (),
    ) -> Callable[[F], F]:
        """Register a tool with its safety class.

        `confirm` builds the question put to the user from the tool's arguments, e.g.
        `lambda key: f"Delete note {key!r}?"`. Destructive tools must have one and always
        ask; a write tool may have one that returns None when there is nothing to ask
        (e.g. a small change). `secret_args`
        names arguments whose values never appear in logs or results.
        """

        def register(fn: F) -> F:
            tool_name = name or fn.__name__
            if tool_name in self.tools:
                raise ValueError(f"tool {tool_name!r} is registered twice")
            if safety == "destructive" and confirm is None:
                raise ValueError(f"destructive tool {tool_name!r} needs confirm= (the question to ask the user)")
            self.tools[tool_name] = ToolSpec(
                fn=fn,
                name=tool_name,
                safety=safety,
                title=title or tool_name.replace("_", " ").capitalize(),
                summary=confirm,
                idempotent=idempotent,
                open_world=self.open_world if open_world is None else open_world,
                secret_args=frozenset(secret_args),
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
            self._registrations.append(lambda server: _discard(server.prompt(**options)(fn)))
            return fn

        return register

    def completion(self, ref: str, argument: str) -> Callable[[Completer], Completer]:
        """Register completion of `argument` of a prompt name or resource-template URI."""

        def register(fn: Completer) -> Completer:
            self._completers[(ref, argument)] = fn
            return fn

        return register

    def resource_list(self, fn: ResourceLister) -> ResourceLister:
        """Register the lister of dynamic resources (e.g. one per table); `resources/list` pages through it."""
        self._resource_lister = fn
        return fn

    def notification(self, method: str) -> Callable[[NotificationHook], NotificationHook]:
        """Handle a client notification (e.g. `notifications/roots/list_changed`) per connection."""

        def register(fn: NotificationHook) -> NotificationHook:
            self._notifications[method] = fn
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
        redactor = Redactor(settings.secret_values())
        _configure_logging(settings, redactor)
        tools = {spec.name: spec for spec in self.enabled_tools(settings)}
        runtime: Runtime[SettingsT, StateT] = Runtime(
            connector=self,
            settings=settings,
            redactor=redactor,
            audit=AuditLog(self.id, redactor, tools, settings.audit_log),
            cursors=CursorCodec(keys.derive(settings.state_key, "cursor"), ttl_seconds=settings.cursor_ttl_seconds),
            errors=ErrorMapper(self.error_mappers),
            tools=tools,
        )
        state_security = RequestStateSecurity(keys=[keys.derive(settings.state_key, "request-state")])
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
            request_state_security=state_security,
            auth=auth[0] if auth else None,
            token_verifier=auth[1] if auth else None,
        )
        runtime.server = server
        for spec in tools.values():
            server.add_tool(
                _wrap(spec, runtime),
                name=spec.name,
                title=spec.title,
                description=inspect.getdoc(spec.fn) or "",
                annotations=spec.annotations(),
            )
        for registration in self._registrations:
            registration(server)
        runtime.install(server)
        return server

    def run(self, settings: SettingsT) -> None:
        """Check, then serve until interrupted, over the configured transport."""
        if self.preflight is not None:
            anyio.run(self.preflight, settings)
        server = self.build(settings)
        if settings.transport == "http":
            from patchbay.http_app import serve

            anyio.run(serve, server, settings)
        else:
            anyio.run(server.run_stdio_async)

    @staticmethod
    def state(ctx: Context[Any, Any]) -> Any:
        """The object the connector's lifespan yielded, from inside a tool."""
        return runtime_of(ctx).state


def _wrap(spec: ToolSpec, runtime: Runtime[Any, Any]) -> Callable[..., Any]:
    """The function the SDK registers for `spec`: the tool plus what every tool needs."""
    fn = spec.fn
    hints = typing.get_type_hints(fn, include_extras=True)
    parameters = list(inspect.signature(fn).parameters.values())
    names = [p.name for p in parameters]
    paginated = "cursor" in names
    injected = find_resolved_parameters(fn)  # filled by the SDK's resolvers, not by the client
    arg_names = [n for n in names if not _is_context(hints.get(n)) and n not in injected]
    query_names = [n for n in arg_names if n not in ("cursor", "limit")]
    confirmed = spec.summary is not None  # its result says whether it ran
    asks = confirmed and runtime.settings.confirm == "elicit"
    returns = hints.get("return", Any)

    async def call_tool(**kwargs: Any) -> Any:
        result = await run(kwargs)
        if isinstance(result, BaseModel) and not isinstance(result, types.CallToolResult):
            # Compact JSON for the text the model reads (the SDK would indent it), built once.
            data = result.model_dump(mode="json", by_alias=True)
            text = pydantic_core.to_json(data).decode()
            return types.CallToolResult(content=[types.TextContent(type="text", text=text)], structured_content=data)
        return result

    async def run(kwargs: dict[str, Any]) -> Any:
        if asks:
            nothing_done = settle(kwargs.pop(CONFIRM_PARAM))
            if nothing_done is not None:
                return nothing_done
        elif confirmed:
            current_call().confirmation = "not asked (--confirm=never)"
        query: dict[str, Any] = {}
        if paginated:
            query = {"tool": spec.name, **{n: kwargs.get(n) for n in query_names}}
            if kwargs["cursor"] is not None:
                try:
                    kwargs["cursor"] = runtime.cursors.decode(kwargs["cursor"], query)
                except InvalidCursor as exc:
                    raise InvalidArgument("cursor", str(exc)) from None
        try:
            if inspect.iscoroutinefunction(fn):
                result = await fn(**kwargs)
            else:
                result = await anyio.to_thread.run_sync(lambda: fn(**kwargs))
        except MCPError:
            raise
        except Exception as exc:
            raise runtime.errors.to_tool_error(spec.name, exc) from None
        if paginated and isinstance(result, BaseModel) and getattr(result, "next_cursor", None) is not None:
            sealed = runtime.cursors.encode(result.next_cursor, query)  # type: ignore[attr-defined]
            result = result.model_copy(update={"next_cursor": sealed})
        if confirmed:
            return Confirmed(outcome="done", message="Done.", result=result)
        return result

    signature = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation)) for p in parameters
    ]
    annotations = {n: hints[n] for n in names if n in hints}
    if asks:
        setting = runtime.settings.env_name("confirm")
        confirm_type = confirmation_parameter(spec.name, cast(Summary, spec.summary), arg_names, setting)
        signature.append(inspect.Parameter(CONFIRM_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=confirm_type))
        annotations[CONFIRM_PARAM] = confirm_type
    result_type: Any = Confirmed[returns] if confirmed else returns  # type: ignore[valid-type]
    if _is_model(result_type):
        result_type = Annotated[types.CallToolResult, result_type]  # the schema still comes from the model
    call_tool.__signature__ = inspect.Signature(signature, return_annotation=result_type)  # type: ignore[attr-defined]
    call_tool.__annotations__ = {**annotations, "return": result_type}
    call_tool.__name__ = spec.name
    call_tool.__doc__ = fn.__doc__
    return call_tool


def _discard(_: object) -> None:
    """Registration decorators return the function; the caller has no use for it."""


def _is_model(annotation: Any) -> bool:
    """A pydantic model the tool returns as structured content (not a ready-made result)."""
    return (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and not issubclass(annotation, types.CallToolResult)
    )


def _is_context(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Context)


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
    root.addHandler(handler)
    root.setLevel(settings.log_level)


__all__ = ["Connector", "Safety", "SettingsError", "ToolSpec"]
