"""Query results a page at a time, in one pass over one snapshot while the client keeps asking.

A query's first page is one pipelined round trip: BEGIN READ ONLY, DECLARE a cursor for the
query (sent with the extended protocol, so the server refuses a second statement), FETCH the
page and one row more. A result that ends on that page is closed as soon as its rows are in hand,
in the background (ROLLBACK, which also undoes any session setting it made): the answer does not
wait for that round trip, and the connection goes back to the pool after it. A result with more
rows stays open: its read-only transaction, its cursor and the row already fetched wait, on
their connection, for the call that asks for the next page (one FETCH each), so the pages of a
result come from one snapshot and the query runs once, however many pages it has. From the
second page on, the next page is fetched ahead as soon as a page is sent, so PostgreSQL and
psycopg work on it while the client reads the page it has (one page more in memory, no more
than that).

An open result is bounded: it is closed `hold_seconds` after its last page (below the
session's idle_in_transaction_session_timeout), when a call needs its connection and the pool
has no other (the oldest open result goes first), when its connection fails, and when the
server stops. A page asked of a result that is no longer open runs the query again and skips
the rows already sent (MOVE, in the server), so it is still right when the data did not
change meanwhile; that page and the ones after it come from a new snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Coroutine
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow

if TYPE_CHECKING:
    from patchbay_postgres.client import Database, Databases, Pool, Running

logger = logging.getLogger("patchbay.postgres")

Row = tuple[Any, ...]

AHEAD_GRACE_SECONDS = 1.0
"""How long closing an open result lets its fetch ahead run before cancelling it on the server."""


@dataclass
class Fetched:
    """A page of rows (at most `limit`), whether more follow, and the result's columns (name, type oid)."""

    rows: list[Row]
    more: bool
    columns: list[tuple[str, int]]
    conn: AsyncConnection[TupleRow]
    token: str | None = None
    """Names the open result the next page comes from (None: the next page runs the query again)."""


@dataclass
class Open:
    """A result whose next page waits on its connection, in its transaction."""

    token: str
    database: Database
    conn: AsyncConnection[TupleRow]
    cursor: str
    position: int  # rows sent so far
    buffered: list[Row]  # rows fetched and not sent yet (at least the next page's first)
    columns: list[tuple[str, int]]
    size: int  # rows of the last page sent: what is fetched ahead
    ahead: asyncio.Task[list[Row]] | None = None  # the next page, being fetched
    ended: bool = False  # the cursor has no rows left to fetch
    timer: asyncio.TimerHandle | None = None
    opened: float = field(default_factory=time.monotonic)

    async def rows(self, wanted: int) -> list[Row]:
        """The rows fetched and not sent (the one fetched ahead included), topped up to `wanted`
        when the cursor has more.

        Raises:
            psycopg.Error: fetching failed (here or ahead).
        """
        if self.ahead is not None:
            ahead, self.ahead = self.ahead, None
            fetched = await ahead
            self.buffered += fetched
            self.ended = len(fetched) < self.size
        if len(self.buffered) < wanted and not self.ended:
            more, _ = await _fetch(self.conn, self.cursor, wanted - len(self.buffered))
            self.ended = len(more) < wanted - len(self.buffered)
            self.buffered += more
        return self.buffered

    def fetch_ahead(self) -> None:
        """Start fetching the next page (as many rows as the last one) while the client reads."""
        if not self.ended and self.ahead is None:
            self.ahead = asyncio.create_task(_fetch_rows(self.conn, self.cursor, self.size))

    async def settle(self) -> None:
        """Let a fetch ahead end (cancelled on the server first when it runs long), so that the
        connection is free; its rows or error are dropped."""
        if self.ahead is None:
            return
        ahead, self.ahead = self.ahead, None
        if not ahead.done():
            with anyio.move_on_after(AHEAD_GRACE_SECONDS):
                await asyncio.wait({ahead})
        if not ahead.done():
            with suppress(psycopg.Error):
                await self.conn.cancel_safe()
        await asyncio.wait({ahead})
        if not ahead.cancelled():
            ahead.exception()  # retrieved: a failed fetch ahead is not logged as never seen


