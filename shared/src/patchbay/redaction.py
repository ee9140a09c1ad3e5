"""Keeping secret values out of everything a connector writes or returns.

A `Redactor` knows the secret values of one running connector (settings typed as
secrets, bearer tokens) and scrubs them from strings, JSON-like values and log
records, tracebacks included. Secret tool arguments are added for the length of one call.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import pydantic_core

MASK = "[REDACTED]"
# Very short values would mask ordinary text; a secret that short is not worth hiding.
_MIN_SECRET_LENGTH = 4
# Bounds on a local variable shown in a traceback: enough to diagnose, never a whole payload.
_LOCAL_CHARS = 200
_LOCAL_MAX_LENGTH = 4096

_call_secrets: ContextVar[frozenset[str]] = ContextVar("patchbay_call_secrets", default=frozenset())
_running: ContextVar[Redactor | None] = ContextVar("patchbay_running_redactor", default=None)


class Redactor:
    """Replaces every known secret value with `[REDACTED]`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self._lock = threading.Lock()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Remember more secret values (thread-safe: credentials refresh in worker threads)."""
        new = {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}
        with self._lock:
            if not new <= set(self._secrets):
                self._secrets = _longest_first(set(self._secrets) | new)

    @contextmanager
    def running(self) -> Iterator[None]:
        """Make this the redactor `running_redactor()` returns until the block ends (the runtime
        wraps the connector's lifespan in it, so credential providers made there find it)."""
        token = _running.set(self)
        try:
            yield
        finally:
            _running.reset(token)

    def _active(self) -> list[str]:
        extra = _call_secrets.get()
        return _longest_first(set(self._secrets) | extra) if extra else self._secrets

    def text(self, value: str) -> str:
        """`value` with every secret masked."""
        for secret in self._active():
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def value(self, value: Any) -> Any:
        """A JSON-like value with every secret masked in its strings (keys included)."""
        secrets = self._active()
        if not secrets or not _may_hold(value, secrets):
            return value
        return _scrub(value, secrets)

    @contextmanager
    def call_secrets(self, secrets: Iterable[str]) -> Iterator[None]:
        """Treat `secrets` (e.g. a call's secret arguments) as secret until the block ends."""
        extra = frozenset(s for s in secrets if len(s) >= _MIN_SECRET_LENGTH)
        token = _call_secrets.set(_call_secrets.get() | extra)
        try:
            yield
        finally:
            _call_secrets.reset(token)

    def traceback(self, exc: BaseException) -> str:
        """`exc`'s traceback (its chain too), each frame with its local variables, secrets masked."""
        summary = traceback.TracebackException.from_exception(exc)
        _add_locals(summary, exc, self._local)
        return self.text("".join(summary.format()))

    def _local(self, value: object) -> str:
        """A bounded, masked rendering of one local variable."""
        size = _length(value)
        if size is not None and size > _LOCAL_MAX_LENGTH:
            return f"<{type(value).__name__} of length {size}>"
        try:
            text = repr(value)
        except Exception:
            return f"<{type(value).__name__}: repr failed>"
        # Masked before it is shortened, so a cut can never leave part of a secret behind.
        text = self.text(text)
        return text if len(text) <= _LOCAL_CHARS else text[:_LOCAL_CHARS] + "..."

    def log_filter(self) -> logging.Filter:
        """A filter that scrubs secrets from every record passing through a handler."""
        return _RedactingFilter(self)


def running_redactor() -> Redactor | None:
    """The running connector's redactor while its lifespan starts (see `Redactor.running`)."""
    return _running.get()


def _longest_first(secrets: set[str]) -> list[str]:
    # So that a secret containing another is masked whole.
    return sorted(secrets, key=len, reverse=True)


_JSON_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')


def _may_hold(value: Any, secrets: list[str]) -> bool:
    """False when no string in the container `value` can contain a secret: its JSON text holds
    none (one pass in C, where walking it in Python costs a call per string: 100 ms for a
    10,000-row result). True for anything else, and for secrets that JSON would not write as
    they are (a quote, a backslash, a control character); `_scrub` then walks the value."""
    if not isinstance(value, dict | list | tuple) or not all(_JSON_PLAIN.fullmatch(s) for s in secrets):
        return True
    try:
        text = pydantic_core.to_json(value, fallback=_not_json)
    except Exception:  # e.g. a lone surrogate: walk it
        return True
    return any(secret.encode() in text for secret in secrets)


def _not_json(_: Any) -> None:
    """Anything that is not JSON counts as null here, since `_scrub` does not look inside it either."""


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {_scrub(k, secrets): _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, secrets) for v in value]
    return value


def _length(value: object) -> int | None:
    if not isinstance(value, Sized):
        return None
    try:
        return len(value)
    except Exception:
        return None


def _add_locals(summary: traceback.TracebackException, exc: BaseException, render: Callable[[object], str]) -> None:
    """Fill in each frame's locals the way `capture_locals` would, but bounded and masked."""
    frames = [frame for frame, _ in traceback.walk_tb(exc.__traceback__)]
    for frame_summary, frame in zip(summary.stack, frames, strict=False):
        frame_summary.locals = {name: render(value) for name, value in frame.f_locals.items()}
    if summary.__cause__ is not None and exc.__cause__ is not None:
        _add_locals(summary.__cause__, exc.__cause__, render)
    if summary.__context__ is not None and exc.__context__ is not None:
        _add_locals(summary.__context__, exc.__context__, render)


class _RedactingFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            # Formatters print a record's exc_text when it is set: the masked traceback, with
            # locals so that an operator can diagnose an incident from the log alone. Set even
            # when another handler already cached the plain one there.
            record.exc_text = self._redactor.traceback(record.exc_info[1])
        elif record.exc_text:
            record.exc_text = self._redactor.text(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redactor.text(record.stack_info)
        record.msg = _bounded_lines(self._redactor.text(record.getMessage()))
        record.args = None
        if record.exc_text:
            record.exc_text = _bounded_lines(record.exc_text)
        return True


_LOG_LINE_CHARS = 1000


def _bounded_lines(text: str) -> str:
    """`text` with each line cut to `_LOG_LINE_CHARS` (its length and a digest kept): a log line
    never grows with the input (an exception message that quotes a 100,000-character path)."""
    if len(text) <= _LOG_LINE_CHARS:
        return text
    return "\n".join(line if len(line) <= _LOG_LINE_CHARS else _cut(line) for line in text.split("\n"))


def _cut(line: str) -> str:
    digest = hashlib.sha256(line.encode(errors="surrogatepass")).hexdigest()[:16]
    return f"{line[:_LOG_LINE_CHARS]}... [cut: {len(line)} chars, sha256 {digest}]"
