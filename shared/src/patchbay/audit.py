"""The audit log: one JSON line per finished tool call.

`AuditLog` is server middleware around `tools/call`. While a call runs, the tool
wrapper and the confirmation step note on the current `CallRecord` what only they
know (the safety class, the confirmation outcome, secret arguments); when the call
finishes the line is written, with every secret value masked. A 2026-07-28 round that
only asks the client for input is not a finished call and writes nothing.
The sink is stderr or a file, never stdout, which carries the protocol on stdio.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Collection, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

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
    """Audits the `tools/call` requests of one connector to stderr or a file.

    Also the place where a call's secret arguments are masked in its result, since it
    already knows which arguments are secret.
    """

    connector: str
    redactor: Redactor
    tools: Mapping[str, AuditedTool]
    path: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _fd: int | None = None

    def open(self) -> None:
        """Open the file sink (append, owner-only) if one is configured."""
        if self.path is not None and self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def close(self) -> None:
        """Close the file sink."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def write(self, entry: dict[str, Any]) -> None:
        """Write one entry as a JSON line, with secrets masked."""
        line = self.redactor.text(_encoder.encode(entry)) + "\n"
        if self._fd is not None:
            # One unbuffered append per line: lines from concurrent calls never interleave.
            os.write(self._fd, line.encode())
        else:
            with self._lock:
                sys.stderr.write(line)
                sys.stderr.flush()

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Middleware: audit `tools/call`, pass everything else straight through."""
        if ctx.method != "tools/call":
            return await call_next(ctx)
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
                entry = self._entry(ctx, tool, record, result, failure, time.perf_counter() - started)
                if secrets:
                    with self.redactor.call_secrets(secrets):
                        self.write(entry)
                else:
                    self.write(entry)

    def _entry(
        self,
        ctx: ServerRequestContext[Any, Any],
        tool: AuditedTool | None,
        record: CallRecord,
        result: HandlerResult,
        failure: BaseException | None,
        elapsed: float,
    ) -> dict[str, Any]:
        params = ctx.params or {}
        is_error = failure is not None or _field(result, "isError") is True
        outcome: Outcome = record.outcome or ("error" if is_error else "ok")
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "connector": self.connector,
            "tool": params.get("name"),
            "call_id": os.urandom(16).hex(),
            "request_id": ctx.request_id,
            "principal": principal(),
            "safety": tool.safety if tool is not None else None,
            "arguments": _redact_args(params.get("arguments"), tool.secret_args if tool is not None else ()),
            "outcome": outcome,
            "confirmation": record.confirmation,
            "duration_ms": round(elapsed * 1000, 3),
        }
        if is_error:
            entry["error"] = _error_text(result, failure)
        return entry


def _field(result: HandlerResult, name: str) -> Any:
    if isinstance(result, dict):
        return result.get(name)
    return getattr(result, name, None) if result is not None else None


def _asks_for_input(result: HandlerResult) -> bool:
    return _field(result, "resultType") == "input_required" or _field(result, "inputRequests") is not None


def _redact_args(arguments: Any, secret: Collection[str]) -> Any:
    if not isinstance(arguments, dict):
        return arguments
    return {k: (MASK if k in secret else v) for k, v in arguments.items()}


def _error_text(result: HandlerResult, failure: BaseException | None) -> str:
    if failure is not None:
        return f"{type(failure).__name__}: {failure}"[:500]
    content = _field(result, "content") or []
    texts = [c.get("text", "") for c in content if isinstance(c, dict)]
    return " ".join(texts)[:500]
