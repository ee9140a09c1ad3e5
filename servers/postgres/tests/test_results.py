"""Issue 17: a result's pages come from one pass over one snapshot while the client keeps
asking; past the bounds (time, a pool with no connection left, a lost connection, the server
stopping) the next page runs the query again and skips the rows already sent."""

from collections.abc import Iterator
from typing import Any, cast

import anyio
import psycopg
import pytest

from dbs import fresh_database
from patchbay.testing import connect
from patchbay_postgres.client import Databases
from patchbay_postgres.results import declare
from patchbay_postgres.server import connector
from patchbay_postgres.settings import PostgresSettings

pytestmark = pytest.mark.anyio

QUERY = "select id from items order by id"


@pytest.fixture(scope="module")
def db(postgres: Any) -> Iterator[str]:
    with fresh_database(postgres, "res") as name:
        postgres.execute("create table items (id int primary key)", database=name)
        postgres.execute("insert into items select g from generate_series(1, 100) g", database=name)
        yield name


def settings(postgres: Any, db: str, **more: Any) -> dict[str, Any]:
    return {"dsn": postgres.dsn(database=db), **more}


async def page(client: Any, cursor: str | None = None, *, sql: str = QUERY, rows: int = 30) -> dict[str, Any]:
    arguments = {"sql": sql, "max_rows": rows} | ({"cursor": cursor} if cursor else {})
    result = await client.call_tool("execute_sql", arguments)
    assert not result.is_error, result.content[0].text
    content: dict[str, Any] = result.structured_content
    return content


def ids(content: dict[str, Any]) -> list[int]:
    return [row[0] for row in content["rows"]]


def open_transactions(postgres: Any, db: str) -> int:
    """The connector's sessions on `db` that wait inside a transaction (an open result)."""
    rows = postgres.execute(
        "select count(*) from pg_stat_activity where datname = %s and application_name = 'patchbay-postgres' "
        "and state like 'idle in transaction%%'",
        (db,),
    )
    return int(rows[0][0])


async def test_pages_come_from_one_snapshot_while_the_client_keeps_asking(postgres: Any, db: str, era: str) -> None:
    async with connect(connector, settings(postgres, db), era=era) as client:
        first = await page(client)
        assert open_transactions(postgres, db) == 1
        postgres.execute("delete from items where id between 31 and 40; insert into items values (1000)", database=db)
        try:
            got = ids(first)
            cursor = first["next_cursor"]
            while cursor is not None:
                following = await page(client, cursor)
                got += ids(following)
                cursor = following["next_cursor"]
            assert open_transactions(postgres, db) == 0  # the last page ended the transaction
        finally:
            restore = "delete from items where id > 100; insert into items select generate_series(31, 40)"
            postgres.execute(restore, database=db)
    assert got == list(range(1, 101))  # the snapshot of the first page: no row deleted, none added


async def test_a_page_after_the_hold_runs_the_query_again_and_skips_what_was_sent(
    postgres: Any, db: str, era: str
) -> None:
    # The open result is held statement_timeout_ms: 300 ms here.
    async with connect(connector, settings(postgres, db, statement_timeout_ms=300), era=era) as client:
        first = await page(client)
        assert open_transactions(postgres, db) == 1
        await anyio.sleep(1.0)
        assert open_transactions(postgres, db) == 0  # closed by the bound, not by the server's timeout
        second = await page(client, first["next_cursor"])
    assert ids(first) + ids(second) == list(range(1, 61))
    assert second["next_cursor"] is not None


async def test_an_open_result_never_keeps_a_call_from_a_connection(postgres: Any, db: str, era: str) -> None:
    async with connect(connector, settings(postgres, db, pool_max_size=1, connect_timeout_seconds=3), era=era) as c:
        first = await page(c)
        other = await page(c, sql="select count(*) from items")  # needs the one connection: the result yields it
        second = await page(c, first["next_cursor"])  # so this page runs the query again
    assert other["rows"] == [[100]]
    assert ids(first) + ids(second) == list(range(1, 61))


async def test_an_earlier_page_asked_again_is_the_same_page(postgres: Any, db: str, era: str) -> None:
    async with connect(connector, settings(postgres, db), era=era) as client:
        first = await page(client)
        second = await page(client, first["next_cursor"])
        again = await page(client, first["next_cursor"])  # the open result has moved on: run again
        third = await page(client, again["next_cursor"])
    assert ids(second) == ids(again) == list(range(31, 61))
    assert ids(third) == list(range(61, 91))


async def test_a_lost_connection_is_a_page_run_again(postgres: Any, db: str, era: str) -> None:
    async with connect(connector, settings(postgres, db), era=era) as client:
        first = await page(client)
        postgres.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s "
            "and application_name = 'patchbay-postgres' and state like 'idle in transaction%%'",
            (db,),
        )
        second = await page(client, first["next_cursor"])
    assert ids(first) + ids(second) == list(range(1, 61))


async def test_stopping_the_server_ends_every_open_result(postgres: Any, db: str, era: str) -> None:
    async with connect(connector, settings(postgres, db), era=era) as client:
        await page(client)
        await page(client, sql="select id from items order by id desc")
        assert open_transactions(postgres, db) == 2
    for _ in range(100):  # the connections close as the pools do
        if open_transactions(postgres, db) == 0:
            break
        await anyio.sleep(0.05)
    assert open_transactions(postgres, db) == 0


