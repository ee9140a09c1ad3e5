"""Turning exceptions into short, actionable tool errors.

A tool raises `ToolError` (or `InvalidArgument`) for failures the model should read.
Anything else a tool lets escape goes through `ErrorMapper`: connector-specific
mappers first (upstream SDK exceptions), then the common standard-library cases, and
finally a generic message with an incident id whose details stay in the server log.
Protocol misuse (`MCPError`) is left alone and stays a JSON-RPC error.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError

__all__ = ["ErrorMapper", "InvalidArgument", "MCPError", "Mapper", "ToolError"]

logger = logging.getLogger("patchbay.errors")

Mapper = Callable[[BaseException], str | None]
"""Returns the message for an exception it recognises, else None."""


class InvalidArgument(ToolError):
    """An argument the tool cannot accept; the message names the argument and what to do."""

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"Invalid argument '{argument}': {problem}")
        self.argument = argument


def _standard(exc: BaseException) -> str | None:
    match exc:
        case TimeoutError():
            return "The operation timed out; try again, or narrow the request."
        case PermissionError():
            return "Permission denied by the operating system."
        case FileNotFoundError():
            return "Not found."
        case ConnectionError():
            return "Could not reach the upstream service; check that it is running and reachable."
    return None


class ErrorMapper:
    """Maps an exception escaping a tool to the `ToolError` the client sees."""

    def __init__(self, mappers: list[Mapper] | None = None) -> None:
        self.mappers: list[Mapper] = [*(mappers or []), _standard]

    def to_tool_error(self, tool: str, exc: BaseException) -> ToolError:
        """A `ToolError` for `exc`: passed through, mapped, or a generic incident message."""
        if isinstance(exc, ToolError):
            return exc
        for mapper in self.mappers:
            message = mapper(exc)
            if message is not None:
                return ToolError(message)
        incident = uuid.uuid4().hex[:12]
        logger.error("tool %s failed unexpectedly (incident %s): %s: %s", tool, incident, type(exc).__name__, exc)
        return ToolError(f"Internal error (incident {incident}); the server log has the details.")
