"""Issue 11: cancelled calls stop their statements, an unreachable database fails fast and says
why, recovery takes at most one failed call, EXPLAIN ANALYZE runs once, resource errors."""

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.to_thread
import pytest
from mcp.shared.exceptions import MCPError

from dbs import fresh_database
from patchbay.testing import connect, free_port
from patchbay_postgres.server import connector

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def db(postgres: Any) -> Iterator[str]:
    with fresh_database(postgres, "rel") as name:
        yield name


def needs_own_server(postgres: Any) -> None:
    if not hasattr(postgres, "down"):
        pytest.skip("needs a PostgreSQL the suite started itself (stopped and started by the test)")


def active(postgres: Any, db: str, marker: str) -> int:
    """Backends of the connector on `db` running a statement that contains `marker`."""
    rows = postgres.execute(
        "select count(*) from pg_stat_activity where datname = %s and state = 'active' and query like %s",
        (db, f"%{marker}%"),
    )
    return int(rows[0][0])


def backends(postgres: Any, db: str) -> int:
    """Every backend on `db` but the one asking."""
    rows = postgres.execute(
        "select count(*) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()", (db,)
    )
    return int(rows[0][0])


async def gone_within(postgres: Any, db: str, marker: str, bound: float) -> float:
    """Seconds until no backend runs `marker` any more; fails past `bound`."""
    began = time.monotonic()
    while await anyio.to_thread.run_sync(active, postgres, db, marker):
        assert time.monotonic() - began < bound, f"{marker!r} still running after {bound} s"
        await anyio.sleep(0.02)
    return time.monotonic() - began


# 1. Cancelled calls ------------------------------------------------------------------------


async def test_a_cancelled_call_cancels_its_query_on_the_server(
    postgres: Any, db: str, era: str, caplog: pytest.LogCaptureFixture
) -> None:
    marker = f"pg_sleep(25) /* one-{era} */"
    async with connect(connector, {"dsn": postgres.dsn(database=db)}, era=era) as client:
        with anyio.move_on_after(1.0):  # the client gives up: notifications/cancelled
            await client.call_tool("execute_sql", {"sql": f"select {marker}"})
        assert await anyio.to_thread.run_sync(active, postgres, db, marker) <= 1
        took = await gone_within(postgres, db, marker, 1.0)
        after = await client.call_tool("execute_sql", {"sql": "select 41 + 1"})  # the connection is usable
    print(f"query gone {took:.3f} s after the cancel")
    assert after.structured_content is not None and after.structured_content["rows"] == [[42]]
    assert "query cancellation interrupted" not in caplog.text


async def test_killed_clients_never_leave_more_backends_than_the_pool(postgres: Any, db: str) -> None:
    marker = "pg_sleep(25) /* eight */"
    most = 0
    sampling = threading.Event()

    def sample() -> None:
        nonlocal most
        while not sampling.is_set():
            most = max(most, backends(postgres, db))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        async with connect(connector, {"dsn": postgres.dsn(database=db), "pool_max_size": 5}) as client:

            async def killed() -> None:
                with anyio.move_on_after(1.0):
                    await client.call_tool("execute_sql", {"sql": f"select {marker}"})

            async def short(results: list[Any]) -> None:
                results.append(await client.call_tool("execute_sql", {"sql": "select pg_sleep(0.3), 1 as one"}))

            async with anyio.create_task_group() as group:
                for _ in range(8):
                    group.start_soon(killed)
            took = await gone_within(postgres, db, marker, 1.0)
            results: list[Any] = []
            async with anyio.create_task_group() as group:  # new calls while the old ones would still run
                for _ in range(8):
                    group.start_soon(short, results)
    finally:
        sampling.set()
        sampler.join()
    print(f"eight queries gone {took:.3f} s after the cancel; at most {most} backends")
    assert [r.is_error for r in results] == [False] * 8
    assert most <= 5


# 2. Database down ----------------------------------------------------------------------------


def refusing_dsn() -> str:
    return f"postgresql://someone:secret-pw-canary@127.0.0.1:{free_port()}/app"