class Results:
    """The open results of one `Databases`, by token."""

    def __init__(self, databases: Databases, hold_seconds: float) -> None:
        self.databases = databases
        self.hold_seconds = hold_seconds
        self._open: dict[str, Open] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def page(self, name: str | None, query: str, limit: int, skip: int, token: str | None) -> Fetched:
        """`limit` rows of `query` after the first `skip`: from the open result `token` when it is
        still open there, else by running the query (again).

        Raises:
            psycopg.Error: the query failed (after the retries `Databases.retrying` allows).
        """
        held = self._take(token, skip)
        if held is not None:
            try:
                return await self.databases.guarded(lambda running: self._resume(held, limit, running))
            except psycopg.OperationalError:
                pass  # its connection is gone: run the query again below, as after a restart
        return await self.databases.guarded(
            lambda running: self.databases.retrying(
                name, lambda attempt: self._first(name, query, limit, skip, attempt), running
            )
        )

    def _take(self, token: str | None, skip: int) -> Open | None:
        """The open result `token`, now this call's, if it is open and at `skip`."""
        held = self._open.pop(token, None) if token else None
        if held is not None and held.timer is not None:
            held.timer.cancel()
        if held is not None and held.position != skip:  # an older page asked again: start over
            self._close_soon(held)
            return None
        return held

    async def _first(self, name: str | None, query: str, limit: int, skip: int, running: Running) -> Fetched:
        database = self.databases.get(name)
        pool = database.reads
        if self._open and pool.get_stats().get("pool_available", 0) == 0:
            await self._make_room(database)
        conn = await self.databases.lend(database, pool, running)
        kept = False
        try:
            await conn.set_read_only(True)
            cursor = CURSOR
            async with conn.pipeline():  # one round trip, when the pipeline ends
                await declare(conn, cursor, query)
                if skip:
                    await conn.execute(sql.SQL(f"MOVE FORWARD {int(skip)} FROM {cursor}"), prepare=False)
                fetched = await conn.execute(_fetch_statement(cursor, limit + 1), prepare=False)
            rows, columns = await _rows_of(fetched)
            kept = True
            if len(rows) <= limit:
                self._background(self._end(database, conn))
                return Fetched(rows, False, columns, conn)
            token = secrets.token_urlsafe(9)
            self._hold(Open(token, database, conn, cursor, skip + limit, rows[limit:], columns, limit))
            return Fetched(rows[:limit], True, columns, conn, token)
        finally:
            if kept:
                running.conn = None  # ended in the background, or the open result has it: still lent
            else:
                await self.databases.give_back(pool, conn, running)

    async def _resume(self, held: Open, limit: int, running: Running) -> Fetched:
        running.conn = held.conn
        done = True
        try:
            rows = await held.rows(limit + 1)
            if len(rows) > limit:
                held.position += limit
                held.buffered, held.size = rows[limit:], limit
                self._hold(held, fetch_ahead=True)
                done = False
                return Fetched(rows[:limit], True, held.columns, held.conn, held.token)
            return Fetched(rows, False, held.columns, held.conn)
        finally:
            running.conn = None
            if done:  # the last page, or a failure: end it in the background
                self._close_soon(held)

    def _hold(self, held: Open, *, fetch_ahead: bool = False) -> None:
        """Keep `held` open for its next page; fetch that page ahead once the client has asked
        for a second page (many stop at the first: no rows are fetched for nothing then)."""
        self._open[held.token] = held
        loop = asyncio.get_running_loop()
        held.timer = loop.call_later(self.hold_seconds, self._expire, held.token)
        if fetch_ahead:
            held.fetch_ahead()

    def _expire(self, token: str) -> None:
        held = self._open.pop(token, None)
        if held is not None:
            self._close_soon(held)

    def _close_soon(self, held: Open) -> None:
        self._background(self._close(held))

    def _background(self, closing: Coroutine[Any, Any, None]) -> None:
        """Run `closing` after the call that started it has its page; `close` waits for it."""
        task = asyncio.ensure_future(closing)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, held: Open) -> None:
        """End an open result: let its fetch ahead end, then `_end` its read."""
        if held.timer is not None:
            held.timer.cancel()
        await held.settle()
        await self._end(held.database, held.conn)

    async def _end(self, database: Database, conn: AsyncConnection[TupleRow]) -> None:
        """End a read (`_finish`) and return its connection to the pool. Run in the background
        once the last page is in hand, so the answer does not wait for this round trip; the
        connection counts as lent until it is back."""
        try:
            await _finish(conn)
        except psycopg.Error as exc:  # a broken connection: the pool discards it
            logger.info("ending a read: %s", exc)
        await self.databases.give_back(database.reads, conn, None)

    async def _make_room(self, database: Database) -> None:
        """Close the oldest open result of `database` when its pool has no connection left to lend."""
        pool: Pool = database.reads
        if self.databases.lent(pool) < pool.max_size:
            return
        mine = [held for held in self._open.values() if held.database is database]
        if mine:
            oldest = min(mine, key=lambda held: held.opened)
            del self._open[oldest.token]
            await self._close(oldest)

    async def close(self) -> None:
        """Close every open result (the server stops)."""
        while self._open:
            _, held = self._open.popitem()
            await self._close(held)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


