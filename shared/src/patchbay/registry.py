"""What a connector registers: tools with their safety class, and the hooks the runtime calls.

Kept apart from `Connector` (which builds servers) and `Runtime` (which runs one), so
both can depend on it without depending on each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

import mcp_types as types
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext

from patchbay.confirm import Summary

Safety = Literal["read", "write", "destructive"]

Completer = Callable[[str, dict[str, str]], Awaitable[list[str]]]
"""Completes one argument: (partial value, other arguments) -> candidate values."""
SubscriptionHook = Callable[[Any, str, ServerRequestContext[Any, Any]], Awaitable[None]]
"""Called with the `Runtime`, the resource URI and the subscribing request."""
NotificationHook = Callable[[Any, Connection], Awaitable[None]]
"""Called with the `Runtime` and the connection that sent the notification."""
ResourceLister = Callable[[Any, str | None], Awaitable[tuple[list[types.Resource], str | None]]]
"""Lists a connector's dynamic resources a page at a time: (runtime, upstream token) -> (page, next token)."""


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
    paginated: bool = False
    may_destroy: bool = False
    """A write tool that can replace data: hinted as destructive (it asks before doing so itself)."""

    def annotations(self) -> types.ToolAnnotations:
        """MCP hints that follow from the safety class."""
        read = self.safety == "read"
        return types.ToolAnnotations(
            title=self.title,
            read_only_hint=read,
            destructive_hint=self.safety == "destructive" or self.may_destroy,
            idempotent_hint=read if self.idempotent is None else self.idempotent,
            open_world_hint=self.open_world,
        )


@dataclass
class Hooks:
    """The connector-specific parts the runtime calls into."""

    lifespan: Callable[[Any], AbstractAsyncContextManager[Any]] | None = None
    completers: dict[tuple[str, str], Completer] = field(default_factory=dict)
    notifications: dict[str, NotificationHook] = field(default_factory=dict)
    resource_lister: ResourceLister | None = None
    on_subscribe: SubscriptionHook | None = None
    on_unsubscribe: SubscriptionHook | None = None
    has_prompts: bool = False
    strict_arguments: bool = False
    """Refuse tool arguments the schema does not name (`additionalProperties: false`), instead of dropping them."""