async def test_a_refused_connection_is_reported_at_once_and_says_so(era: str, caplog: pytest.LogCaptureFixture) -> None:
    async with connect(connector, {"dsn": refusing_dsn(), "connect_timeout_seconds": 10}, era=era) as client:
        began = time.monotonic()
        result = await client.call_tool("execute_sql", {"sql": "select 1"})
        took = time.monotonic() - began
    print(f"refused connection reported in {took:.3f} s")
    assert result.is_error
    assert result.content[0].text == (
        "Could not connect to database 'default': connection refused (is the server running, and accepting "
        "TCP/IP connections on that host and port?)."
    )
    assert took < 2.0  # not the 10 s connect timeout
    # the start-up warning keeps the whole reason, not only its last line
    assert "Connection refused Is the server running on that host and accepting TCP/IP connections?" in caplog.text
    assert "secret-pw-canary" not in caplog.text + result.model_dump_json()


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("host", "host not found (the host name in its connection string does not resolve)"),
        ("password", "authentication failed (check the user name and password in its connection string)"),
        ("database", "the database named in its connection string does not exist"),
    ],
)
async def test_each_cause_is_named(postgres: Any, what: str, expected: str) -> None:
    dsn = {
        "host": "postgresql://someone:secret-pw-canary@no-such-host.invalid:5432/app",
        "password": postgres.dsn(password="secret-pw-canary"),
        "database": postgres.dsn(database="no_such_database_here"),
    }[what]
    async with connect(connector, {"dsn": dsn}) as client:
        result = await client.call_tool("execute_sql", {"sql": "select 1"})
    assert result.is_error
    assert result.content[0].text == f"Could not connect to database 'default': {expected}."
    assert "secret-pw-canary" not in result.model_dump_json()
    assert postgres.password not in result.model_dump_json()


async def test_a_silent_host_is_reported_as_timed_out() -> None:
    with socket.socket() as silent:  # accepts TCP connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        dsn = f"postgresql://someone:pw@127.0.0.1:{port}/app"
        async with connect(connector, {"dsn": dsn, "connect_timeout_seconds": 2}) as client:
            result = await client.call_tool("execute_sql", {"sql": "select 1"})
    assert result.is_error
    assert result.content[0].text == (
        "Could not connect to database 'default': timed out (the host did not answer in time)."
    )


# 3. Recovery -----------------------------------------------------------------------------------


async def test_a_stopped_database_fails_fast_and_recovers_on_the_next_call(postgres: Any, db: str) -> None:
    needs_own_server(postgres)
    settings = {"dsn": postgres.dsn(database=db), "allow_writes": True, "confirm": "never"}
    async with connect(connector, settings) as client:
        async with anyio.create_task_group() as group:  # fill the pool with idle connections
            for _ in range(5):
                group.start_soon(client.call_tool, "execute_sql", {"sql": "select pg_sleep(0.2)"})
        postgres.down()
        try:
            began = time.monotonic()
            down = await client.call_tool("execute_sql", {"sql": "select 1"})
            down_took = time.monotonic() - began
            down_write = await client.call_tool("execute_write", {"sql": "delete from reporting.daily"})
        finally:
            postgres.up()
        outcomes = []
        for _ in range(3):
            result = await client.call_tool("execute_sql", {"sql": "select 1 as up"})
            outcomes.append(result.is_error)
        write = await client.call_tool("execute_write", {"sql": "delete from reporting.daily"})
    print(f"database down reported in {down_took:.3f} s; after it returned: {outcomes}")
    assert down.is_error and "connection refused" in down.content[0].text
    assert down_write.is_error and "connection refused" in down_write.content[0].text
    assert down_took < 2.0
    assert outcomes == [False, False, False]  # no failed call once it is back
    assert not write.is_error, write.content[0].text


