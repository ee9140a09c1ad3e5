"""The audit log: one JSON line per finished access (tool call, resource read or
subscription, prompt, completion).

`AuditLog` is server middleware around those requests. While a tool call runs, the tool
wrapper and the confirmation step note on the current `CallRecord` what only they
know (the safety class, the confirmation outcome, secret arguments); when the call
finishes the line is written, with every secret value masked. A 2026-07-28 round that
only asks the client for input is not a finished call and writes nothing.
For the other accesses it is also where a failure becomes a clear JSON-RPC error
(`ErrorMapper.to_request_error`), since the SDK would answer with its own messages.
The sink is stderr or a file, never stdout, which carries the protocol on stdio.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import os
import sys
import threading
import time
from collections.abc import Collection, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import anyio
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from patchbay.errors import ErrorMapper, MCPError, ResourceDenied
from patchbay.redaction import MASK, Redactor

Outcome = Literal["ok", "error", "denied", "declined", "cancelled"]


class AuditedTool(Protocol):
    """What the audit log needs to know about a registered tool."""

    @property
    def safety(self) -> str: ...

    @property
    def secret_args(self) -> frozenset[str]: ...


@dataclass
class CallRecord:
    """What the audit line of the running tool call will say beyond the request itself."""

    confirmation: str | None = None
    outcome: Outcome | None = None
    fingerprint: str | None = None  # of the facts the user confirmed (see confirm.check_unchanged)


_current: ContextVar[CallRecord | None] = ContextVar("patchbay_call_record", default=None)
_encoder = json.JSONEncoder(separators=(",", ":"), default=str)
# The same encoding as `_encoder.encode` (compact, ASCII, str() for the rest), built once: encode()
# makes a new C encoder on every call, over half its cost for a line this size. No circular
# check: a line is made of `bounded` values, at most a few levels deep.
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_encode_line: Any = (
    None
    if _c_make_encoder is None
    else _c_make_encoder(None, str, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True)
)


_json_text: Any = json.encoder.encode_basestring_ascii


def _json(value: Any) -> str:
    """`value` as compact ASCII JSON (`str()` of what JSON has no type for)."""
    if isinstance(value, str):
        return str(_json_text(value))
    return "".join(_encode_line(value, 0)) if _encode_line is not None else _encoder.encode(value)


class _Clock:
    """UTC timestamps to the millisecond, ISO 8601; the date and time of the current second are
    formatted once (a `datetime` per line cost more than the rest of the timestamp)."""

    def __init__(self) -> None:
        self._second: tuple[int, str] = (-1, "")  # one tuple: threads never see half an update

    def now(self) -> str:
        t = time.time()
        whole = int(t)
        second, text = self._second
        if whole != second:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
            self._second = (whole, text)
        return f"{text}.{int((t - whole) * 1000):03d}+00:00"


_clock = _Clock()


def current_call() -> CallRecord:
    """The record of the tool call being handled (a throwaway one outside a call)."""
    return _current.get() or CallRecord()


def principal() -> str:
    """Who is calling: the bearer token's subject over HTTP, `local` otherwise."""
    token = get_access_token()
    if token is None:
        return "local"
    return token.subject or token.client_id


