"""Self-test of the `postgres` fixture: a real server, pg_stat_statements, roles, restart, cleanup."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from pgserver import ExternalPostgres, PostgresServer, find_bin_dir

pytestmark = pytest.mark.integration


def test_select_one(postgres: PostgresServer | ExternalPostgres) -> None:
    assert postgres.execute("select 1") == [(1,)]
    with psycopg.connect(postgres.dsn()) as conn:
        assert conn.execute("select current_user, current_database()").fetchone() == (
            postgres.superuser,
            postgres.database,
        )


def test_pg_stat_statements_is_loaded(postgres: PostgresServer | ExternalPostgres) -> None:
    assert "pg_stat_statements" in postgres.execute("show shared_preload_libraries")[0][0]
    # (Not `select 1 as marker`: an alias is not part of the normalised query, so it would share `select 1`'s entry.)
    postgres.execute("select count(*) from pg_namespace where nspname = 'pgserver-marker'")
    (count,) = postgres.execute("select count(*) from pg_stat_statements")[0]
    assert count >= 1
    rows = postgres.execute("select query from pg_stat_statements where query like %s", ("%from pg_namespace where%",))
    assert rows == [("select count(*) from pg_namespace where nspname = $1",)]


def test_password_auth_over_tcp(postgres: PostgresServer | ExternalPostgres) -> None:
    if isinstance(postgres, PostgresServer):
        assert postgres.dsn().startswith(f"postgresql://patchbay:{postgres.password}@127.0.0.1:{postgres.port}/app")
        assert postgres.password.startswith("canary-pw-")
        assert postgres.password not in repr(postgres)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres.dsn(password="wrong"), connect_timeout=5).close()


def test_create_role(postgres: PostgresServer | ExternalPostgres) -> None:
    dsn = postgres.create_role("pgserver_reader", "reader-canary-pw")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select current_user").fetchone() == ("pgserver_reader",)
    assert postgres.execute("select rolsuper, rolbypassrls from pg_roles where rolname = 'pgserver_reader'") == [
        (False, False)
    ]
    postgres.create_role("pgserver_reader", "reader-canary-pw-2", superuser=True, bypassrls=True)  # again: altered
    assert postgres.execute("select rolsuper, rolbypassrls from pg_roles where rolname = 'pgserver_reader'") == [
        (True, True)
    ]
    with psycopg.connect(postgres.dsn(user="pgserver_reader", password="reader-canary-pw-2")) as conn:
        conn.execute("select 1")
    # The clear-text password reached no server view.
    leaked = postgres.execute("select count(*) from pg_stat_statements where query like '%reader-canary%'")
    assert leaked == [(0,)]
    postgres.execute("drop role pgserver_reader")


def test_restart_keeps_port_and_data(postgres: PostgresServer | ExternalPostgres) -> None:
    postgres.execute("create table if not exists survives_restart (id int); insert into survives_restart values (1)")
    port = postgres.port
    before = postgres.execute("select pg_postmaster_start_time()")[0][0]
    conn = psycopg.connect(postgres.dsn(), autocommit=True)
    try:
        postgres.restart()
        assert postgres.port == port
        assert postgres.execute("select pg_postmaster_start_time()")[0][0] > before
        assert postgres.execute("select count(*) from survives_restart")[0][0] >= 1
        with pytest.raises(psycopg.OperationalError):  # a connection from before the restart is dead
            conn.execute("select 1")
    finally:
        conn.close()
        postgres.execute("drop table survives_restart")


def test_listens_on_loopback_only(postgres: PostgresServer | ExternalPostgres) -> None:
    if not isinstance(postgres, PostgresServer):
        pytest.skip("settings of a server the suite did not start")
    assert postgres.execute("show listen_addresses") == [("127.0.0.1",)]
    assert postgres.execute("show port") == [(str(postgres.port),)]
    assert postgres.execute("show fsync") == [("off",)]


def _alive(pid: int) -> bool:
    """Running, and not a zombie (the postmaster is re-parented to init, which may reap it late)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _local_binaries() -> None:
    if find_bin_dir() is None:
        pytest.skip("no local PostgreSQL server binaries: run tools/ensure-postgres.sh")


def test_stop_removes_everything() -> None:
    _local_binaries()
    server = PostgresServer()
    pid, tmp = server.pid, server.tmp
    assert pid is not None
    server.stop()
    server.stop()  # twice is fine
    assert not tmp.exists()
    assert not _alive(pid)


def test_watchdog_stops_a_server_whose_test_process_died(tmp_path: Path) -> None:
    """A test run killed outright (SIGKILL, os._exit, CI time-out) leaves no server behind."""
    _local_binaries()
    script = tmp_path / "die.py"
    script.write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from pgserver import PostgresServer\n"
        "server = PostgresServer()\n"
        "print(server.pid, server.tmp, flush=True)\n"
        "os._exit(1)\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=os.environ)
    pid, tmp = out.stdout.split()
    deadline = time.monotonic() + 30
    while (_alive(int(pid)) or Path(tmp).exists()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(int(pid)), "server still running"
    assert not Path(tmp).exists(), "temp dir left behind"
