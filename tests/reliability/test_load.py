"""Load: CLIENTS concurrent clients x CALLS calls of a mix of read tools, zero errors, flat memory.

Each connector runs as its own process serving stateless Streamable HTTP; the clients are the
MCP SDK's `Client` (handshake era), each in its own session, all at once. First a warm-up round
(CLIENTS x WARMUP_CALLS of the same mix) after which the server's RSS (VmRSS from /proc) is the
baseline; then the load round. Every call must succeed (no `isError`, no exception, each within
CALL_TIMEOUT) and RSS after the load must be at most 1.1 x the baseline.
Counts: see reliability_kit (make test: 20 x 30 after 20 x 10; make soak: 20 x 200 after 20 x 20).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import anyio
import pytest
from mcp import Client
from reliability_kit import CALL_TIMEOUT, CALLS, CLIENTS, WARMUP_CALLS, healthy, rss_kib

from patchbay.testing import RunningServer

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

FS_MIX: list[tuple[str, dict[str, Any]]] = [
    ("read_text_file", {"path": "docs/note03.txt"}),
    ("read_text_file", {"path": "docs/readme.md", "head": 2}),
    ("list_directory", {"path": "docs"}),
    ("get_file_info", {"path": "sub/deep/data.json"}),
    ("search_files", {"path": ".", "pattern": "*.txt"}),
    ("search_file_contents", {"query": "needle", "path": "docs"}),
    ("directory_tree", {"path": "sub"}),
    ("read_multiple_files", {"paths": ["docs/note01.txt", "sub/deep/data.json"]}),
    ("list_allowed_directories", {}),
    ("read_media_file", {"path": "sub/blob.bin"}),
]

PG_MIX: list[tuple[str, dict[str, Any]]] = [
    ("execute_sql", {"sql": "select id, name, email from customers order by id limit 20"}),
    ("execute_sql", {"sql": "select customer_id, sum(total) from orders group by 1 order by 1"}),
    ("list_schemas", {}),
    ("list_objects", {"schema": "public"}),
    ("describe_object", {"name": "orders"}),
    ("search_objects", {"pattern": "cust"}),
    ("explain_query", {"sql": "select * from orders where customer_id = 7"}),
    ("list_databases", {}),
]


async def run_clients(url: str, mix: list[tuple[str, dict[str, Any]]], calls: int) -> tuple[int, list[str]]:
    """CLIENTS clients, each making `calls` calls round the mix (each client from its own offset)."""
    errors: list[str] = []
    done = 0

    async def one(index: int) -> None:
        nonlocal done
        async with Client(url, mode="legacy") as client:
            for tool, args in itertools.islice(itertools.cycle(mix), index, index + calls):
                try:
                    with anyio.fail_after(CALL_TIMEOUT):
                        result = await client.call_tool(tool, args)
                except Exception as exc:
                    errors.append(f"client {index} {tool} {args}: {type(exc).__name__}: {exc}")
                    continue
                done += 1
                if result.is_error:
                    text = " ".join(getattr(block, "text", "") for block in result.content)
                    errors.append(f"client {index} {tool} {args}: {text[:300]}")

    async with anyio.create_task_group() as group:
        for index in range(CLIENTS):
            group.start_soon(one, index)
    return done, errors


async def load_with_flat_memory(server: RunningServer, mix: list[tuple[str, dict[str, Any]]]) -> None:
    pid = server.process.pid
    began = time.monotonic()
    _, warm_errors = await run_clients(server.url, mix, WARMUP_CALLS)
    warm = rss_kib(pid)
    warm_took = time.monotonic() - began
    began = time.monotonic()
    done, errors = await run_clients(server.url, mix, CALLS)
    took = time.monotonic() - began
    after = rss_kib(pid)
    print(
        f"{CLIENTS} clients x {CALLS} calls: {done} answered in {took:.1f} s ({done / took:.0f}/s) after a warm-up "
        f"of {CLIENTS} x {WARMUP_CALLS} in {warm_took:.1f} s; RSS {warm / 1024:.1f} MiB after warm-up, "
        f"{after / 1024:.1f} MiB after the load ({after / warm:.3f}x)"
    )
    assert not warm_errors, f"{len(warm_errors)} errors in the warm-up: {warm_errors[:5]}"
    assert not errors, f"{len(errors)} errors under load: {errors[:5]}"
    assert done == CLIENTS * CALLS
    assert server.process.poll() is None and healthy(server.base_url)
    assert after <= 1.1 * warm, f"RSS grew from {warm} KiB to {after} KiB under load"


async def test_filesystem_under_load(fs_server: RunningServer) -> None:
    await load_with_flat_memory(fs_server, FS_MIX)


@pytest.mark.integration
async def test_postgres_under_load(pg_server: RunningServer) -> None:
    await load_with_flat_memory(pg_server, PG_MIX)
