"""Connections: several databases, reconnecting, roles, and passwords that never leak."""

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from dbs import fresh_database
from patchbay.testing import connect, stdio_server
from patchbay_postgres.server import connector
from patchbay_postgres.settings import PostgresSettings

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def db(postgres: Any) -> Iterator[str]:
    with fresh_database(postgres, "conn") as name:
        yield name


async def test_every_tool_takes_a_database_name(postgres: Any, db: str, era: str) -> None:
    settings = {"databases": {"shop": postgres.dsn(database=db), "main": postgres.dsn()}}
    async with connect(connector, settings, era=era) as client:
        shop = await client.call_tool("execute_sql", {"sql": "select current_database()", "database": "shop"})
        main = await client.call_tool("execute_sql", {"sql": "select current_database()", "database": "main"})
        default = await client.call_tool("execute_sql", {"sql": "select current_database()"})
        unknown = await client.call_tool("execute_sql", {"sql": "select 1", "database": "nope"})
    assert shop.structured_content is not None and main.structured_content is not None
    assert shop.structured_content["rows"] == [[db]]
    assert main.structured_content["rows"] == [["app"]]
    assert default.structured_content == shop.structured_content  # the first configured
    assert unknown.is_error
    assert "no database named 'nope'; configured: shop, main" in unknown.content[0].text


async def test_a_restarted_server_is_reconnected_transparently(postgres: Any, era: str) -> None:
    if not hasattr(postgres, "pid"):
        pytest.skip("PATCHBAY_TEST_POSTGRES_DSN points at a server the suite did not start")
    async with connect(connector, {"dsn": postgres.dsn()}, era=era) as client:
        first = await client.call_tool("execute_sql", {"sql": "select pg_backend_pid()"})
        postgres.restart()
        second = await client.call_tool("execute_sql", {"sql": "select pg_backend_pid()"})
    assert not first.is_error
    assert not second.is_error, second.content[0].text
    assert second.structured_content != first.structured_content  # a new connection


async def call_into(client: Any, results: list[Any], sql: str) -> None:
    results.append(await client.call_tool("execute_sql", {"sql": sql}))


async def test_reconnecting_follows_the_shared_retry_policy(postgres: Any) -> None:
    if not hasattr(postgres, "pid"):
        pytest.skip("PATCHBAY_TEST_POSTGRES_DSN points at a server the suite did not start")
    # retry_attempts=1: never retried, so the read on the pooled connection the restart killed fails
    async with connect(connector, {"dsn": postgres.dsn(), "retry_attempts": 1}) as client:
        firsts: list[Any] = []
        async with anyio.create_task_group() as group:  # two at once: two connections in the pool
            for _ in range(2):
                group.start_soon(lambda: call_into(client, firsts, "select pg_sleep(0.2)"))
        postgres.restart()
        lost = await client.call_tool("execute_sql", {"sql": "select 1"})
        again = await client.call_tool("execute_sql", {"sql": "select 1"})  # every dead connection was dropped
    assert [first.is_error for first in firsts] == [False, False]
    assert lost.is_error
    assert lost.content[0].text == (
        "Could not reach the database; check that it is running and reachable, then try again."
    )
    assert not again.is_error, again.content[0].text


async def test_a_write_after_a_restart_gets_a_fresh_connection(postgres: Any, db: str) -> None:
    if not hasattr(postgres, "pid"):
        pytest.skip("PATCHBAY_TEST_POSTGRES_DSN points at a server the suite did not start")
    settings = {"dsn": postgres.dsn(database=db), "allow_writes": True, "confirm": "never"}
    async with connect(connector, settings) as client:
        await client.call_tool("execute_write", {"sql": "insert into reporting.daily values ('2026-05-01', 1)"})
        postgres.restart()
        after = await client.call_tool("execute_write", {"sql": "delete from reporting.daily"})
    assert not after.is_error, after.content[0].text
    assert after.structured_content is not None
    assert after.structured_content["result"]["rows_affected"] == 1


async def test_a_superuser_role_is_warned_about(postgres: Any, caplog: pytest.LogCaptureFixture) -> None:
    async with connect(connector, {"dsn": postgres.dsn()}) as client:
        await client.call_tool("list_databases", {})
    assert "role 'patchbay' is a superuser" in caplog.text
    assert "dedicated read-only role" in caplog.text


