"""Keeping secret values out of everything a connector writes or returns.

A `Redactor` knows the secret values of one running connector (settings typed as
secrets, bearer tokens) and scrubs them from strings, JSON-like values and log
records. Secret tool arguments are added for the length of one call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

MASK = "[REDACTED]"
# Very short values would mask ordinary text; a secret that short is not worth hiding.
_MIN_SECRET_LENGTH = 4

_call_secrets: ContextVar[frozenset[str]] = ContextVar("patchbay_call_secrets", default=frozenset())


class Redactor:
    """Replaces every known secret value with `[REDACTED]`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Remember more secret values."""
        self._secrets = _longest_first(set(self._secrets) | {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH})

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
        if not secrets:
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

    def log_filter(self) -> logging.Filter:
        """A filter that scrubs secrets from every record passing through a handler."""
        return _RedactingFilter(self)


def _longest_first(secrets: set[str]) -> list[str]:
    # So that a secret containing another is masked whole.
    return sorted(secrets, key=len, reverse=True)


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


class _RedactingFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            # Tracebacks stay out of logs: the exception's type and (scrubbed) text suffice.
            exc = record.exc_info[1]
            message = f"{message} ({type(exc).__name__}: {exc})"
            record.exc_info = None
            record.exc_text = None
        record.msg = self._redactor.text(message)
        record.args = None
        return True
