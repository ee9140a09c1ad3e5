"""Connections to the configured databases: one psycopg pool each, values made JSON-safe.

After a server restart or a dropped connection, a read-only call that fails for that
reason is tried again on a fresh connection, as often and as long as the shared retry
policy allows (`retry_attempts`, `retry_max_wait_seconds`); a write is never retried
(it checks its connection first).
Every session gets a server-side statement timeout.
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
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg.types.string import TextLoader
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from patchbay import InvalidArgument, SettingsError
from patchbay_postgres.settings import PostgresSettings

logger = logging.getLogger("patchbay.postgres")
T = TypeVar("T")

# Types whose Python form is lossy or awkward as JSON come back as PostgreSQL's own text.
_AS_TEXT = ("numeric", "interval", "money", "int4range", "int8range", "numrange", "tsrange", "tstzrange", "daterange")


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

        def pool(dsn: str, name: str, *, checked: bool) -> AsyncConnectionPool[AsyncConnection[TupleRow]]:
            return AsyncConnectionPool(
                dsn,
                min_size=0,
                max_size=settings.pool_max_size,
                kwargs={"options": options, "application_name": "patchbay-postgres", "autocommit": False},
                configure=_configure,
                reset=_reset,
                check=AsyncConnectionPool.check_connection if checked else None,
                open=False,
                name=name,
            )

        self._databases = {
            name: Database(
                name,
                reads=pool(dsn.get_secret_value(), f"patchbay-{name}-reads", checked=False),
                writes=pool(dsn.get_secret_value(), f"patchbay-{name}-writes", checked=True),
            )
            for name, dsn in settings.databases.items()
        }

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
        """Open the pools (connections are made on first use); warn about powerful roles."""
        for database in self._databases.values():
            for pool in database.pools:
                await pool.open(wait=False)
        for warning in await role_warnings(self.settings):
            logger.warning(warning)

    async def close(self) -> None:
        """Close every pool."""
        for database in self._databases.values():
            for pool in database.pools:
                await pool.close()

    @asynccontextmanager
    async def transaction(self, name: str | None, *, read_only: bool) -> AsyncIterator[AsyncConnection[TupleRow]]:
        """A connection inside a transaction (read-only unless told otherwise), committed on success."""
        pool = self.get(name).reads if read_only else self.get(name).writes
        async with pool.connection(timeout=self.settings.connect_timeout_seconds) as conn:
            await conn.set_read_only(read_only)
            async with conn.transaction():
                yield conn

    async def read(self, name: str | None, work: Callable[[AsyncConnection[TupleRow]], Awaitable[T]]) -> T:
        """Run `work` in a read-only transaction; retried on a fresh connection if the connection was lost.

        How often and how long between tries is the shared retry policy's (`retry_attempts`,
        `retry_max_wait_seconds`): the first retry at once, later ones after a backoff.
        """
        delays = self.retry.retry_delays()
        while True:
            try:
                async with self.transaction(name, read_only=True) as conn:
                    return await work(conn)
            except (PoolTimeout, psycopg.errors.QueryCanceled):
                raise  # already waited (for a connection, or for the statement timeout)
            except psycopg.OperationalError:
                wait = next(delays, None)
                if wait is None:
                    raise
                logger.info("connection to %r lost; retrying in %.1f s", name or self.names[0], wait)
                await asyncio.sleep(wait)


async def role_warnings(settings: PostgresSettings) -> list[str]:
    """A warning per database whose role is a superuser or bypasses row-level security.

    Connects directly (not through a pool) so that a database that cannot be reached is
    reported with PostgreSQL's own reason, once, at start-up.
    """
    warnings = []
    for name, dsn in settings.databases.items():
        try:
            async with await AsyncConnection.connect(
                dsn.get_secret_value(), connect_timeout=max(1, int(settings.connect_timeout_seconds))
            ) as conn:
                row = await (
                    await conn.execute(
                        "select rolsuper, rolbypassrls, current_user from pg_roles where rolname = current_user"
                    )
                ).fetchone()
        except psycopg.Error as exc:
            logger.warning("database %r is not reachable: %s", name, str(exc).strip().splitlines()[-1])
            continue
        if row is not None and (row[0] or row[1]):
            what = "a superuser" if row[0] else "allowed to bypass row-level security"
            warnings.append(
                f"database {name!r}: role {row[2]!r} is {what}. The read-only layers hold anyway, but a "
                "dedicated read-only role is the safer boundary (see the README)."
            )
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
    for type_name in _AS_TEXT:
        info = await psycopg.types.TypeInfo.fetch(conn, type_name)
        if info is not None:
            conn.adapters.register_loader(info.oid, TextLoader)
    await conn.commit()  # the type lookups opened a transaction


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