async def test_an_open_result_is_read_only_and_keeps_no_session_setting(postgres: Any, db: str, era: str) -> None:
    setting = "select current_setting('statement_timeout'), current_setting('transaction_read_only')"
    async with connect(connector, settings(postgres, db, pool_max_size=1), era=era) as client:
        first = await page(client)
        during = await page(client, sql=setting)  # the open result yields the pool's one connection
        cursor = first["next_cursor"]
        while cursor is not None:
            cursor = (await page(client, cursor))["next_cursor"]
        again = await page(client, sql=setting)
    assert during["rows"] == again["rows"] == [["30s", "on"]]


@pytest.mark.parametrize("rows", [5, 1], ids=["ends-on-its-first-page", "ends-on-a-later-page"])
async def test_a_session_setting_made_by_a_read_ends_with_it(postgres: Any, db: str, rows: int) -> None:
    """The parser check refuses set_config; should a query get one past it, the read's end
    (ROLLBACK) still undoes it, on the first page's round trip and on a later page's. Called
    below the tools, on a pool of one connection, so the next read gets the same session."""
    changes = "select set_config('search_path', 'pg_temp', false) from generate_series(1, 3)"
    databases = Databases(PostgresSettings.load(settings(postgres, db, pool_max_size=1)))
    await databases.open()
    try:
        fetched, sent = await databases.results.page(None, changes, rows, 0, None), 0
        while fetched.more:
            sent += len(fetched.rows)
            fetched = await databases.results.page(None, changes, rows, sent, fetched.token)
        assert fetched.rows == [("pg_temp",)] * min(rows, 3)
        after = await databases.results.page(None, "select current_setting('search_path')", 5, 0, None)
    finally:
        await databases.close()
    assert after.rows == [('"$user", public',)]


async def test_a_read_that_ends_gives_its_connection_back_out_of_its_transaction(postgres: Any, db: str) -> None:
    """A read that ends on its first page answers with its rows, then ends (ROLLBACK) in the
    background: its connection comes back to the pool idle, for the next read and the next."""
    databases = Databases(PostgresSettings.load(settings(postgres, db, pool_max_size=1)))
    await databases.open()
    try:
        pool = databases.get(None).reads
        for n in range(3):  # one connection: each read needs the one before it given back
            with anyio.fail_after(10):
                fetched = await databases.results.page(None, f"select {n}", 5, 0, None)
            assert (fetched.rows, fetched.more) == ([(n,)], False)
        with anyio.fail_after(10):
            async with pool.connection() as conn:  # waits for the last read's connection
                assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert databases.lent(pool) == 0
    finally:
        await databases.close()


async def test_a_session_setting_made_in_a_read_transaction_ends_with_it(postgres: Any, db: str) -> None:
    """The other read tools (catalog queries, EXPLAIN) run in `Databases.transaction`, which
    rolls a read back: a setting made there is undone for the next read on the same session."""
    databases = Databases(PostgresSettings.load(settings(postgres, db, pool_max_size=1)))
    await databases.open()
    try:
        async with databases.transaction(None, read_only=True) as conn:
            await conn.execute("select set_config('search_path', 'pg_temp', false)")
        async with databases.transaction(None, read_only=True) as conn:
            after = await (await conn.execute("select current_setting('search_path')")).fetchall()
    finally:
        await databases.close()
    assert after == [('"$user", public',)]


async def test_declare_refuses_a_cursor_name_that_is_not_a_plain_identifier() -> None:
    """The cursor's name goes into the statement as it is; only a plain identifier may."""
    with pytest.raises(ValueError, match="not a plain identifier"):
        await declare(cast(Any, None), 'c"; drop table items; --', "select 1")


EPOCH_US = "(extract(epoch from clock_timestamp()) * 1000000)::bigint"
CLOCKED = f"select i, {EPOCH_US} from generate_series(1, 100) i"  # each row stamped when it is fetched


async def fetched_ahead_ended(postgres: Any, db: str) -> int:
    """Once the connector's sessions on `db` run nothing, PostgreSQL's clock now (microseconds)."""
    await anyio.sleep(0.3)  # time for a fetch ahead to start
    busy = (
        "select count(*) from pg_stat_activity where datname = %s and application_name = 'patchbay-postgres' "
        "and state = 'active'"
    )
    for _ in range(1000):
        if not postgres.execute(busy, (db,))[0][0]:
            break
        await anyio.sleep(0.01)
    else:
        raise AssertionError("the connector's sessions stayed busy for 10 s")
    return int(postgres.execute(f"select {EPOCH_US}")[0][0])


async def test_from_the_second_page_on_the_next_page_is_fetched_ahead(postgres: Any, db: str, era: str) -> None:
    async with connect(connector, settings(postgres, db), era=era) as client:
        first = await page(client, sql=CLOCKED, rows=10)
        after_first = await fetched_ahead_ended(postgres, db)
        second = await page(client, first["next_cursor"], sql=CLOCKED, rows=10)
        after_second = await fetched_ahead_ended(postgres, db)
        third = await page(client, second["next_cursor"], sql=CLOCKED, rows=10)
    assert ids(first) + ids(second) + ids(third) == list(range(1, 31))
    assert all(row[1] > after_first for row in second["rows"][1:])  # after the first page: only when asked
    assert all(row[1] < after_second for row in third["rows"])  # after the second: before it was asked for


async def test_a_result_fetched_ahead_closes_at_its_bound_and_pages_on_from_a_new_run(
    postgres: Any, db: str, era: str
) -> None:
    async with connect(connector, settings(postgres, db, statement_timeout_ms=300), era=era) as client:
        first = await page(client)
        second = await page(client, first["next_cursor"])  # the third is fetched ahead now
        await anyio.sleep(1.0)
        assert open_transactions(postgres, db) == 0  # closed by the bound, the fetch ahead included
        third = await page(client, second["next_cursor"])
    assert ids(first) + ids(second) + ids(third) == list(range(1, 91))
