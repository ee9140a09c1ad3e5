"""Connections to the configured databases: one psycopg pool each, values made JSON-safe.

After a server restart or a dropped connection, a read-only call that fails for that
reason is tried again on a fresh connection, as often and as long as the shared retry
policy allows (`retry_attempts`, `retry_max_wait_seconds`); a write is never retried
(it checks its connection first).
Every session gets a server-side statement timeout.

A call that is cancelled (`notifications/cancelled`, a client gone) cancels its statement
on the server: the statement runs in a task shielded from the call's cancellation, and the
call asks PostgreSQL to cancel it (`cancel_safe`), bounded in time, before it returns; so
the connection goes back to its pool and no backend runs on behind a pool's back.

When a pool has no connection at all (none idle, none lent), one direct connection attempt
first learns whether the database can be reached: if not, the call fails at once with the
real reason (connection refused, host not found, authentication failed, timed out, no such
database) instead of waiting out the connect timeout.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import decimal
import ipaddress
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import anyio
import psycopg
from psycopg import AsyncConnection
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.rows import TupleRow
from psycopg.types.string import TextLoader
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from patchbay import InvalidArgument, SettingsError, ToolError
from patchbay_postgres.results import Results
from patchbay_postgres.settings import PostgresSettings

logger = logging.getLogger("patchbay.postgres")
T = TypeVar("T")

CANCEL_BOUND_SECONDS = 2.0
"""How long a cancelled call keeps asking the server to cancel its statement before it closes the connection."""
ROLE_CHECK_GRACE_SECONDS = 1.0
"""How long shutting down waits for the start-up role check to finish warning (a database that does
not answer would otherwise hold the exit up to connect_timeout_seconds)."""

Pool = AsyncConnectionPool[AsyncConnection[TupleRow]]


class DatabaseUnavailable(ToolError):
    """The database cannot be reached; the message says why (never the DSN or the password)."""


def connect_failure(name: str, exc: BaseException) -> str:
    """Why a connection to database `name` failed, in one sentence without the DSN or the password."""
    text = str(exc)
    low = text.lower()
    if "connection refused" in low:
        why = "connection refused (is the server running, and accepting TCP/IP connections on that host and port?)"
    elif "failed to resolve host" in low or "could not translate host name" in low or "name or service" in low:
        why = "host not found (the host name in its connection string does not resolve)"
    elif "password authentication failed" in low or "authentication failed" in low or "no password supplied" in low:
        why = "authentication failed (check the user name and password in its connection string)"
    elif "no pg_hba.conf entry" in low:
        why = "authentication failed (the server's pg_hba.conf does not admit this user from this host)"
    elif "does not exist" in low and "database" in low:
        why = "the database named in its connection string does not exist"
    elif "role" in low and "does not exist" in low:
        why = "authentication failed (the role named in its connection string does not exist)"
    elif isinstance(exc, psycopg.errors.ConnectionTimeout) or "timeout expired" in low or "timed out" in low:
        why = "timed out (the host did not answer in time)"
    elif "too many" in low and "connections" in low:
        why = "the server has no connection slots left (too many connections)"
    elif "starting up" in low or "shutting down" in low:
        why = "the server is starting up or shutting down; try again shortly"
    else:
        why = "the connection failed"
    return f"Could not connect to database {name!r}: {why}."


@dataclass
class Running:
    """One database call in progress: its connection once it has one, and its own cancel scope."""

    scope: anyio.CancelScope
    conn: AsyncConnection[TupleRow] | None = None
    cancelled: bool = False


# Types whose Python form is lossy or awkward as JSON come back as PostgreSQL's own text.
# Dates and times too: Python cannot hold infinity or a year BC (loading one failed the whole
# query), and PostgreSQL's text is already ISO 8601 (DateStyle ISO) and far cheaper to pass on.
_AS_TEXT = (
    "numeric",
    "interval",
    "money",
    "int4range",
    "int8range",
    "numrange",
    "tsrange",
    "tstzrange",
    "daterange",
    "date",
    "time",
)


class IsoTimestamp(Loader):
    """timestamp and timestamptz as PostgreSQL's text in ISO 8601 form: 'T' between date and time
    and a whole offset, '2024-05-01T12:30:00.5+00:00' (PostgreSQL writes '2024-05-01 12:30:00.5+00').
    infinity, years BC and anything not in DateStyle ISO come as PostgreSQL wrote them."""

    def load(self, data: Buffer) -> str:
        text = bytes(data).decode()
        if len(text) < 19 or text[10] != " " or text.endswith(" BC"):
            return text
        text = f"{text[:10]}T{text[11:]}"
        return f"{text}:00" if text[-3] in "+-" else text


@dataclass
class Database:
    """One configured database and its pools.

    Reads are retried (within the retry policy) if their connection turns out dead, so their
    pool skips the check round trip; writes are not retried, so theirs checks a connection before lending it.
    """

    name: str
    reads: AsyncConnectionPool[AsyncConnection[TupleRow]]
    writes: AsyncConnectionPool[AsyncConnection[TupleRow]]

    @property
    def pools(self) -> tuple[AsyncConnectionPool[AsyncConnection[TupleRow]], ...]:
        """Both pools."""
        return (self.reads, self.writes)


class Databases:
    """The configured databases, by name."""

    def __init__(self, settings: PostgresSettings) -> None:
        self.settings = settings
        self.retry = settings.retry_policy("PostgreSQL")
        # synchronize_seqscans off: a page re-runs its query, and a synchronized scan would
        # start where another scan of the same big table happens to be, skipping rows.
        options = (
            f"-c statement_timeout={settings.statement_timeout_ms} "
            f"-c idle_in_transaction_session_timeout={settings.statement_timeout_ms * 2} "
            "-c synchronize_seqscans=off "
            # The parser check reads strings as standard SQL; the server must too.
            "-c standard_conforming_strings=on"
        )

        def pool(dsn: str, name: str, *, reset: bool) -> AsyncConnectionPool[AsyncConnection[TupleRow]]:
            return AsyncConnectionPool(
                dsn,
                min_size=0,
                max_size=settings.pool_max_size,
                kwargs={"options": options, "application_name": "patchbay-postgres", "autocommit": False},
                configure=_configure,
                # Reads end every transaction with ROLLBACK, which undoes its own SETs (set_config
                # too): only writes, which commit, need RESET ALL when the connection comes back.
                reset=_reset if reset else None,
                open=False,
                # Give up growing at once when the database cannot be reached (a call learns why
                # by itself): no backoff schedule keeps the pool from reconnecting once it is back.
                reconnect_timeout=0,
                name=name,
            )

        self._databases = {
            name: Database(
                name,
                reads=pool(dsn.get_secret_value(), f"patchbay-{name}-reads", reset=False),
                writes=pool(dsn.get_secret_value(), f"patchbay-{name}-writes", reset=True),
            )
            for name, dsn in settings.databases.items()
        }
        self._lent: dict[int, int] = {}  # id(pool) -> connections lent out now
        self._probes: dict[str, asyncio.Future[None]] = {}  # database -> the attempt in flight
        self._role_check: asyncio.Task[None] | None = None
        # An open result waits for its next page at most half the idle-in-transaction timeout,
        # so the server never ends its session first: statement_timeout_ms, 30 s by default.
        self.results = Results(self, hold_seconds=settings.statement_timeout_ms / 1000)

    @property
    def names(self) -> list[str]:
        """Configured database names, the default first."""
        return list(self._databases)

    def get(self, name: str | None) -> Database:
        """The database called `name` (the first configured one when None)."""
        if name is None:
            return next(iter(self._databases.values()))
        try:
            return self._databases[name]
        except KeyError:
            known = ", ".join(self._databases)
            raise InvalidArgument("database", f"no database named {name!r}; configured: {known}") from None

    async def open(self) -> None:
        """Open the pools (connections are made on first use); warn about powerful roles.

        The role check runs beside serving, so that the client's first answers do not wait
        for it (`--require-non-superuser` checks before), on the probe's connection that a
        first call would make anyway: calls that arrive meanwhile wait for it to close, so a
        database never sees more connections than `pool_max_size`.
        """
        for database in self._databases.values():
            for pool in database.pools:
                await pool.open(wait=False)
        self._role_check = asyncio.create_task(self._warn_about_roles())

    async def _warn_about_roles(self) -> None:
        for name in self._databases:
            with suppress(DatabaseUnavailable):  # the probe has logged PostgreSQL's reason
                await self._probe(name, check_role=True)

    async def close(self) -> None:
        """Finish the role check (at most a second more), close every open result, then every pool.

        A connection attempt still in flight (to a database that does not answer) is given up."""
        if self._role_check is not None:
            with anyio.move_on_after(ROLE_CHECK_GRACE_SECONDS):
                await asyncio.shield(self._role_check)
            self._role_check.cancel()
        for probe in list(self._probes.values()):
            probe.cancel()
        await self.results.close()
        for database in self._databases.values():
            for pool in database.pools:
                await pool.close()

    @asynccontextmanager
    async def transaction(
        self, name: str | None, *, read_only: bool, running: Running | None = None
    ) -> AsyncIterator[AsyncConnection[TupleRow]]:
        """A connection inside a transaction (read-only unless told otherwise), committed on success.

        A read is rolled back instead: it changed no data, and ROLLBACK also undoes every session
        setting it made, so no setting outlives it."""
        database = self.get(name)
        pool = database.reads if read_only else database.writes
        conn = await self.lend(database, pool, running)
        try:
            await conn.set_read_only(read_only)
            async with conn.transaction(force_rollback=read_only):
                yield conn
        finally:
            await self.give_back(pool, conn, running)

    def lent(self, pool: Pool) -> int:
        """Connections of `pool` lent out now (to calls and to open results)."""
        return self._lent.get(id(pool), 0)

    async def lend(self, database: Database, pool: Pool, running: Running | None) -> AsyncConnection[TupleRow]:
        """A connection of `pool`, counted as lent (and known to `running`) until `give_back`."""
        conn = await self._acquire(database, pool, checked=pool is not database.reads)
        self._lent[id(pool)] = self._lent.get(id(pool), 0) + 1
        if running is not None:
            running.conn = conn
        return conn

    async def give_back(self, pool: Pool, conn: AsyncConnection[TupleRow], running: Running | None) -> None:
        """Return a lent connection to its pool (even when the call was cut short)."""
        if running is not None:
            running.conn = None
        self._lent[id(pool)] -= 1
        with anyio.CancelScope(shield=True):
            await pool.putconn(conn)

    async def _acquire(self, database: Database, pool: Pool, *, checked: bool) -> AsyncConnection[TupleRow]:
        """A connection from `pool`; at once a `DatabaseUnavailable` when the database cannot be reached.

        A pool with no connection (none idle, none lent) first has the database tried directly,
        so a refused connection is reported at once rather than after the connect timeout.
        A write's connection is checked first; a dead one has every idle connection checked.
        """
        timeout = self.settings.connect_timeout_seconds
        for _ in range(2):
            if pool.get_stats().get("pool_available", 0) == 0 and self._lent.get(id(pool), 0) == 0:
                await self._probe(database.name)
            try:
                conn = await pool.getconn(timeout=timeout)
            except PoolTimeout:
                if self._lent.get(id(pool), 0) >= self.settings.pool_max_size:
                    raise
                await self._probe(database.name, force=True)  # raises the real reason, if there is one
                raise
            if not checked:
                return conn
            try:
                await AsyncConnectionPool.check_connection(conn)
            except psycopg.OperationalError:
                await pool.putconn(conn)
                await pool.check()  # the others were likely lost the same way (a restart)
                continue
            return conn
        raise DatabaseUnavailable(f"Could not connect to database {database.name!r}: its connections keep failing.")

    async def _probe(self, name: str, *, force: bool = False, check_role: bool = False) -> None:
        """One direct connection attempt to `name` (shared by calls that arrive meanwhile, which
        then use the pool: the probe's connection is closed before any of theirs is made).
        The start-up probe also checks the role (`check_role`).

        Raises:
            DatabaseUnavailable: the attempt failed; the message says why.
        """
        running = self._probes.get(name)
        if running is None:
            running = asyncio.ensure_future(self._connect_once(name, check_role))
            self._probes[name] = running
            running.add_done_callback(lambda _: self._probes.pop(name, None))
        await asyncio.shield(running)

    async def _connect_once(self, name: str, check_role: bool) -> None:
        dsn = self.settings.databases[name].get_secret_value()
        try:
            conn = await AsyncConnection.connect(
                dsn, connect_timeout=max(2, int(self.settings.connect_timeout_seconds))
            )
        except psycopg.Error as exc:
            logger.warning("database %r is not reachable: %s", name, _whole(exc))
            raise DatabaseUnavailable(connect_failure(name, exc)) from None
        try:
            if check_role:
                await _warn_about_role(name, conn)
        finally:
            await conn.close()

    async def read(self, name: str | None, work: Callable[[AsyncConnection[TupleRow]], Awaitable[T]]) -> T:
        """Run `work` in a read-only transaction; retried on a fresh connection if the connection was lost.

        How often and how long between tries is the shared retry policy's (`retry_attempts`,
        `retry_max_wait_seconds`): the first retry at once, later ones after a backoff.
        Cancelling the call cancels the statement on the server (see `guarded`).
        """

        async def once(running: Running) -> T:
            async with self.transaction(name, read_only=True, running=running) as conn:
                return await work(conn)

        return await self.guarded(partial(self.retrying, name, once))

    async def retrying(self, name: str | None, attempt: Callable[[Running], Awaitable[T]], running: Running) -> T:
        """`attempt(running)`, tried again on a fresh connection while the retry policy allows,
        when it fails because its connection was lost (never after a cancel or a timeout)."""
        delays = self.retry.retry_delays()
        while True:
            try:
                return await attempt(running)
            except (PoolTimeout, psycopg.errors.QueryCanceled):
                raise  # already waited (for a connection, or for the statement timeout)
            except psycopg.OperationalError:
                database = self.get(name)
                await database.reads.check()  # drop the other connections the same failure killed
                wait = next(delays, None)
                if wait is None or running.cancelled:
                    raise
                logger.info("connection to %r lost; retrying in %.1f s", database.name, wait)
                await asyncio.sleep(wait)

    async def write(self, name: str | None, work: Callable[[AsyncConnection[TupleRow]], Awaitable[T]]) -> T:
        """Run `work` in a read-write transaction, committed on success; never retried."""

        async def once(running: Running) -> T:
            async with self.transaction(name, read_only=False, running=running) as conn:
                return await work(conn)

        return await self.guarded(once)

    async def guarded(self, body: Callable[[Running], Awaitable[T]]) -> T:
        """Run `body` so that cancelling the call cancels its statement on the server.

        `body` runs in a task shielded from the caller's cancellation. When the caller is
        cancelled, the statement is cancelled on the server (`cancel_safe`, repeated until the
        body ends, at most CANCEL_BOUND_SECONDS), so the body ends with QueryCanceled and its
        connection goes back to the pool, clean; waiting for a connection is simply stopped.
        Past the bound the body is cancelled outright (psycopg then closes the connection).
        """
        running = Running(scope=anyio.CancelScope())

        async def run() -> T:
            with running.scope:
                return await body(running)
            raise DatabaseUnavailable("The call was cancelled.")  # only when the scope was cancelled

        # Its own asyncio task, outside the caller's cancel scopes: about 30 us less a call
        # than an anyio task group with a shielded scope and an event.
        task = asyncio.ensure_future(run())
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            with anyio.CancelScope(shield=True):
                await _stop(running, task)
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: the caller has gone, so nobody else will
            raise


async def _stop(running: Running, task: asyncio.Future[Any]) -> None:
    """Cancel the running statement on the server until the body has ended (bounded)."""
    running.cancelled = True
    with anyio.move_on_after(CANCEL_BOUND_SECONDS):
        while not task.done():
            conn = running.conn
            if conn is None:
                running.scope.cancel()  # waiting for a connection, or between tries: just stop
            else:
                try:
                    await conn.cancel_safe(timeout=CANCEL_BOUND_SECONDS)
                except Exception as exc:
                    logger.warning("could not cancel a statement: %s", exc)
            await asyncio.wait([task], timeout=0.1)
    if not task.done():
        logger.warning("a cancelled statement did not stop in %.0f s: closing its connection", CANCEL_BOUND_SECONDS)
        running.scope.cancel()
        with anyio.move_on_after(CANCEL_BOUND_SECONDS):
            await asyncio.wait([task])


def _whole(exc: BaseException) -> str:
    """An exception's whole message on one line (libpq's reasons span several)."""
    return " ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())


ROLE_QUERY = "select rolsuper, rolbypassrls, current_user from pg_catalog.pg_roles where rolname = current_user"


def role_warning(name: str, row: Sequence[Any] | None) -> str | None:
    """The warning for database `name` when ROLE_QUERY's `row` shows a superuser or a role that bypasses
    row-level security; None for a plain role."""
    if row is None or not (row[0] or row[1]):
        return None
    what = "a superuser" if row[0] else "allowed to bypass row-level security"
    return (
        f"database {name!r}: role {row[2]!r} is {what}. The read-only layers hold anyway, but a "
        "dedicated read-only role is the safer boundary (see the README)."
    )


async def _warn_about_role(name: str, conn: AsyncConnection[TupleRow]) -> None:
    """Log `role_warning` for database `name`, if any (a check that fails is logged, not raised)."""
    try:
        row = await (await conn.execute(ROLE_QUERY)).fetchone()
    except psycopg.Error as exc:
        logger.warning("could not check the role of database %r: %s", name, _whole(exc))
        return
    if warning := role_warning(name, row):
        logger.warning(warning)


async def role_warnings(settings: PostgresSettings) -> list[str]:
    """A warning per database whose role is a superuser or bypasses row-level security.

    Connects directly (before any pool is open), so that a database that cannot be reached
    is reported with PostgreSQL's own reason.
    """
    warnings = []
    for name, dsn in settings.databases.items():
        try:
            async with await AsyncConnection.connect(
                dsn.get_secret_value(), connect_timeout=max(1, int(settings.connect_timeout_seconds))
            ) as conn:
                row = await (await conn.execute(ROLE_QUERY)).fetchone()
        except psycopg.Error as exc:
            logger.warning("database %r is not reachable: %s", name, _whole(exc))
            continue
        if warning := role_warning(name, row):
            warnings.append(warning)
    return warnings


async def refuse_superusers(settings: PostgresSettings) -> None:
    """With --require-non-superuser, refuse to start over a powerful role."""
    if settings.require_non_superuser and (warnings := await role_warnings(settings)):
        raise SettingsError(" ".join(warnings) + " Refusing to start (--require-non-superuser).")


async def _reset(conn: AsyncConnection[TupleRow]) -> None:
    """Undo any session setting a call managed to change before the connection is lent again."""
    await conn.set_autocommit(True)
    await conn.execute("RESET ALL")
    await conn.set_autocommit(False)


async def _configure(conn: AsyncConnection[TupleRow]) -> None:
    for type_name in _AS_TEXT:  # all built in: known by name, no query needed
        conn.adapters.register_loader(type_name, TextLoader)
    for type_name in ("timestamp", "timestamptz"):
        conn.adapters.register_loader(type_name, IsoTimestamp)


def jsonable(value: Any) -> Any:
    """A JSON-safe form of a value psycopg loaded."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, decimal.Decimal | uuid.UUID | ipaddress._BaseAddress | ipaddress._BaseNetwork):
        return str(value)
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    return str(value)


def row_values(row: Sequence[Any]) -> list[Any]:
    """A row with every value JSON-safe."""
    return [jsonable(value) for value in row]


_PLAIN = frozenset({type(None), bool, int, float, str})


def rows_values(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Rows with every value JSON-safe (as `row_values`), a column at a time: a column whose
    values are all JSON already (ints, text, booleans, nulls) is taken as it is."""
    if not rows or not rows[0]:
        return [list(row) for row in rows]
    columns: list[Sequence[Any]] = []
    for column in zip(*rows, strict=True):
        kinds = set(map(type, column))
        if kinds <= _PLAIN:
            columns.append(column)
        elif len(kinds) == 1 and (convert := _BY_TYPE.get(next(iter(kinds)))) is not None:
            columns.append(list(map(convert, column)))
        else:
            columns.append([jsonable(value) for value in column])
    return [list(row) for row in zip(*columns, strict=True)]


_BY_TYPE: dict[type, Callable[[Any], Any]] = {
    datetime.datetime: datetime.datetime.isoformat,
    datetime.date: datetime.date.isoformat,
    datetime.time: datetime.time.isoformat,
    decimal.Decimal: str,
    uuid.UUID: str,
}
"""Columns of one type that `jsonable` turns into text, converted without its checks."""
