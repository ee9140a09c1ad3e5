"""Log records sent to the client as `notifications/message`, at the level it asked for.

While a tool call runs, records of the connector's own logger (`patchbay.<id>`) are
collected for the call (from the event loop or its worker threads alike), masked by
the redactor, and sent to the client before the result. The base's own records
(incidents, refusals) and anything with a traceback stay in the server log. In the
handshake era the client picks the lowest level with `logging/setLevel` (per
connection; `warning` until it does). In 2026-07-28 a
request opts in through its `_meta` and the SDK drops lower levels itself.
At most `MAX_PER_CALL` records are sent per call, so logging cannot flood a client.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar, Token
from typing import Any, cast
from weakref import WeakKeyDictionary

from mcp.server.connection import Connection
from mcp.server.mcpserver import Context
from mcp_types import LoggingLevel

from patchbay import sdk
from patchbay.redaction import Redactor

MAX_PER_CALL = 50
DEFAULT_LEVEL: LoggingLevel = "warning"

_LEVELS: list[LoggingLevel] = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
_PYTHON_LEVEL = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO + 5,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL + 5,
    "emergency": logging.CRITICAL + 10,
}


def mcp_level(levelno: int) -> LoggingLevel:
    """The MCP level of a Python log level."""
    for level in reversed(_LEVELS):
        if levelno >= _PYTHON_LEVEL[level]:
            return level
    return "debug"


class _Call:
    """One tool call's records; its level is worked out at the first record (most calls log nothing)."""

    def __init__(self, ctx: Context[Any, Any], levels: WeakKeyDictionary[Connection, LoggingLevel]) -> None:
        self._ctx = ctx
        self._levels = levels
        self._threshold: int | None = None
        self.records: list[tuple[LoggingLevel, str, str]] = []

    @property
    def threshold(self) -> int:
        """The lowest Python level this call's client wants."""
        if self._threshold is None:
            version = self._ctx.protocol_version
            level: LoggingLevel
            if version is not None and version >= "2026-07-28":
                level = "debug"  # the SDK applies the request's own opt-in
            elif self._levels:
                level = self._levels.get(sdk.connection_of(self._ctx), DEFAULT_LEVEL)
            else:
                level = DEFAULT_LEVEL  # no client set a level yet
            self._threshold = _PYTHON_LEVEL[level]
        return self._threshold


_call: ContextVar[_Call | None] = ContextVar("patchbay_client_log_call", default=None)


class _Collecting:
    def __init__(self, call: _Call) -> None:
        self._call = call
        self._token: Token[_Call | None] | None = None

    def __enter__(self) -> _Call:
        self._token = _call.set(self._call)
        return self._call

    def __exit__(self, *_: object) -> None:
        assert self._token is not None
        _call.reset(self._token)


class ClientLog(logging.Handler):
    """Collects a call's `patchbay` log records and sends them to its client."""

    def __init__(self, redactor: Redactor, connector_id: str) -> None:
        super().__init__(logging.DEBUG)
        self._redactor = redactor
        self._logger = f"patchbay.{connector_id}"
        self._levels: WeakKeyDictionary[Connection, LoggingLevel] = WeakKeyDictionary()

    def set_level(self, connection: Connection, level: LoggingLevel) -> None:
        """`logging/setLevel` from `connection`: send it records at `level` and above."""
        self._levels[connection] = level
        logger = logging.getLogger(self._logger)
        wanted = _PYTHON_LEVEL[level]
        if logger.getEffectiveLevel() > wanted:
            logger.setLevel(wanted)  # records below the server log's level must exist to be sent

    def emit(self, record: logging.LogRecord) -> None:
        """Keep `record` for the running call, if there is one and it wants this level."""
        call = _call.get()
        if call is None or record.exc_info or len(call.records) >= MAX_PER_CALL:
            return
        if not (record.name == self._logger or record.name.startswith(self._logger + ".")):
            return
        if record.levelno < call.threshold:
            return
        try:
            text = self._redactor.text(record.getMessage())
        except Exception:  # a record whose arguments do not format: say so rather than fail the call
            text = self._redactor.text(str(record.msg))
        call.records.append((mcp_level(record.levelno), record.name, text))

    def collecting(self, ctx: Context[Any, Any]) -> _Collecting:
        """A context manager collecting the records of the call `ctx` belongs to, for `send`.

        (A class rather than a generator: it runs on every tool call.)
        """
        return _Collecting(_Call(ctx, self._levels))

    async def send(self, ctx: Context[Any, Any], call: _Call) -> None:
        """Send what `call` collected to the client (the SDK applies a 2026-07-28 request's opt-in)."""
        for level, name, text in call.records:
            try:
                await ctx.log(level, text, logger_name=name)
            except Exception:  # the client went away: nothing more to tell it
                return


def install(handler: ClientLog) -> None:
    """Attach `handler` to the `patchbay` loggers (once per built server, replacing the previous)."""
    logger = logging.getLogger("patchbay")  # the handler itself keeps only the connector's records
    for old in [h for h in logger.handlers if isinstance(h, ClientLog)]:
        logger.removeHandler(old)
    logger.addHandler(cast(logging.Handler, handler))