CURSOR = "patchbay_result"
"""The name of every result's cursor: a connection holds at most one open result, and its cursor
ends with its transaction. One name keeps each statement's text the same from call to call."""


async def declare(conn: AsyncConnection[TupleRow], cursor: str, query: str) -> None:
    """DECLARE `cursor` (a plain identifier) for `query` with the extended protocol, so the server
    refuses a second statement (binary=True asks for it outside pipeline mode too; DECLARE
    returns no rows). Statements are put together as text, not with `psycopg.sql` composition,
    which costs about 20 µs a statement on every call. Never prepared: a prepared DECLARE still
    plans its query each time, and each read's ROLLBACK drops psycopg's prepared statements.

    Raises:
        ValueError: `cursor` is not a plain identifier.
        psycopg.Error: the server refused the statement.
    """
    if not cursor.isidentifier():
        raise ValueError(f"not a plain identifier: {cursor!r}")
    await conn.execute(sql.SQL(f"DECLARE {cursor} NO SCROLL CURSOR FOR {query}"), binary=True, prepare=False)


def _fetch_statement(cursor: str, count: int) -> sql.SQL:
    return sql.SQL(f"FETCH FORWARD {int(count)} FROM {cursor}")


async def _fetch(conn: AsyncConnection[TupleRow], cursor: str, count: int) -> tuple[list[Row], list[tuple[str, int]]]:
    """The next `count` rows of `cursor` and its columns (name, type oid)."""
    return await _rows_of(await conn.execute(_fetch_statement(cursor, count), prepare=False))


async def _rows_of(fetched: psycopg.AsyncCursor[Row]) -> tuple[list[Row], list[tuple[str, int]]]:
    return await fetched.fetchall(), [(d.name, d.type_code) for d in fetched.description or []]


async def _fetch_rows(conn: AsyncConnection[TupleRow], cursor: str, count: int) -> list[Row]:
    rows, _ = await _fetch(conn, cursor, count)
    return rows


async def _finish(conn: AsyncConnection[TupleRow]) -> None:
    """End a read with ROLLBACK: it changed no data, and rolling back also undoes every session
    setting it made (`set_config(..., false)` too), in one statement and one round trip."""
    await conn.rollback()
