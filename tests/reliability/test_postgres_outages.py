"""PostgreSQL outages under load: a restart mid-load loses no call; killed clients leave no backend.

Restart. CLIENTS SDK clients call `execute_sql` back to back for RESTART_SECONDS while the test
restarts PostgreSQL (`pg_ctl stop -m fast` + start: every backend is terminated, connections are
refused for a moment) 1 s in (in soak, every 5 s). A call that fails must fail with the clear
"database down" error (`Could not connect to database 'default': <why>.`, or a connection-lost
error that says so); the client then waits until the restart is over and retries it once.

A call is *lost* when it
  - got no answer within CALL_TIMEOUT (or the client raised), or
  - got an error without a reason (empty, the bare "Error executing tool X") or an internal
    error ("Internal error (incident ...)") or any error that is not the database-down one, or
  - failed with the database-down error and its one retry, made after the restart, failed too.
Zero calls may be lost.

Kills. KILLED clients each POST `select pg_sleep(20)` over a raw TCP connection and, 1.5 s later,
close it without a word (a killed process). While they run, the connector's backends (role
`rel_reader` in pg_stat_activity) never exceed POOL_SIZE; within 3 s of the kill none of them
is active any more (the sleeps run through a server-side cursor, so pg_stat_activity shows
`FETCH FORWARD ...`: the check counts active backends), and the connector answers a query at
once afterwards.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from typing import Any

import anyio
import anyio.to_thread
import pytest
from mcp import Client
from reliability_kit import CALL_TIMEOUT, CLIENTS, POOL_SIZE, RESTART_SECONDS, SOAK, call_body, healthy

from patchbay.testing import RunningServer

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.reliability]

DATABASE_DOWN = re.compile(r"^Could not connect to database '[^']+': \S.*\.$|connection (?:to .+ )?(?:was )?lost", re.I)
KILLED = 8
KILL_BOUND = 3.0


def _text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def test_a_restart_mid_load_loses_no_call(postgres: Any, pg_server: RunningServer) -> None:
    if not hasattr(postgres, "down"):
        pytest.skip("needs a PostgreSQL the suite started itself (restarted by the test)")
    restarting = threading.Event()
    restarted = anyio.Event()
    restarts = 0
    outcomes = {"ok": 0, "down then retried ok": 0}
    lost: list[str] = []
    down_texts: set[str] = set()
    stop_at = time.monotonic() + RESTART_SECONDS

    async def restarter() -> None:
        nonlocal restarted, restarts
        await anyio.sleep(1.0)
        while True:
            restarting.set()
            await anyio.to_thread.run_sync(postgres.restart)
            restarts += 1
            restarting.clear()
            restarted.set()
            if not SOAK or time.monotonic() + 5 > stop_at:
                return
            await anyio.sleep(5.0)
            restarted = anyio.Event()

    async def call(client: Client, sql: str) -> tuple[bool, str]:
        """(answered ok, why not)."""
        try:
            with anyio.fail_after(CALL_TIMEOUT):
                result = await client.call_tool("execute_sql", {"sql": sql})
        except Exception as exc:
            return False, f"no answer: {type(exc).__name__}: {exc}"
        if result.is_error:
            return False, _text(result)
        return True, ""

    async def worker(index: int) -> None:
        async with Client(pg_server.url, mode="legacy") as client:
            number = 0
            while time.monotonic() < stop_at:
                number += 1
                sql = f"select {index} * 1000 + {number} as n, count(*) from orders /* w{index} */"
                ok, why = await call(client, sql)
                if ok:
                    outcomes["ok"] += 1
                    continue
                if not DATABASE_DOWN.search(why):
                    lost.append(f"worker {index} call {number}: {why[:300]!r}")
                    continue
                down_texts.add(why)
                with anyio.move_on_after(60):
                    await restarted.wait()
                ok, again = await call(client, sql)
                if ok:
                    outcomes["down then retried ok"] += 1
                else:
                    lost.append(f"worker {index} call {number}: down ({why!r}), then the retry: {again[:300]!r}")

    async with anyio.create_task_group() as group:
        group.start_soon(restarter)
        for index in range(CLIENTS):
            group.start_soon(worker, index)
    print(f"{restarts} restart(s) under {CLIENTS} clients: {outcomes}, lost {len(lost)}; errors seen: {down_texts}")
    assert restarts >= 1
    assert not lost, f"{len(lost)} lost calls: {lost[:5]}"
    assert outcomes["ok"] > CLIENTS, "too few calls to show anything"
    assert pg_server.process.poll() is None and healthy(pg_server.base_url)


def connector_backends(postgres: Any, db: str, *, active: bool = False) -> int:
    """Backends of `rel_reader` on `db` (only those running a statement, if `active`).

    The connector reads through a server-side cursor, so a running sleep shows in
    pg_stat_activity as `FETCH FORWARD ...`, not as its text: count active backends."""
    query = "select count(*) from pg_stat_activity where datname = %s and usename = 'rel_reader'"
    if active:
        query += " and state = 'active'"
    return int(postgres.execute(query, (db,))[0][0])


def start_call(port: int, body: str) -> socket.socket:
    """Open a TCP connection and send a tools/call as an HTTP POST; leave the answer unread."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    data = body.encode()
    sock.sendall(
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\nContent-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    return sock


async def test_killed_clients_leave_no_backend_behind(postgres: Any, pg_db: str, pg_server: RunningServer) -> None:
    marker = f"pg_sleep(20) /* killed-{time.monotonic_ns()} */"
    port = int(pg_server.base_url.rsplit(":", 1)[1])
    most = 0
    sampling = True

    def sample() -> None:
        nonlocal most
        while sampling:
            most = max(most, connector_backends(postgres, pg_db))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        sockets = [start_call(port, call_body("execute_sql", {"sql": f"select {marker}"}, n)) for n in range(KILLED)]
        await anyio.sleep(1.5)
        running = connector_backends(postgres, pg_db, active=True)
        for sock in sockets:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
            sock.close()
        killed_at = time.monotonic()
        left = running
        while left and time.monotonic() - killed_at < KILL_BOUND + 5:
            await anyio.sleep(0.05)
            left = connector_backends(postgres, pg_db, active=True)
        gone_after = time.monotonic() - killed_at
        async with Client(pg_server.url, mode="legacy") as client:
            with anyio.fail_after(5):
                after = await client.call_tool("execute_sql", {"sql": "select 41 + 1"})
    finally:
        sampling = False
        sampler.join(5)
    print(
        f"{KILLED} clients killed mid pg_sleep: {running} were running, at most {most} connector backends "
        f"(pool {POOL_SIZE}), none left after {gone_after:.2f} s"
    )
    assert running >= 1, "no sleep was running: the kill proves nothing"
    assert left == 0, f"{left} sleeps still running {gone_after:.1f} s after their clients were killed"
    assert gone_after <= KILL_BOUND
    assert most <= POOL_SIZE, f"{most} backends for a pool of {POOL_SIZE}"
    assert not after.is_error, _text(after)
    assert pg_server.process.poll() is None and healthy(pg_server.base_url)