async def test_serving_does_not_wait_for_the_role_check(caplog: pytest.LogCaptureFixture) -> None:
    """A database that accepts the connection and never answers: the check waits for it, the client does not."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        dsn = f"postgresql://nobody:pw@127.0.0.1:{silent.getsockname()[1]}/app"
        with anyio.fail_after(20):  # the check itself would wait 60 s (connect_timeout_seconds)
            async with connect(connector, {"dsn": dsn, "connect_timeout_seconds": 60}) as client:
                listed = await client.call_tool("list_databases", {})
                checking = "not reachable" not in caplog.text
    assert not listed.is_error and checking
    assert "not reachable" not in caplog.text  # shutting down gave up on the check after a second


async def test_a_plain_role_is_not_warned_about(postgres: Any, caplog: pytest.LogCaptureFixture) -> None:
    dsn = postgres.create_role("reader_plain", "reader-plain-pw")
    async with connect(connector, {"dsn": dsn}) as client:
        await client.call_tool("list_databases", {})
    assert "superuser" not in caplog.text


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PATCHBAY_POSTGRES_")}
    return subprocess.run(
        [sys.executable, "-m", "patchbay_postgres", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**clean, **env},
        stdin=subprocess.DEVNULL,
    )


def test_require_non_superuser_refuses_to_start(postgres: Any) -> None:
    result = run_cli("--require-non-superuser", env={"PATCHBAY_POSTGRES_DSN": postgres.dsn()})
    assert result.returncode == 2
    assert "role 'patchbay' is a superuser" in result.stderr
    assert "Refusing to start (--require-non-superuser)" in result.stderr
    assert postgres.password not in result.stderr
    assert "Traceback" not in result.stderr


def test_without_a_database_it_says_what_to_set() -> None:
    result = run_cli(env={})
    assert result.returncode == 2
    assert "no database given: set PATCHBAY_POSTGRES_DSN" in result.stderr


def test_database_flags_and_environment_are_combined(postgres: Any) -> None:
    settings = PostgresSettings.load(
        {"databases": [f"shop={postgres.dsn()}", f"main={postgres.dsn()}"], "dsn": postgres.dsn()}
    )
    assert list(settings.databases) == ["default", "shop", "main"]
    with pytest.raises(Exception, match="use NAME=DSN"):
        PostgresSettings.load({"databases": ["no-equals-sign"]})


async def test_passwords_never_appear_anywhere(
    postgres: Any, tmp_path: Path, era: str, capsys: pytest.CaptureFixture[str]
) -> None:
    audit = tmp_path / "audit.jsonl"
    bad = postgres.dsn(password="wrong-" + postgres.password)
    settings = {
        "databases": {"good": postgres.dsn(), "bad": bad},
        "audit_log": str(audit),
        "log_level": "DEBUG",
        "connect_timeout_seconds": 1,
    }
    seen: list[str] = []
    async with connect(connector, settings, era=era) as client:
        for tool, args in [
            ("list_databases", {}),
            ("execute_sql", {"sql": "select current_setting('application_name')", "database": "good"}),
            ("execute_sql", {"sql": "select 1", "database": "bad"}),
            ("execute_sql", {"sql": f"select '{postgres.password}' as echoed", "database": "good"}),
            ("execute_sql", {"sql": "select * from pg_stat_activity", "database": "good"}),
        ]:
            seen.append((await client.call_tool(tool, args)).model_dump_json())
        seen.append((await client.list_resources()).model_dump_json())
    captured = capsys.readouterr()
    everything = "\n".join([*seen, audit.read_text(), captured.out, captured.err])
    assert "password authentication failed" in captured.err  # the operator learns why
    assert postgres.password not in everything
    assert "wrong-" not in everything
    assert "Could not connect to database 'bad': authentication failed (check the user name and password" in seen[2]


async def test_over_stdio_with_a_dsn_from_the_environment(postgres: Any, db: str) -> None:
    params = stdio_server(
        [sys.executable, "-m", "patchbay_postgres"], env={"PATCHBAY_POSTGRES_DSN": postgres.dsn(database=db)}
    )
    async with Client(params) as client:
        result = await client.call_tool("execute_sql", {"sql": "select count(*) from customers"})
    assert result.structured_content is not None
    assert result.structured_content["rows"] == [[50]]
    assert result.content[0].text == "count\n50\n(1 row)"  # what the model reads: tab-separated rows
