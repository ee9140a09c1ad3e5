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
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

__all__ = ["ErrorMapper", "InvalidArgument", "MCPError", "Mapper", "ToolError", "validation_message"]

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


def validation_message(exc: ValidationError) -> str:
    """One short sentence per rejected argument, naming it and the rule it broke.

    No library links or internal model names, and never the rejected value (it may be
    long, or a secret): e.g. "Invalid argument 'limit': must be at most 1000."
    """
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        problems.append(f"Invalid argument '{where}': {_rule(error)}.")
    return " ".join(problems[:10]) + (f" ({len(problems) - 10} more problems.)" if len(problems) > 10 else "")


_RULES: dict[str, str] = {
    "missing": "is required",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be greater than {gt}",
    "string_too_short": "must be at least {min_length} characters long",
    "string_too_long": "must be at most {max_length} characters long",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "literal_error": "must be one of {expected}",
    "enum": "must be one of {expected}",
    "string_pattern_mismatch": "must match the pattern {pattern}",
    "extra_forbidden": "is not an argument of this tool",
    "string_unicode": "must be valid Unicode text",
}


def _rule(error: Any) -> str:
    template = _RULES.get(error["type"])
    context = error.get("ctx") or {}
    if template is not None:
        try:
            return template.format(**context)
        except (KeyError, IndexError):
            pass
    message = str(error["msg"])
    return message[:1].lower() + message[1:200]
