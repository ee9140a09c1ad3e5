"""The PostgreSQL connector against the archived reference Node server, on one database.

Compares `patchbay-postgres` (ours, `python -m patchbay_postgres`, `PATCHBAY_POSTGRES_DSN`)
with the reference MCP PostgreSQL server (npm `@modelcontextprotocol/server-postgres`,
archived upstream, pinned and installed by `tools/ensure-reference-postgres.sh`, run on the
system Node with the DSN as its argument) on the same throw-away PostgreSQL cluster
(`servers/postgres/tests/pgserver.py`), where three tables of the same shape are generated
once per run: 10,000, 100,000 and 1,000,000 rows (id, name, amount numeric, created_at
timestamptz, active boolean). Both are driven by the same Python client,
`mcp.Client(StdioServerParameters(...), mode="auto")`, over stdio:

1. Small queries, many calls: `select 1` and a primary-key lookup on the 1M table, reference
   and ours alternating in ABBA blocks, ours in both protocol eras (2026-07-28, which it picks,
   and the legacy 2025-11-25; the reference speaks 2024-11-05 only), `select 1` also with ours
   on the standard asyncio loop (PATCHBAY_EVENT_LOOP=asyncio; it serves on uvloop by default),
   and a floor row: a bare `MCPServer` echo (`bench/bare_echo.py`, on the standard loop as the
   SDK runs), the least any Python server costs per call here.
2. Large results, each server in a fresh process per table so that its peak memory (VmHWM
   in /proc/<pid>/status: the server process itself, found through a tiny `sh` launcher that
   writes its pid and then execs the server) belongs to that table alone:
   - ours: the first page at the default size (time to first page, median of 5), then the
     whole result paged at the ceiling (max_rows 10,000: 1, 10 and 100 pages), every id
     checked in order; memory after the first page, after the last page, and the peak. The
     proof asked for: peak memory must not grow with the table, so the 1M peak is compared
     with the 10k peak (PASS within 1.25x).
   - reference: its `query` tool answers with the whole result in one reply (pretty-printed
     JSON text). 10k and 100k through the SDK client; 1M first over a raw JSON-RPC pipe (no
     SDK client: the server's side alone, the reply line read in linear time), then through
     the SDK client with a time-out (default 120 s): the SDK's stdio reader re-joins and
     re-splits its buffer on every 64 KiB chunk, quadratic on one long line, so the client,
     not the server, decides whether a ~166 MiB reply arrives at all. At a time-out the report
     says how much of the reply the client had taken (the server's /proc/<pid>/io wchar).
   - ours over the same raw pipe too, paging the 1M result, for the server-side comparison.

Reply sizes are reported throughout (the results as the client got them, or raw line bytes).
Ratios are reference/ours. Always exits 0: a benchmark reports, it does not gate. About three
to four minutes, most of it the reference's 1M reply in the SDK client (--client-timeout);
the first run also installs the reference with npm (a few seconds).

    uv run --frozen python bench/postgres_vs_reference.py [--small-calls N] [--client-timeout S]
        [--reference-node PATH] [--no-reference] [--no-ours] [--no-raw] [--skip-client-1m]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import common
from common import (
    ROOT,
    RawPipe,
    Server,
    Timed,
    bare_echo_command,
    check_seconds,
    locate_ours,
    locate_reference,
    measure_tools,
    ms,
    print_header,
    print_list,
    print_server,
    print_tool_sizes,
    raw_result,
    reply_size,
    report_failure,
    run_benchmark,
    sample_ratio,
    size,
    text_of,
    time_abba,
    tool_signature,
    try_connect,
)

if TYPE_CHECKING:
    import mcp

ENSURE_REFERENCE = ROOT / "tools" / "ensure-reference-postgres.sh"
PGSERVER_DIR = ROOT / "servers" / "postgres" / "tests"  # pgserver.py: a throw-away PostgreSQL
SMALL_TARGET = 1.0  # small queries: no slower than the reference
FLAT_TARGET = 1.25  # ours: peak RSS paging 1M rows at most this times the peak paging 10k
SIZES = (10_000, 100_000, 1_000_000)
PAGE_CEILING = 10_000  # PATCHBAY_POSTGRES_MAX_ROWS_CEILING, set explicitly for ours
PAGE_DEFAULT = 500  # PATCHBAY_POSTGRES_MAX_ROWS
FIRST_PAGE_CALLS = 5
MAX_RESULT_BYTES = 4 << 20  # PATCHBAY_POSTGRES_MAX_RESULT_BYTES for ours
PK_ID = 424_242
COLUMNS = "id, name, amount, created_at, active"
SELECT_ONE = "select 1 as one"
PK_LOOKUP = f"select {COLUMNS} from rows_1m where id = {PK_ID}"
MODEL_QUERIES = (
    ("select 1", "select 1 as one"),
    ("primary-key lookup, 1M table", f"select {COLUMNS} from rows_1m where id = {PK_ID}"),
    ("500 rows of rows_10k", f"select {COLUMNS} from rows_10k order by id limit 500"),
)
"""Asked once of each server for the bytes of text the model sees (ours: one page of the default 500 rows)."""
LAUNCHER = 'echo $$ > "$0"; exec "$@"'  # sh -c LAUNCHER PIDFILE COMMAND...: the pid stays the server's


def table(rows: int) -> str:
    return {10_000: "rows_10k", 100_000: "rows_100k", 1_000_000: "rows_1m"}[rows]


def whole(rows: int) -> str:
    return f"select {COLUMNS} from {table(rows)} order by id"


def label(rows: int) -> str:
    return {10_000: "10k", 100_000: "100k", 1_000_000: "1M"}[rows]


# --------------------------------------------------------------------------------------
# The database


@dataclass
class Database:
    server: Any  # pgserver.PostgresServer
    version: str = "?"
    seconds: dict[str, float] = field(default_factory=dict)
    bytes: dict[int, int] = field(default_factory=dict)  # table size on disk


def start_database() -> Database:
    sys.path.insert(0, str(PGSERVER_DIR))
    from pgserver import PostgresServer  # type: ignore[import-not-found]

    started = time.perf_counter()
    server = PostgresServer()
    db = Database(server)
    db.seconds["start"] = time.perf_counter() - started
    try:
        db.version = server.execute("select version()")[0][0].split(" on ")[0]
        for rows in SIZES:
            began = time.perf_counter()
            server.execute(
                f"""create table {table(rows)} (
                        id bigint primary key, name text not null, amount numeric(12, 2) not null,
                        created_at timestamptz not null, active boolean not null);
                    insert into {table(rows)}
                    select g, 'customer-' || g, round(((g::bigint * 7919) % 100000) / 100.0, 2),
                           timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', g % 3 = 0
                    from generate_series(1, {rows}) g"""
            )
            server.execute(f"vacuum analyze {table(rows)}")  # not in the implicit transaction above
            db.seconds[label(rows)] = time.perf_counter() - began
            db.bytes[rows] = server.execute(f"select pg_total_relation_size('{table(rows)}')")[0][0]
    except BaseException:
        server.stop()
        raise
    return db


# --------------------------------------------------------------------------------------
# The servers


def find_reference(args: argparse.Namespace, dsn: str) -> Server:
    server = Server("reference", [])
    script = locate_reference(server, ENSURE_REFERENCE, args.reference_node)
    if script is None:
        return server
    server.command.append(dsn)  # the reference takes the DSN as its argument
    modules = script.parent.parent.parent.parent  # .../node_modules/@modelcontextprotocol/server-postgres/dist
    for dependency in ("pg", "@modelcontextprotocol/sdk"):
        try:
            version = json.loads((modules / dependency / "package.json").read_text())["version"]
            server.version += f", {dependency} {version}"
        except (OSError, ValueError, KeyError):
            pass
    return server


def find_ours(dsn: str, audit_log: Path) -> Server:
    # The audit log stays on (it is part of our cost), into a file rather than stderr.
    server = Server("ours", [sys.executable, "-m", "patchbay_postgres", "--audit-log", str(audit_log)])
    server.env = {
        "PATCHBAY_POSTGRES_DSN": dsn,
        "PATCHBAY_POSTGRES_MAX_ROWS": str(PAGE_DEFAULT),
        "PATCHBAY_POSTGRES_MAX_ROWS_CEILING": str(PAGE_CEILING),
        # a 10,000-row page (rows in structuredContent plus their tab-separated text) is about 1 MiB,
        # right at the default cap on one result; the benchmark pages whole tables at the ceiling
        "PATCHBAY_POSTGRES_MAX_RESULT_BYTES": str(MAX_RESULT_BYTES),
    }
    locate_ours(server, "patchbay_postgres", ["patchbay-postgres", "psycopg"])
    return server


class Spawned:
    """One server process behind an mcp.Client (or a raw pipe), with its pid for /proc."""

    def __init__(self, server: Server, tmp: Path) -> None:
        self.server = server
        handle, name = tempfile.mkstemp(prefix="pid-", dir=tmp)
        os.close(handle)
        self.pidfile = Path(name)
        self.argv = ["/bin/sh", "-c", LAUNCHER, str(self.pidfile), *server.command]

    @property
    def pid(self) -> int:
        deadline = time.monotonic() + 10
        while True:
            text = self.pidfile.read_text().strip()
            if text:
                return int(text)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.server.name}: the launcher wrote no pid")
            time.sleep(0.01)

    def params(self) -> mcp.StdioServerParameters:
        from mcp import StdioServerParameters

        return StdioServerParameters(command=self.argv[0], args=self.argv[1:], env=self.server.env or None)

    def status(self) -> dict[str, int]:
        """VmRSS, VmHWM, ... in bytes, read from /proc/<pid>/status; {} once the process is gone."""
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return {}
        found = re.findall(r"^(Vm\w+):\s+(\d+) kB", text, re.M)
        return {key: int(value) * 1024 for key, value in found}

    def written(self) -> int | None:
        """Bytes the process has written so far (/proc/<pid>/io wchar), pipes included."""
        try:
            match = re.search(r"^wchar:\s+(\d+)", Path(f"/proc/{self.pid}/io").read_text(), re.M)
        except OSError:
            return None
        return int(match.group(1)) if match else None

    def kill(self) -> None:
        """SIGKILL this server (and only it), by its pid."""
        with suppress(OSError, RuntimeError):
            os.kill(self.pid, 9)


async def connect(server: Server, tmp: Path, stack: AsyncExitStack, mode: str = "auto") -> tuple[mcp.Client, Spawned]:
    """A client for a fresh server process; raises if it cannot connect."""
    spawned = Spawned(server, tmp)
    return await common.connect(server, spawned.params(), stack, mode), spawned


# --------------------------------------------------------------------------------------
# Asking and reading replies


def ours_page(result: Any) -> dict[str, Any]:
    if result.is_error:
        raise RuntimeError(f"ours: error reply: {text_of(result)[:300]}")
    content = result.structured_content
    if not isinstance(content, dict) or "rows" not in content:
        raise RuntimeError(f"ours: no structured rows in {text_of(result)[:200]!r}")
    return content


def reference_rows(result: Any) -> list[dict[str, Any]]:
    if result.is_error:
        raise RuntimeError(f"reference: error reply: {text_of(result)[:300]}")
    rows = json.loads(text_of(result))
    if not isinstance(rows, list):
        raise RuntimeError(f"reference: not a list of rows: {text_of(result)[:200]!r}")
    return rows


def check_ids(ids: list[Any], first: int, who: str) -> None:
    """The rows must be ids first, first+1, ... in order (bigint comes back as text from node-pg)."""
    for offset, value in enumerate(ids):
        if int(value) != first + offset:
            raise RuntimeError(f"{who}: row {first + offset - 1} has id {value!r}, expected {first + offset}")


# --------------------------------------------------------------------------------------
# 1. Small queries, ABBA


@dataclass
class Small:
    label: str
    sql: str
    mode: str  # ours: mcp.Client mode, "asyncio" (ours with PATCHBAY_EVENT_LOOP=asyncio), or "bare" (the floor)
    reference: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)
    reference_bytes: int | None = None
    ours_bytes: int | None = None
    errors: list[str] = field(default_factory=list)

    def ratio(self, stat: Callable[[list[float]], float] = statistics.median) -> float | None:
        return sample_ratio(self.reference, self.ours, stat)


ECHO = {"text": "hello, patchbay"}


def check_small(sql: str, who: str, result: Any) -> None:
    if who == "bare":
        if result.structured_content != ECHO:
            raise RuntimeError(f"bare echo: unexpected reply {text_of(result)[:200]!r}")
        return
    if who == "ours":
        page = ours_page(result)
        got = [dict(zip([c["name"] for c in page["columns"]], row, strict=True)) for row in page["rows"]]
    else:
        got = reference_rows(result)
    if sql == SELECT_ONE:
        ok = got == [{"one": 1}]
    else:
        ok = len(got) == 1 and int(got[0]["id"]) == PK_ID and got[0]["name"] == f"customer-{PK_ID}"
    if not ok:
        raise RuntimeError(f"{who}: unexpected rows for {sql!r}: {str(got)[:200]}")


async def measure_small(m: Small, reference: Any, ours: Any, calls: int, block: int = 25) -> None:
    sides = [(who, client) for who, client in (("reference", reference), ("ours", ours)) if client is not None]
    if not sides:
        return
    tool = {"reference": ("query", {"sql": m.sql}), "ours": ("execute_sql", {"sql": m.sql})}
    if m.mode == "bare":
        tool["ours"] = ("echo", ECHO)
    timed: dict[str, Timed] = {}
    for who, client in sides:  # warm-up: also checked and sized
        name, arguments = tool[who]
        result = await client.call_tool(name, arguments)
        try:
            check_small(m.sql, "bare" if m.mode == "bare" and who == "ours" else who, result)
        except Exception as exc:
            m.errors.append(str(exc))
        if who == "reference":
            m.reference_bytes = reply_size(result)
        else:
            m.ours_bytes = reply_size(result)
        timed[who] = Timed(partial(client.call_tool, name, arguments), m.reference if who == "reference" else m.ours)
    await time_abba(timed.get("reference"), timed.get("ours"), max(1, calls // block), block)


# --------------------------------------------------------------------------------------
# 2. Large results, one fresh process each


@dataclass
class Large:
    who: str
    rows: int  # table size
    how: str  # "client" or "raw"
    outcome: str = "not run"
    rows_got: int = 0
    pages: int = 0
    seconds: float | None = None  # the whole result
    first_page: list[float] = field(default_factory=list)  # ours: first page at the default size
    page_seconds: list[float] = field(default_factory=list)  # ours: each page at the ceiling
    client_seconds: float | None = None  # ours, raw pipe: this client's parsing between pages
    bytes: int | None = None  # the whole result, all pages (raw: line bytes; client: re-serialized)
    page_bytes: int | None = None  # ours: one full page at the ceiling
    first_page_bytes: int | None = None  # ours: the first page at the default size
    check_seconds: float | None = None  # client-side output-schema check of one full page
    rss_idle: int | None = None  # after connecting and one small query
    rss_first: int | None = None  # after the first page(s)
    rss_last: int | None = None  # after the last page
    hwm: int | None = None  # peak RSS of the server process over its life
    written: int | None = None  # reference at a time-out: bytes of the reply the client had taken
    errors: list[str] = field(default_factory=list)


async def ours_large(server: Server, tmp: Path, rows: int) -> Large:
    m = Large("ours", rows, "client")
    sql = whole(rows)
    async with AsyncExitStack() as stack:
        client, spawned = await connect(server, tmp, stack)
        check_small(SELECT_ONE, "ours", await client.call_tool("execute_sql", {"sql": SELECT_ONE}))
        m.rss_idle = spawned.status().get("VmRSS")
        for _ in range(FIRST_PAGE_CALLS):  # time to first page, default page size
            started = time.perf_counter()
            result = await client.call_tool("execute_sql", {"sql": sql})
            m.first_page.append(time.perf_counter() - started)
        page = ours_page(result)
        check_ids([row[0] for row in page["rows"]], 1, "ours")
        if page["row_count"] != min(PAGE_DEFAULT, rows) or not page["truncated"]:
            m.errors.append(f"first page: {page['row_count']} rows, truncated={page['truncated']}")
        m.first_page_bytes = reply_size(result)
        cursor: str | None = None
        began = time.perf_counter()
        while True:  # the whole result at the ceiling
            arguments: dict[str, Any] = {"sql": sql, "max_rows": PAGE_CEILING}
            if cursor:
                arguments["cursor"] = cursor
            started = time.perf_counter()
            result = await client.call_tool("execute_sql", arguments)
            m.page_seconds.append(time.perf_counter() - started)
            page = ours_page(result)
            check_ids([row[0] for row in page["rows"]], m.rows_got + 1, "ours")
            m.rows_got += page["row_count"]
            m.pages += 1
            if m.pages == 1:  # sizing and the schema check outside the page timings
                sized = time.perf_counter()
                m.page_bytes = reply_size(result)
                m.check_seconds = await check_seconds(client, [("execute_sql", result)])
                m.rss_first = spawned.status().get("VmRSS")
                began += time.perf_counter() - sized
            cursor = page["next_cursor"]
            if not cursor:
                break
        # The server's side alone, like the reference's one reply (read, not parsed): the time
        # spent waiting for each page's line. Parsing a page for its cursor and checking its ids
        # is this client's work, done while the server waits for the next request.
        m.seconds = sum(m.page_seconds)
        m.client_seconds = time.perf_counter() - began - m.seconds
        status = spawned.status()
        m.rss_last, m.hwm = status.get("VmRSS"), status.get("VmHWM")
    m.bytes = (m.page_bytes or 0) * m.pages  # every page but the last is full: close enough, said so
    m.outcome = "ok" if m.rows_got == rows else f"{m.rows_got:,} rows of {rows:,}"
    return m


async def reference_large(server: Server, tmp: Path, rows: int, limit: float) -> Large:
    m = Large("reference", rows, "client")
    async with AsyncExitStack() as stack:
        client, spawned = await connect(server, tmp, stack)
        check_small(SELECT_ONE, "reference", await client.call_tool("query", {"sql": SELECT_ONE}))
        m.rss_idle = spawned.status().get("VmRSS")
        result = None
        started = time.perf_counter()
        with anyio.move_on_after(limit) as scope:
            result = await client.call_tool("query", {"sql": whole(rows)})
        elapsed = time.perf_counter() - started
        status = spawned.status()
        m.rss_last, m.hwm = status.get("VmRSS"), status.get("VmHWM")
        if scope.cancelled_caught or result is None:
            m.written = spawned.written()
            m.outcome = f"TIMED OUT after {elapsed:.0f} s (the SDK client was still reading the reply)"
            spawned.kill()  # else the client's reader keeps chewing on the line until the process ends
            return m
        m.seconds = elapsed
        got = reference_rows(result)
        m.rows_got, m.pages = len(got), 1
        check_ids([row["id"] for row in got], 1, "reference")
        m.bytes = reply_size(result)
        m.outcome = "ok" if m.rows_got == rows else f"{m.rows_got:,} rows of {rows:,}"
    return m


async def reference_raw(server: Server, tmp: Path, rows: int, limit: float) -> Large:
    m = Large("reference", rows, "raw")
    spawned = Spawned(server, tmp)
    async with RawPipe(spawned.argv, server.env) as pipe:
        raw_result(await pipe.call_tool("query", {"sql": SELECT_ONE}), "reference")
        m.rss_idle = spawned.status().get("VmRSS")
        line = b""
        started = time.perf_counter()
        with anyio.move_on_after(limit) as scope:
            line = await pipe.call_tool("query", {"sql": whole(rows)})
        elapsed = time.perf_counter() - started
        status = spawned.status()
        m.rss_last, m.hwm = status.get("VmRSS"), status.get("VmHWM")
        if scope.cancelled_caught:
            m.written = spawned.written()
            m.outcome = f"TIMED OUT after {elapsed:.0f} s"
            spawned.kill()
            return m
        m.seconds, m.bytes, m.pages = elapsed, len(line), 1
        got = json.loads(raw_result(line, "reference")["content"][0]["text"])
        m.rows_got = len(got)
        check_ids([row["id"] for row in got], 1, "reference")
        m.outcome = "ok" if m.rows_got == rows else f"{m.rows_got:,} rows of {rows:,}"
    return m


async def ours_raw(server: Server, tmp: Path, rows: int) -> Large:
    m = Large("ours", rows, "raw")
    spawned = Spawned(server, tmp)
    sql = whole(rows)
    async with RawPipe(spawned.argv, server.env) as pipe:
        raw_result(await pipe.call_tool("execute_sql", {"sql": SELECT_ONE}), "ours")
        m.rss_idle = spawned.status().get("VmRSS")
        cursor: str | None = None
        m.bytes = 0
        began = time.perf_counter()
        while True:
            arguments: dict[str, Any] = {"sql": sql, "max_rows": PAGE_CEILING}
            if cursor:
                arguments["cursor"] = cursor
            started = time.perf_counter()
            line = await pipe.call_tool("execute_sql", arguments)
            m.page_seconds.append(time.perf_counter() - started)
            page = raw_result(line, "ours")["structuredContent"]
            check_ids([row[0] for row in page["rows"]], m.rows_got + 1, "ours")
            m.rows_got += page["row_count"]
            m.pages += 1
            m.bytes += len(line)
            if m.pages == 1:
                m.page_bytes = len(line)
                m.rss_first = spawned.status().get("VmRSS")
            cursor = page["next_cursor"]
            if not cursor:
                break
        # The server's side alone, like the reference's one reply (read, not parsed): the time
        # spent waiting for each page's line. Parsing a page for its cursor and checking its ids
        # is this client's work, done while the server waits for the next request.
        m.seconds = sum(m.page_seconds)
        m.client_seconds = time.perf_counter() - began - m.seconds
        status = spawned.status()
        m.rss_last, m.hwm = status.get("VmRSS"), status.get("VmHWM")
    m.outcome = "ok" if m.rows_got == rows else f"{m.rows_got:,} rows of {rows:,}"
    return m


# --------------------------------------------------------------------------------------
# Report


def mib(n: int | None) -> str:
    return "-" if n is None else f"{n / (1 << 20):.0f}"


def secs(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.1f}x"


@dataclass
class ModelBytes:
    label: str
    reference: int | None = None
    ours: int | None = None
    error: str | None = None


async def measure_model_bytes(reference: Any, ours: Any) -> list[ModelBytes]:
    """Each of MODEL_QUERIES once on each server: bytes of the text blocks, what the model reads."""
    measured = []
    for label, sql in MODEL_QUERIES:
        m = ModelBytes(label)
        for who, client, tool in (("reference", reference, "query"), ("ours", ours, "execute_sql")):
            if client is None:
                continue
            result = await client.call_tool(tool, {"sql": sql})
            if result.is_error:
                m.error = f"{who}: {text_of(result)[:200]}"
                continue
            setattr(m, who, len(text_of(result).encode()))
        measured.append(m)
    return measured


def report_model_bytes(model: list[ModelBytes], servers: list[Server]) -> None:
    if model:
        print()
        print("What the model sees: bytes of the text blocks (structuredContent aside); goal: ours at most the")
        print("reference's for the same rows (the reference: JSON.stringify(rows, null, 2); ours: tab-separated).")
        header = f"{'query':<34}{'ours':>10}{'reference':>11}{'goal':>10}{'ours/ref':>10}  verdict"
        print_header(header)
        for m in model:
            share = f"{m.ours / m.reference:.2f}" if m.ours is not None and m.reference else "-"
            met = "-" if m.ours is None or m.reference is None else ("PASS" if m.ours <= m.reference else "MISS")
            print(
                f"{m.label:<34}{'-' if m.ours is None else f'{m.ours:,}':>10}"
                f"{'-' if m.reference is None else f'{m.reference:,}':>11}"
                f"{'-' if m.reference is None else f'{m.reference:,}':>10}{share:>10}  {met}"
                + (f"  ({m.error})" if m.error else "")
            )
    print_tool_sizes(servers[:2])


def report(
    db: Database,
    servers: list[Server],
    small: list[Small],
    large: list[Large],
    args: argparse.Namespace,
    model: list[ModelBytes] | None = None,
) -> None:
    print()
    tables = ", ".join(f"{table(r)} {r:,} rows ({size(db.bytes.get(r))})" for r in SIZES)
    made = ", ".join(f"{k} {v:.1f} s" for k, v in db.seconds.items())
    print(f"Database: {db.version}, throw-away cluster (servers/postgres/tests/pgserver.py), superuser DSN")
    print(f"Tables:   {tables}; timings: {made}")
    print(f"Rows:     ({COLUMNS}) = (bigint pk, text, numeric(12,2), timestamptz, boolean)")
    for s in servers:
        if not print_server(s):
            continue
        tools = ", ".join(tool_signature(tool) for tool in s.tools)
        if s.name == "ours":
            tools = next((t for t in tools.split("), ") if t.startswith("execute_sql")), tools) + ") ..."
        print(f"{'':<10} tools: {tools}")
    ours = next((s for s in servers if s.name == "ours"), None)
    if ours and not ours.error:
        print(f"{'':<10} env: PATCHBAY_POSTGRES_MAX_ROWS={PAGE_DEFAULT}, ..._MAX_ROWS_CEILING={PAGE_CEILING}")

    if small:
        print()
        print(f"1. Small queries: round trip through mcp.Client over stdio, milliseconds, {args.small_calls} calls")
        print("   per server, ABBA blocks of 25 after one warm-up call each; speedup = reference/ours.")
        header = (
            f"{'query':<34}{'ours era':>11}{'ref med':>9}{'ref min':>9}{'ours med':>10}{'ours min':>10}"
            f"{'speedup':>9}{'on min':>8}{'ref reply':>11}{'ours reply':>11}  target"
        )
        print_header(header)
        for sm in small:
            era = ours.other_eras.get(sm.mode, "?") if ours and sm.mode == "legacy" else (ours.era if ours else "?")
            speedup, on_min = sm.ratio(), sm.ratio(min)
            if sm.mode == "bare":
                verdict = "(floor: no target)"
            elif speedup is None:
                verdict = "n/a"
            else:
                verdict = f">={SMALL_TARGET:.0f}x " + ("PASS" if speedup >= SMALL_TARGET else "MISS")
            print(
                f"{sm.label:<34}{era:>11}{ms(sm.reference):>9}{ms(sm.reference, min):>9}{ms(sm.ours):>10}"
                f"{ms(sm.ours, min):>10}{(f'{speedup:.2f}x' if speedup else '-'):>9}"
                f"{(f'{on_min:.2f}x' if on_min else '-'):>8}{size(sm.reference_bytes):>11}{size(sm.ours_bytes):>11}"
                f"  {verdict}"
            )

    mine = {m.rows: m for m in large if m.who == "ours" and m.how == "client"}
    if mine:
        print()
        print("2. Ours, large results through mcp.Client, a fresh server process per table. 'first page': the")
        print(f"   default page ({PAGE_DEFAULT} rows), median of {FIRST_PAGE_CALLS}; 'whole result': every page at the")
        print(f"   ceiling ({PAGE_CEILING:,} rows), ids checked in order. Memory of the server process, MiB:")
        print("   RSS idle (after one small query), after the first full page, after the last, and the peak (VmHWM).")
        header = (
            f"{'table':<8}{'first page ms':>14}{'pages':>7}{'whole s':>9}{'page ms 1st':>12}{'med':>8}{'last':>8}"
            f"{'page reply':>12}{'all replies':>13}{'idle':>7}{'1st pg':>8}{'last pg':>8}{'PEAK':>7}  outcome"
        )
        print_header(header)
        for rows in SIZES:
            m = mine.get(rows)
            if m is None:
                continue
            print(
                f"{label(rows):<8}{ms(m.first_page):>14}{m.pages:>7}{secs(m.seconds):>9}"
                f"{ms(m.page_seconds[:1]):>12}{ms(m.page_seconds, digits=0):>8}{ms(m.page_seconds[-1:], digits=0):>8}"
                f"{size(m.page_bytes):>12}{size(m.bytes):>13}{mib(m.rss_idle):>7}"
                f"{mib(m.rss_first):>8}{mib(m.rss_last):>8}{mib(m.hwm):>7}  {m.outcome}"
            )
        small_peak, big_peak = mine.get(SIZES[0]), mine.get(SIZES[-1])
        if small_peak and big_peak and small_peak.hwm and big_peak.hwm:
            growth = big_peak.hwm / small_peak.hwm
            verdict = "PASS: flat" if growth <= FLAT_TARGET else "MISS: it grows with the table"
            print(
                f"   Peak memory, 1M-row table vs 10k-row table: {mib(big_peak.hwm)} / {mib(small_peak.hwm)} MiB = "
                f"{growth:.2f}x for {SIZES[-1] // SIZES[0]}x the rows (target <= {FLAT_TARGET}x): {verdict}"
            )
            middle = mine.get(SIZES[1])
            if middle and middle.hwm:
                print(
                    f"   and 1M vs 100k (100 vs 10 full pages): {mib(big_peak.hwm)} / {mib(middle.hwm)} MiB = "
                    f"{big_peak.hwm / middle.hwm:.2f}x for {SIZES[-1] // SIZES[1]}x the rows"
                )
        first = mine.get(SIZES[0])
        if first and first.first_page_bytes:
            print(
                f"   Reply sizes: a {PAGE_DEFAULT}-row page {size(first.first_page_bytes)}, a {PAGE_CEILING:,}-row "
                f"page {size(first.page_bytes)} (rows twice: structuredContent + tab-separated text); the client's"
            )
            print(
                f"   output-schema check costs {secs((first.check_seconds or 0) * 1e3)} ms on a {PAGE_CEILING:,}-row "
                "page (inside the page times). 'all replies' = pages x one full page."
            )

    theirs = [m for m in large if m.who == "reference"]
    if theirs:
        print()
        print("3. Reference, the whole result in one reply (its only way). 'client': mcp.Client, as above;")
        print("   'raw': a raw JSON-RPC pipe (no SDK client; the reply line read in linear time): the server alone.")
        print("   Memory of the server process (node), MiB.")
        header = (
            f"{'table':<8}{'via':<8}{'seconds':>9}{'reply':>11}{'rows':>11}{'idle':>7}{'end':>7}{'PEAK':>7}  outcome"
        )
        print_header(header)
        for m in theirs:
            outcome = m.outcome
            if m.written is not None and m.outcome.startswith("TIMED OUT"):
                outcome += f"; the server had written {size(m.written)} to the pipe"
                whole_line = next((r.bytes for r in theirs if r.rows == m.rows and r.how == "raw" and r.bytes), None)
                if whole_line:
                    outcome += f" of a {size(whole_line)} reply"
            print(
                f"{label(m.rows):<8}{m.how:<8}{secs(m.seconds):>9}{size(m.bytes):>11}"
                f"{(f'{m.rows_got:,}' if m.pages else '-'):>11}"
                f"{mib(m.rss_idle):>7}{mib(m.rss_last):>7}{mib(m.hwm):>7}  {outcome}"
            )

    if mine and theirs:
        print()
        print("4. Ratios, reference/ours (>1: ours faster or smaller). Ours pages; the reference answers at once.")
        print("   A reference run that timed out counts at its time limit: its ratio is then a lower bound (>=).")
        header = f"{'table':<8}{'comparison':<62}{'ref':>12}{'ours':>12}{'ratio':>11}"
        print_header(header)

        def row(rows: int, what: str, ref: Large, ref_value: float | None, our: float | None, unit: str) -> None:
            bound = ref.seconds is None and unit == "s" and ref_value is not None
            shown = secs if unit == "s" else lambda v: mib(None if v is None else int(v))
            print(
                f"{label(rows):<8}{what:<62}{('>=' if bound else '') + shown(ref_value) + ' ' + unit:>12}"
                f"{shown(our) + ' ' + unit:>12}{('>=' if bound else '') + ratio(ref_value, our):>11}"
            )

        raw_ours = {m.rows: m for m in large if m.who == "ours" and m.how == "raw"}
        for rows in SIZES:
            our = mine.get(rows)
            if our is None:
                continue
            first_rows = statistics.median(our.first_page) if our.first_page else None
            measured = [m for m in theirs if m.rows == rows and (m.seconds is not None or "TIMED" in m.outcome)]
            measured.sort(key=lambda m: m.how != "client")  # client runs first, then the raw pipe
            for ref in measured:
                limit = args.client_timeout if ref.how == "client" else 300
                took = ref.seconds if ref.seconds is not None else limit
                if ref.how == "client":
                    row(
                        rows, "whole result via mcp.Client (ref one reply, ours all pages)", ref, took, our.seconds, "s"
                    )
                    row(
                        rows, "first rows via mcp.Client (ref whole reply, ours first page)", ref, took, first_rows, "s"
                    )
                    row(rows, "peak RSS of the server process (client runs)", ref, ref.hwm, our.hwm, "MiB")
                else:
                    raw = raw_ours.get(rows)
                    if raw is not None:
                        row(rows, "whole result, raw pipe (ref one reply, ours all pages)", ref, took, raw.seconds, "s")
                    row(rows, "first rows (ref raw pipe, ours first page via mcp.Client)", ref, took, first_rows, "s")
                    row(rows, "peak RSS of the server process (raw-pipe runs)", ref, ref.hwm,
                        raw.hwm if raw is not None else our.hwm, "MiB")  # fmt: skip
        for rows, raw in raw_ours.items():
            print(
                f"   ours over the raw pipe, {label(rows)}: {raw.pages} pages in {secs(raw.seconds)} s (page "
                f"{ms(raw.page_seconds[:1], digits=0)} ms first, {ms(raw.page_seconds, digits=0)} median, "
                f"{ms(raw.page_seconds[-1:], digits=0)} last), {size(raw.bytes)} of reply lines "
                f"({size(raw.page_bytes)} a page), peak {mib(raw.hwm)} MiB: {raw.outcome}; the time is the "
                f"waits for the pages' lines (this client's parsing between pages, {secs(raw.client_seconds)} s more, "
                "is left out, as the parsing of the reference's one reply is)"
            )

    report_model_bytes(model or [], servers)
    notes = [
        "The reference's reply is JSON.stringify(rows, null, 2) as one text block: bigint and numeric come back",
        "as strings, timestamps as ISO strings; ours: typed values in structuredContent, tab-separated text.",
        "Ours runs the query once and sends its pages from one open cursor while the client keeps asking",
        "(servers/postgres/README.md); the server's own memory stays one page.",
        "Peak RSS is the server process only (not PostgreSQL's backend, not the client).",
    ]
    record_headlines(small, large)
    problems = [f"small {m.label}: {e}" for m in small for e in m.errors]
    problems += [f"{m.who} {label(m.rows)} {m.how}: {e}" for m in large for e in m.errors]
    for sm in small:  # a wide spread makes a median unstable: say so
        for who, samples in (("reference", sm.reference), ("ours", sm.ours)):
            if len(samples) >= 20:
                p90 = statistics.quantiles(samples, n=10)[-1]
                if p90 / min(samples) > 2:
                    notes.append(
                        f"{sm.label.strip()}: {who} 90th percentile {p90 * 1e3:.1f} ms, over twice its minimum "
                        f"{min(samples) * 1e3:.1f} ms (shared machine); the ratio of minimums is the steadier figure"
                    )
    print_list("Notes:", notes)
    print_list("PROBLEMS (a wrong row count or order makes that row's comparison meaningless):", problems)


def record_headlines(small: list[Small], large: list[Large]) -> None:
    """The figures bench/summary.py shows (issue 17's table), medians in seconds, memory in bytes."""
    floor = next((sm.ours for sm in small if sm.mode == "bare"), [])
    for sql, row in ((SELECT_ONE, "postgres select 1"), (PK_LOOKUP, "postgres primary-key lookup")):
        ours = next((sm for sm in small if sm.sql == sql and sm.mode == "auto"), None)
        if ours is not None:
            common.record(
                row,
                ours=statistics.median(ours.ours) if ours.ours else None,
                bare=statistics.median(floor) if floor else None,
                reference=statistics.median(ours.reference) if ours.reference else None,
            )
    by = {(m.who, m.how, m.rows): m for m in large}
    raw_ours, raw_ref = by.get(("ours", "raw", SIZES[-1])), by.get(("reference", "raw", SIZES[-1]))
    client_small, client_big = by.get(("ours", "client", SIZES[0])), by.get(("ours", "client", SIZES[-1]))
    common.record(
        "postgres 1M rows through pages, raw pipe",
        ours=raw_ours.seconds if raw_ours else None,
        reference=raw_ref.seconds if raw_ref else None,
        reference_peak=raw_ref.hwm if raw_ref else None,
        peak_1m=client_big.hwm if client_big else None,
        peak_10k=client_small.hwm if client_small else None,
    )
    if client_small is not None and client_small.check_seconds is not None:
        page = statistics.median(client_small.page_seconds) if client_small.page_seconds else None
        common.record("postgres 10k-row page, schema check", ours=client_small.check_seconds, page=page)


# --------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    db = await anyio.to_thread.run_sync(start_database)  # stops its server itself if it fails
    print(f"  database ready: {', '.join(f'{k} {v:.1f} s' for k, v in db.seconds.items())}", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="patchbay-pgbench-"))
    small: list[Small] = []
    large: list[Large] = []
    model: Any = []
    try:
        dsn = db.server.dsn()
        reference = (
            find_reference(args, dsn) if not args.no_reference else Server("reference", [], error="--no-reference")
        )
        ours = find_ours(dsn, tmp / "audit.jsonl") if not args.no_ours else Server("ours", [], error="--no-ours")
        servers = [reference, ours]

        async def step(what: str, work: Callable[[], Awaitable[Any]]) -> Any:
            started = time.perf_counter()
            try:
                return await work()
            except Exception as exc:
                print(f"  {what}: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
                return exc
            finally:
                print(f"  {what:<48} {time.perf_counter() - started:6.1f} s", file=sys.stderr)

        # 1. Small queries: one long-lived client each
        async with AsyncExitStack() as stack:

            async def open_client(server: Server, mode: str = "auto") -> mcp.Client | None:
                return await try_connect(server, lambda: Spawned(server, tmp).params(), stack, mode)

            ref_client = await open_client(reference)
            our_client = await open_client(ours)
            for server, client in ((reference, ref_client), (ours, our_client)):
                if client is not None:
                    await measure_tools(server, client)
            model = await step("model bytes: three queries", partial(measure_model_bytes, ref_client, our_client))
            our_legacy = await open_client(ours, "legacy") if our_client is not None else None
            on_asyncio = replace(ours, env={**ours.env, "PATCHBAY_EVENT_LOOP": "asyncio"})
            our_asyncio = await open_client(on_asyncio) if our_client is not None else None
            bare = Server("bare", bare_echo_command(), version="bench/bare_echo.py")
            bare_client = await open_client(bare) if our_client is not None else None
            for sql, name in ((SELECT_ONE, "select 1"), (PK_LOOKUP, "primary-key lookup, 1M table")):
                clients = [("auto", our_client), ("legacy", our_legacy)]
                if sql == SELECT_ONE:
                    clients += [("asyncio", our_asyncio), ("bare", bare_client)]
                for mode, client in clients:
                    if client is None or (ref_client is None and mode == "bare"):
                        continue
                    shown = {
                        "auto": name,
                        "legacy": "  same, ours legacy era",
                        "asyncio": "  same, ours on the standard asyncio loop",
                        "bare": "  floor: bare MCPServer echo",
                    }
                    m = Small(shown[mode], sql, mode)
                    measuring = partial(measure_small, m, ref_client, client, args.small_calls)
                    got = await step(f"small: {m.label.strip()} ({mode})", measuring)
                    if isinstance(got, Exception):
                        m.errors.append(f"measurement failed: {type(got).__name__}: {got}")
                    small.append(m)

        # 2. Large results: a fresh process per table and server, ours and the reference alternating
        plan: list[tuple[str, Callable[[], Awaitable[Large]]]] = []
        for i, rows in enumerate(SIZES):
            ours_first = i % 2 == 0
            jobs: list[tuple[str, Callable[[], Awaitable[Large]]]] = []
            if not ours.error:
                jobs.append((f"ours {label(rows)}: pages, client", partial(ours_large, ours, tmp, rows)))
            if not reference.error and rows < SIZES[-1]:
                jobs.append((f"reference {label(rows)}: client", partial(reference_large, reference, tmp, rows, 600)))
            plan += jobs if ours_first else jobs[::-1]
        if not args.no_raw:
            if not reference.error:
                plan.append(("reference 1M: raw pipe", lambda: reference_raw(reference, tmp, SIZES[-1], 300)))
            if not ours.error:
                plan.append(("ours 1M: pages, raw pipe", lambda: ours_raw(ours, tmp, SIZES[-1])))
        if not reference.error and not args.skip_client_1m:
            timeout = args.client_timeout
            plan.append(("reference 1M: client", lambda: reference_large(reference, tmp, SIZES[-1], timeout)))
        for what, work in plan:
            got = await step(what, work)
            if isinstance(got, Large):
                large.append(got)
            else:
                who, _, rest = what.partition(" ")
                rows = next(r for r in SIZES if rest.startswith(label(r)))
                failed = Large(who, rows, "raw" if "raw" in what else "client", outcome=f"FAILED: {got}")
                large.append(failed)
        report(db, servers, small, large, args, model if isinstance(model, list) else [])
    finally:
        await anyio.to_thread.run_sync(db.server.stop)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-calls", type=int, default=1000, help="calls per server per small query (default 1000)")
    parser.add_argument(
        "--client-timeout",
        type=float,
        default=120,
        help="seconds the SDK client may take for the reference's 1M-row reply (default 120)",
    )
    parser.add_argument("--reference-node", help="node binary for the reference (default: node on PATH)")
    parser.add_argument("--no-reference", action="store_true", help="measure ours alone")
    parser.add_argument("--no-ours", action="store_true", help="measure the reference alone")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw-pipe runs of the 1M result")
    parser.add_argument(
        "--skip-client-1m", action="store_true", help="skip the reference's 1M reply through the SDK client"
    )
    run_benchmark(main, parser.parse_args(), on_failure=report_failure)  # a benchmark reports, it does not gate
    sys.exit(0)