async def test_a_restart_costs_at_most_one_failed_call(postgres: Any, db: str) -> None:
    needs_own_server(postgres)
    settings = {"dsn": postgres.dsn(database=db), "allow_writes": True, "confirm": "never"}
    async with connect(connector, settings) as client:
        async with anyio.create_task_group() as group:  # five idle connections, in both pools
            for _ in range(5):
                group.start_soon(client.call_tool, "execute_sql", {"sql": "select pg_sleep(0.2)"})
                group.start_soon(client.call_tool, "execute_write", {"sql": "delete from reporting.daily"})
        postgres.restart()
        reads = [(await client.call_tool("execute_sql", {"sql": "select 1"})).is_error for _ in range(3)]
        writes = [
            (await client.call_tool("execute_write", {"sql": "delete from reporting.daily"})).is_error for _ in range(3)
        ]
    assert reads.count(True) <= 1 and reads[1:] == [False, False]
    assert writes.count(True) <= 1 and writes[1:] == [False, False]


# 4. EXPLAIN ANALYZE runs the query once ----------------------------------------------------


async def test_explain_analyze_runs_the_query_once(postgres: Any, db: str) -> None:
    # pg_stat_statements counts each EXPLAIN (ANALYZE ...) statement: each one runs the query once
    marker = "explain-once-marker"
    sql = f"select count(*) from customers where name <> '{marker}'"
    async with connect(connector, {"dsn": postgres.dsn(database=db)}) as client:
        result = await client.call_tool("explain_query", {"sql": sql, "analyze": True})
    assert not result.is_error, result.content[0].text
    rows = postgres.execute(
        "select coalesce(sum(calls), 0) from pg_stat_statements s join pg_database d on d.oid = s.dbid "
        "where d.datname = %s and s.query like %s and s.query ilike 'explain (analyze%%'",
        (db, f"%{marker}%"),
    )
    assert rows[0][0] == 1
    data = result.structured_content
    assert data is not None and data["analyzed"] is True
    assert "actual time=" in data["text"] and "Aggregate" in data["text"]
    assert data["plan"][0]["Plan"]["Actual Loops"] == 1


# 5. The table_schema resource ----------------------------------------------------------------


async def test_table_schema_of_an_unreachable_database_is_a_resource_error(era: str) -> None:
    async with connect(connector, {"dsn": refusing_dsn()}, era=era) as client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource("postgres://default/public/customers/schema")
    assert raised.value.error.message == (
        "Could not connect to database 'default': connection refused (is the server running, and accepting "
        "TCP/IP connections on that host and port?)."
    )
    assert "incident" not in raised.value.error.message


# Unencodable arguments (the base's argument handling; fixed there by the filesystem work) ----------


def _stdio_answer(dsn: str, arguments_json: str, timeout: float = 10.0) -> dict[str, Any] | None:
    """The answer to one raw `tools/call` line over stdio (JSON written by hand), None if none came."""
    import json
    import os
    import selectors
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHBAY_POSTGRES_")}
    env["PATCHBAY_POSTGRES_DSN"] = dsn
    lines = [
        '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
        '"capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}',
        '{"jsonrpc":"2.0","method":"notifications/initialized"}',
        '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"execute_sql","arguments":'
        + arguments_json
        + "}}",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "patchbay_postgres"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(("\n".join(lines) + "\n").encode())
        proc.stdin.flush()
        # Raw reads split here: a buffered readline can hold a second answer the selector
        # no longer sees (both answers often come in one read).
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        pending = b""
        while time.monotonic() < deadline:
            if not selector.select(deadline - time.monotonic()):
                break
            chunk = os.read(proc.stdout.fileno(), 1 << 16)
            if not chunk:
                break
            *lines_read, pending = (pending + chunk).split(b"\n")
            for line in lines_read:
                message = json.loads(line)
                if message.get("id") == 2:
                    return dict(message)
        return None
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        pytest.param('{"sql":"select \'x\\ud800y\'"}', "sql", id="lone-surrogate"),
        pytest.param('{"sql":"select 1","database":"a\\u0000b"}', "database", id="nul"),
        pytest.param('{"sql":"select 1","database":"' + "d" * 100_000 + '"}', "database", id="100k"),
    ],
)
def test_unencodable_arguments_are_invalid_argument_errors(postgres: Any, arguments: str, argument: str) -> None:
    answer = _stdio_answer(postgres.dsn(), arguments)
    assert answer is not None, "no answer over stdio"
    result = answer.get("result", {})
    assert result.get("isError") is True
    text = result["content"][0]["text"]
    assert text.startswith(f"Invalid argument '{argument}'")
    assert "incident" not in text