@dataclass
class AuditLog:
    """Audits the tool calls and other accesses of one connector to stderr or a file.

    Also the place where results are masked (a call's secret arguments too, since it
    already knows which arguments are secret), and where a failed resource read,
    subscription, prompt or completion gets its error (`errors`, set by the runtime).
    """

    connector: str
    redactor: Redactor
    tools: Mapping[str, AuditedTool]
    path: Path | None = None
    errors: ErrorMapper = field(default_factory=ErrorMapper)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _fd: int | None = None
    _heads: dict[str, str] = field(default_factory=dict)  # per registered tool, see `_head`

    def open(self) -> None:
        """Open the file sink (append, owner-only) if one is configured."""
        if self.path is not None and self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def close(self) -> None:
        """Close the file sink."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def write(self, line: str) -> None:
        """Write one JSON line, with secrets masked."""
        line = self.redactor.text(line) + "\n"
        if self._fd is not None:
            # One unbuffered append per line: lines from concurrent calls never interleave.
            os.write(self._fd, line.encode())
        else:
            with self._lock:
                sys.stderr.write(line)
                sys.stderr.flush()

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Middleware: audit tool calls and the other accesses, pass everything else straight through."""
        if ctx.method == "tools/call":
            return await self._tool_call(ctx, call_next)
        if ctx.method in ACCESSES:
            return await self._access(ctx, call_next)
        return await call_next(ctx)

    async def _tool_call(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        params = ctx.params or {}
        tool = self.tools.get(str(params.get("name")))
        arguments = params.get("arguments") or {}
        secret_names = tool.secret_args if tool is not None else frozenset()
        secrets = [str(arguments[n]) for n in secret_names if n in arguments]
        record = CallRecord()
        token = _current.set(record)
        started = time.perf_counter()
        result: HandlerResult = None
        failure: BaseException | None = None
        try:
            if secrets:
                with self.redactor.call_secrets(secrets):
                    result = self.redactor.value(await call_next(ctx))
            else:
                result = self.redactor.value(await call_next(ctx))
            return result
        except BaseException as exc:
            failure = exc
            raise
        finally:
            _current.reset(token)
            if failure is not None or not _asks_for_input(result):
                line = self._tool_line(ctx, tool, record, result, failure, time.perf_counter() - started)
                if secrets:
                    with self.redactor.call_secrets(secrets):
                        self.write(line)
                else:
                    self.write(line)

    async def _access(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """A resource read or subscription, a prompt or a completion: audited, redacted, and any
        failure turned into a clear JSON-RPC error (an incident id for the unexpected)."""
        started = time.perf_counter()
        result: HandlerResult = None
        failure: BaseException | None = None
        try:
            result = self.redactor.value(await call_next(ctx))
            return result
        except Exception as exc:
            failure = self.errors.to_request_error(_describe(ctx), exc, ctx.protocol_version)
            if failure is exc:
                raise
            raise failure from None
        except BaseException as exc:
            failure = exc
            raise
        finally:
            if failure is not None or not _asks_for_input(result):
                self.write(self._access_line(ctx, failure, time.perf_counter() - started))

    def _line(
        self,
        ctx: ServerRequestContext[Any, Any],
        *,
        safety: str | None,
        arguments: Any,
        outcome: Outcome,
        confirmation: str | None,
        elapsed: float,
        error: str | None,
    ) -> str:
        """One audit line: the fields in their documented order, `error` only when given."""
        return (
            f'{{"time":"{_clock.now()}",{self._head(ctx)},"call_id":"{os.urandom(16).hex()}",'
            f'"request_id":{_json(ctx.request_id)},"principal":{_json(principal())},"safety":{_json(safety)},'
            f'"arguments":{_json(arguments)},"outcome":"{outcome}","confirmation":{_json(confirmation)},'
            f'"duration_ms":{_json(round(elapsed * 1000, 3))}'
            + ("}" if error is None else f',"error":{_json(error)}}}')
        )

    def _head(self, ctx: ServerRequestContext[Any, Any]) -> str:
        """The `connector`, `method` and target fields, encoded; kept per registered tool."""
        name = (ctx.params or {}).get("name") if ctx.method == "tools/call" else None
        known = name if isinstance(name, str) and name in self.tools else None
        head = self._heads.get(known) if known is not None else None
        if head is None:
            head = _json({"connector": self.connector, "method": ctx.method, **_target(ctx)})[1:-1]
            if known is not None:
                self._heads[known] = head
        return head

    def _tool_line(
        self,
        ctx: ServerRequestContext[Any, Any],
        tool: AuditedTool | None,
        record: CallRecord,
        result: HandlerResult,
        failure: BaseException | None,
        elapsed: float,
    ) -> str:
        params = ctx.params or {}
        is_error = failure is not None or _field(result, "isError") is True
        outcome: Outcome = record.outcome or ("error" if is_error else "ok")
        error = _error_text(result, failure) if is_error else None
        if failure is not None and isinstance(failure, anyio.get_cancelled_exc_class()):
            outcome, error = "cancelled", CANCELLED
        return self._line(
            ctx,
            safety=tool.safety if tool is not None else None,
            arguments=_redact_args(params.get("arguments"), tool.secret_args if tool is not None else ()),
            outcome=outcome,
            confirmation=record.confirmation,
            elapsed=elapsed,
            error=error,
        )

    def _access_line(self, ctx: ServerRequestContext[Any, Any], failure: BaseException | None, elapsed: float) -> str:
        outcome: Outcome = "ok" if failure is None else "denied" if isinstance(failure, ResourceDenied) else "error"
        error = None if failure is None else _error_text(None, failure)
        return self._line(
            ctx,
            safety="read",
            arguments=_access_arguments(ctx),
            outcome=outcome,
            confirmation=None,
            elapsed=elapsed,
            error=error,
        )


ACCESSES = frozenset({"resources/read", "resources/subscribe", "prompts/get", "completion/complete"})
"""Methods audited like tool calls, beyond `tools/call` itself."""


CANCELLED = "The call was cancelled (by the client, or the client went away)."


def _target(ctx: ServerRequestContext[Any, Any]) -> dict[str, Any]:
    """What the request accesses: the tool, resource URI, prompt name or completion reference."""
    return {key: bounded(value) for key, value in _target_of(ctx).items()}


def _target_of(ctx: ServerRequestContext[Any, Any]) -> dict[str, Any]:
    params = ctx.params or {}
    match ctx.method:
        case "tools/call":
            return {"tool": params.get("name")}
        case "resources/read" | "resources/subscribe":
            return {"uri": params.get("uri")}
        case "prompts/get":
            return {"prompt": params.get("name")}
        case "completion/complete":
            ref = params.get("ref")
            return {"ref": ref.get("name") or ref.get("uri") if isinstance(ref, dict) else None}
    return {}


def _describe(ctx: ServerRequestContext[Any, Any]) -> str:
    """The access in words, for the server log."""
    return " ".join([ctx.method, *(str(v) for v in _target(ctx).values())])


def _access_arguments(ctx: ServerRequestContext[Any, Any]) -> Any:
    params = ctx.params or {}
    if ctx.method == "prompts/get":
        return bounded(params.get("arguments"))
    if ctx.method == "completion/complete":
        argument = params.get("argument")
        if isinstance(argument, dict):
            return bounded({str(argument.get("name")): argument.get("value")})
    return None


def _field(result: HandlerResult, name: str) -> Any:
    if isinstance(result, dict):
        return result.get(name)
    return getattr(result, name, None) if result is not None else None


def _asks_for_input(result: HandlerResult) -> bool:
    return _field(result, "resultType") == "input_required" or _field(result, "inputRequests") is not None


def _redact_args(arguments: Any, secret: Collection[str]) -> Any:
    if not isinstance(arguments, dict):
        return bounded(arguments)
    return {bounded(k): (MASK if k in secret else bounded(v)) for k, v in list(arguments.items())[:_MAX_ITEMS]}


_MAX_CHARS = 200
_MAX_ITEMS = 20


def bounded(value: Any, depth: int = 0) -> Any:
    """`value` with every long string cut (its length and a digest kept), long lists and deep
    nesting summarised: an audit line never grows with the input."""
    if isinstance(value, str):
        return value if len(value) <= _MAX_CHARS else cut_text(value)
    if depth > 4 and isinstance(value, dict | list):
        return f"[{type(value).__name__} nested deeper than 4 levels]"
    if isinstance(value, dict):
        items = list(value.items())
        kept = {bounded(k): bounded(v, depth + 1) for k, v in items[:_MAX_ITEMS]}
        if len(items) > _MAX_ITEMS:
            kept["..."] = f"{len(items) - _MAX_ITEMS} more keys"
        return kept
    if isinstance(value, list):
        kept_items = [bounded(v, depth + 1) for v in value[:_MAX_ITEMS]]
        return kept_items + ([f"... {len(value) - _MAX_ITEMS} more items"] if len(value) > _MAX_ITEMS else [])
    return value


def cut_text(text: str, keep: int = _MAX_CHARS) -> str:
    """The start of a long text, with its length and a digest (so equal inputs can be matched)."""
    digest = hashlib.sha256(text.encode(errors="surrogatepass")).hexdigest()[:16]
    return f"{text[:keep]}... [cut: {len(text)} chars, sha256 {digest}]"


def _error_text(result: HandlerResult, failure: BaseException | None) -> str:
    if isinstance(failure, MCPError):
        return f"{failure.code}: {failure.message}"[:500]
    if failure is not None:
        return f"{type(failure).__name__}: {failure}"[:500]
    content = _field(result, "content") or []
    texts = [c.get("text", "") for c in content if isinstance(c, dict)]
    return " ".join(texts)[:500]
