"""Turning exceptions into short, actionable errors for the client.

A tool raises `ToolError` (or `InvalidArgument`) for failures the model should read.
A resource or prompt raises `ResourceNotFound` or `ResourceDenied`, which become
JSON-RPC errors with the codes MCP defines for them. Anything else a connector lets
escape goes through `ErrorMapper`: connector-specific mappers first (upstream SDK
exceptions), then the common standard-library cases, and finally a generic message
with an incident id; the server log has the (redacted) traceback under that id.
Protocol misuse (`MCPError`) is left alone and stays a JSON-RPC error.
"""

from __future__ import annotations

import errno
import logging
import uuid
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError, UnexpectedResourceError
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS
from mcp_types.version import MODERN_PROTOCOL_VERSIONS, is_version_at_least
from pydantic import ValidationError

__all__ = [
    "RESOURCE_NOT_FOUND",
    "ErrorMapper",
    "InvalidArgument",
    "MCPError",
    "Mapper",
    "ResourceDenied",
    "ResourceNotFound",
    "ToolError",
    "validation_message",
]

logger = logging.getLogger("patchbay.errors")

RESOURCE_NOT_FOUND = -32002
"""MCP's resource-not-found code up to protocol 2025-11-25. From 2026-07-28 on the spec
uses INVALID_PARAMS instead and retires -32002, so `mcp_types` has no constant for it."""

Mapper = Callable[[BaseException], str | None]
"""Returns the message for an exception it recognises, else None."""


class InvalidArgument(ToolError):
    """An argument the tool cannot accept; the message names the argument and what to do."""

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"Invalid argument '{argument}': {problem}")
        self.argument = argument


class ResourceNotFound(MCPError):
    """What a resource URI names does not exist. The client gets RESOURCE_NOT_FOUND
    (-32002) before protocol 2026-07-28 and INVALID_PARAMS (-32602) from it on."""

    def __init__(self, message: str) -> None:
        super().__init__(INVALID_PARAMS, message)


class ResourceDenied(MCPError):
    """A resource outside what this connector may reach (out of scope, not allowed).
    The client gets INVALID_PARAMS (-32602) with the message, which should say why
    without telling anything about what is there."""

    def __init__(self, message: str) -> None:
        super().__init__(INVALID_PARAMS, message)


def _standard(exc: BaseException) -> str | None:
    match exc:
        case TimeoutError():
            return "The operation timed out; try again, or narrow the request."
        case PermissionError():
            return "Permission denied by the operating system."
        case FileNotFoundError():
            return "Not found."
        case OSError(errno=errno.ENAMETOOLONG):
            return "A name is too long for the file system (at most 255 bytes a name, 4096 in all)."
        case ConnectionError():
            return "Could not reach the upstream service; check that it is running and reachable."
    return None


class ErrorMapper:
    """Maps an exception escaping a connector's function to what the client sees."""

    def __init__(self, mappers: list[Mapper] | None = None) -> None:
        self.mappers: list[Mapper] = [*(mappers or []), _standard]

    def to_tool_error(self, tool: str, exc: BaseException) -> ToolError:
        """A `ToolError` for `exc`: passed through, mapped, or a generic incident message."""
        if isinstance(exc, ToolError):
            return exc
        return ToolError(self._message(f"tool {tool}", exc))

    def to_request_error(self, what: str, exc: Exception, protocol_version: str) -> Exception:
        """The error a resource read, prompt, completion or subscription answers with.

        `exc` is what reached the server middleware: a connector's exception, or the
        SDK's wrapper around one (which is unwrapped). `what` names the access in the
        server log. Malformed params (`ValidationError`) pass through for the SDK.
        """
        exc = _connector_exception(exc)
        if isinstance(exc, ResourceNotFound | ResourceNotFoundError):
            legacy = not is_version_at_least(protocol_version, MODERN_PROTOCOL_VERSIONS[0])
            return MCPError(RESOURCE_NOT_FOUND if legacy else INVALID_PARAMS, _text(exc))
        if isinstance(exc, MCPError | ValidationError):
            return exc
        if isinstance(exc, ToolError | _PromptRequestError):
            # Written for the client: a request this connector cannot serve as asked.
            return MCPError(INVALID_PARAMS, str(exc))
        return MCPError(INTERNAL_ERROR, self._message(what, exc))

    def _message(self, what: str, exc: BaseException) -> str:
        """A mapper's message for `exc`, else a generic one whose incident id leads to the traceback."""
        for mapper in self.mappers:
            message = mapper(exc)
            if message is not None:
                return message
        incident = uuid.uuid4().hex[:12]
        logger.error("%s failed unexpectedly (incident %s)", what, incident, exc_info=exc)
        return f"Internal error (incident {incident}); the server log has the details."


class _PromptRequestError(ValueError):
    """The SDK's own complaint about a `prompts/get` request (unknown prompt, missing argument)."""


def _connector_exception(exc: Exception) -> Exception:
    """The exception a connector raised, from inside the SDK's wrappers around it."""
    wrapped = exc.__context__
    if isinstance(exc, MCPError) and isinstance(wrapped, ResourceError):
        # `resources/read` re-raises every ResourceError as an MCPError of its own.
        if isinstance(wrapped, UnexpectedResourceError) and isinstance(wrapped.__cause__, Exception):
            return wrapped.__cause__
        return wrapped if isinstance(wrapped, ResourceNotFoundError) else exc
    if type(exc) is ValueError and isinstance(exc.__cause__, ValueError):
        # `prompts/get` turns everything into ValueError(text) from the original error:
        # either the SDK's own ValueError (no cause), or its "Error rendering prompt"
        # ValueError caused by what the prompt function raised.
        inner = exc.__cause__
        if type(inner) is ValueError and isinstance(inner.__cause__, Exception):
            return inner.__cause__
        if inner.__cause__ is None:
            return _PromptRequestError(str(inner))
    return exc


def _text(exc: BaseException) -> str:
    return exc.message if isinstance(exc, MCPError) else str(exc)


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
