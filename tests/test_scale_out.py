"""Stateless scale-out: three replicas of one connector behind nginx round-robin.

Three real `python -m patchbay.example --transport http --allow-writes` processes on free
127.0.0.1 ports share `PATCHBAY_EXAMPLE_STATE_KEY` and each write their own audit log.
An nginx from the machine (Debian's package; `tools/ensure-nginx.sh` installs it) runs in
the foreground with a throw-away config, prefix, pid and log files on a free port and
balances them round-robin, with HTTP/1.1 keepalive to the upstreams and response
buffering off (Streamable HTTP answers as a stream). It passes the client's
`Host: 127.0.0.1:<port>` on, which the replicas' DNS-rebinding protection accepts.

Twenty concurrent `mcp.Client(..., mode="2026-07-28")` clients make 50 calls each:
echo, put_note, get_note, list_notes (a first page, then the next page by its signed
cursor) and delete_note, which asks for confirmation by elicitation. The answer comes
back as a retry that round-robin usually sends to another replica than the one that
asked: the replicas share the key that signs the request state, so that works.

Then: no call failed; across the three audit logs every call appears exactly once (a
round that only asked for confirmation writes nothing, so a confirmed delete is one
line, on the replica that ran it); every replica served a fair share; nginx never
retried a request on another upstream; and some confirmations did cross replicas.

Without nginx the test is skipped with how to install it, except under CI=true, where
the root conftest turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client

from patchbay.testing import Answer, Balancer, RunningServer, http_server, nginx_binary, nginx_round_robin

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.timeout(120)]

CMD = [sys.executable, "-m", "patchbay.example"]
REPLICAS = 3
CLIENTS = 20
CALLS_PER_CLIENT = 50
STATE_KEY = "scale-out-shared-state-key-0123456789abcdef"
DELETED = range(0, 200)  # seed notes the clients delete, one call each
READ = range(200, 400)  # seed notes only read (get_note, list_notes)
SEED_NOTES = 400
MIN_SHARE = 0.20  # each replica must run at least this share of the calls (round-robin gives 1/3)
HOW_TO = (
    "The scale-out test runs its own nginx (never a system one). Install it with "
    "`bash tools/ensure-nginx.sh` (Debian's nginx via apt-get, as root or with sudo) or "
    "`apt-get install -y nginx`, or set PATCHBAY_NGINX to an nginx binary."
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# nginx ---------------------------------------------------------------------------------


def nginx_or_skip() -> str:
    """$PATCHBAY_NGINX, /usr/sbin/nginx or nginx on PATH; skip (fail under CI) without one."""
    nginx = nginx_binary()
    if nginx is None:
        pytest.skip(f"nginx not found. {HOW_TO}")
    return nginx


def access_log(balancer: Balancer) -> list[dict[str, Any]]:
    """One entry per proxied request, the JSON-RPC body parsed (None when there is none)."""
    entries = balancer.access_log()
    for entry in entries:
        entry["body"] = json.loads(entry["body"]) if entry["body"] else None
    return entries


# Replicas ------------------------------------------------------------------------------


@dataclass
class Replica:
    server: RunningServer
    audit_log: Path

    @property
    def address(self) -> str:
        return self.server.base_url.removeprefix("http://")

    def audit_lines(self) -> list[dict[str, Any]]:
        if not self.audit_log.exists():
            return []
        return [json.loads(line) for line in self.audit_log.read_text().splitlines()]


@contextmanager
def replicas(scratch: Path, count: int) -> Iterator[list[Replica]]:
    """`count` replicas started side by side (each takes a second or so to import the SDK)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHBAY_EXAMPLE_")}
    env |= {"PATCHBAY_EXAMPLE_STATE_KEY": STATE_KEY, "PATCHBAY_EXAMPLE_SEED_NOTES": str(SEED_NOTES)}
    logs = [scratch / f"audit-{i}.jsonl" for i in range(count)]
    managers = [http_server(CMD, "--allow-writes", "--audit-log", str(log), env=env) for log in logs]
    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(m.__enter__) for m in managers]
        wait(futures)
        started = [m for m, f in zip(managers, futures, strict=True) if f.exception() is None]
        try:
            yield [Replica(f.result(), log) for f, log in zip(futures, logs, strict=True)]
        finally:
            list(pool.map(lambda m: m.__exit__(None, None, None), started))


# The load ------------------------------------------------------------------------------


def seed(n: int) -> tuple[str, str]:
    return f"note-{n:05d}", f"Seed note number {n}."


@dataclass
class Made:
    """What one client did: each call's (tool, arguments), and what went wrong."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)


async def one_client(url: str, client_no: int, start: anyio.Event, made: Made) -> None:
    """50 calls; every ten: 2 confirmed deletes, 2 puts, 2 gets, 2 echoes, a first page and the next."""
    answer = Answer("accept")
    cursor_call: dict[str, Any] | None = None
    async with Client(url, mode="2026-07-28", elicitation_callback=answer) as client:
        await start.wait()
        for j in range(CALLS_PER_CLIENT):
            n = client_no * CALLS_PER_CLIENT // 5 + j // 5  # 0..199: this client's own slice of notes
            kind = j % 10
            if kind in (0, 5):
                key, text = seed(DELETED[n])
                tool, arguments = "delete_note", {"key": key}
                expected: Any = {"outcome": "done", "message": "Done.", "result": {"key": key, "size": len(text)}}
            elif kind in (1, 6):
                key = f"scale-{client_no}-{j}"
                tool, arguments = "put_note", {"key": key, "text": f"written by client {client_no}, call {j}"}
                expected = {"key": key, "text": arguments["text"]}
            elif kind in (2, 7):
                key, text = seed(READ[n])
                tool, arguments = "get_note", {"key": key}
                expected = {"key": key, "text": text}
            elif kind in (3, 8):
                tool, arguments = "echo", {"text": f"echo from client {client_no}, call {j}"}
                expected = arguments
            elif kind == 4:
                # A first page of a never-deleted range; (prefix, limit) is unique per call.
                k = client_no * 5 + j // 10  # 0..99
                tool, arguments = "list_notes", {"prefix": f"note-00{2 + k // 50}", "limit": 1 + k % 50}
                expected = None
            else:
                # The next page, by the cursor another replica (likely) signed.
                if cursor_call is None:
                    made.errors.append(f"client {client_no} call {j}: no cursor from the first page")
                    continue
                tool, arguments, expected = "list_notes", cursor_call, None
            made.calls.append((tool, arguments))
            try:
                result = await client.call_tool(tool, arguments)
            except Exception as exc:
                made.errors.append(f"client {client_no} call {j} {tool} {arguments}: {type(exc).__name__}: {exc}")
                continue
            if result.is_error:
                texts = " ".join(c.text for c in result.content if isinstance(c, types.TextContent))
                made.errors.append(f"client {client_no} call {j} {tool} {arguments}: isError: {texts}")
                continue
            got = result.structured_content
            if tool == "list_notes":
                problem = check_page(arguments, got)
                if problem:
                    made.errors.append(f"client {client_no} call {j} {arguments}: {problem}")
                if kind == 4 and got is not None:
                    cursor_call = {**arguments, "cursor": got.get("next_cursor")}
            elif got != expected:
                made.errors.append(f"client {client_no} call {j} {tool} {arguments}: got {got!r}")
    made.questions += answer.questions


def check_page(arguments: dict[str, Any], got: dict[str, Any] | None) -> str | None:
    """A page of `limit` consecutive seed notes under the prefix, after the cursor's last key if any."""
    if got is None:
        return "no structured content"
    prefix, limit = arguments["prefix"], arguments["limit"]
    start = int(prefix[5:] + "00")  # "note-002": the hundred notes 200..299
    first = start + (limit if "cursor" in arguments else 0)
    want = [dict(zip(("key", "text"), seed(n), strict=True)) for n in range(first, first + limit)]
    if got.get("items") != want:
        return f"items {got.get('items')!r}, expected {want!r}"
    more = first + limit < start + 100
    if more != isinstance(got.get("next_cursor"), str):
        return f"next_cursor {got.get('next_cursor')!r}, but more notes follow: {more}"
    return None


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)


def tool_calls(access: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The access-log entries of `tools/call` requests."""
    return [e for e in access if e["body"] and e["body"].get("method") == "tools/call"]


def call_key(tool: str, arguments: Any) -> tuple[str, str]:
    return tool, json.dumps(arguments, sort_keys=True)


# The test ------------------------------------------------------------------------------


async def test_three_stateless_replicas_behind_nginx_serve_concurrent_clients_exactly_once(tmp_path: Path) -> None:
    nginx = nginx_or_skip()
    with replicas(tmp_path, REPLICAS) as running, nginx_round_robin([r.address for r in running], nginx=nginx) as lb:
        made = [Made() for _ in range(CLIENTS)]
        start = anyio.Event()
        async with anyio.create_task_group() as tg:
            for i in range(CLIENTS):
                tg.start_soon(one_client, lb.url, i, start, made[i])
            await anyio.sleep(0.5)  # let every client connect, then all start at once
            started = time.perf_counter()
            start.set()
        elapsed = time.perf_counter() - started

        calls = [c for m in made for c in m.calls]
        errors = [e for m in made for e in m.errors]
        expected_total = CLIENTS * CALLS_PER_CLIENT
        assert not errors, f"{len(errors)} errors in {len(calls)} calls:\n" + "\n".join(errors[:20])
        assert len(calls) == expected_total

        # Both logs are written as a request finishes, a hair after (nginx) or before (audit) the reply.
        tool_requests = expected_total + len(DELETED)  # a confirmed delete is two requests
        wait_for(lambda: sum(len(r.audit_lines()) for r in running) >= expected_total)
        wait_for(lambda: len(tool_calls(access_log(lb))) >= tool_requests)
        lines = {r.address: r.audit_lines() for r in running}
        access = access_log(lb)
        print(
            f"\n{len(calls)} calls by {CLIENTS} clients in {elapsed:.2f} s ({len(calls) / elapsed:.0f} calls/s); "
            f"audit lines per replica: {[len(v) for v in lines.values()]}; "
            f"HTTP requests per replica: {dict(Counter(e['upstream'] for e in access))}"
        )

        # Every call exactly once across the replicas; nothing that was not called.
        audited = [(address, e) for address, entries in lines.items() for e in entries]
        made_count = Counter(call_key(tool, args) for tool, args in calls)
        audit_count = Counter(call_key(e["tool"], e["arguments"]) for _, e in audited)
        assert max(made_count.values()) == 1  # the calls are unique by construction
        missing = made_count - audit_count
        extra = audit_count - made_count
        assert not missing, f"{sum(missing.values())} calls without an audit line, e.g. {list(missing)[:5]}"
        assert not extra, f"{sum(extra.values())} audit lines too many (duplicates?), e.g. {list(extra)[:5]}"
        assert len({e["call_id"] for _, e in audited}) == len(audited) == expected_total
        assert all(e["outcome"] == "ok" for _, e in audited), [e for _, e in audited if e["outcome"] != "ok"][:5]
        deletes = [e for _, e in audited if e["tool"] == "delete_note"]
        assert len(deletes) == len(DELETED)  # one line per confirmed delete, not one per round
        assert {e["confirmation"] for e in deletes} == {"accepted"}
        assert all(e["confirmation"] is None for _, e in audited if e["tool"] != "delete_note")
        questions = [q for m in made for q in m.questions]
        assert len(questions) == len(DELETED)
        assert all(
            re.fullmatch(r"Delete the note 'note-\d{5}' \(\d+ characters\)\? This cannot be undone\.", q)
            for q in questions
        ), questions[:3]

        # The load spread over all three replicas.
        for address, entries in lines.items():
            assert len(entries) >= MIN_SHARE * expected_total, f"{address} ran only {len(entries)} calls"

        # nginx: every request answered without an HTTP error, none resent to a second upstream.
        assert all(e["status"] in ("200", "202") for e in access), Counter(e["status"] for e in access)
        assert not [e for e in access if "," in e["upstream"]], "nginx retried a request on another upstream"
        assert {e["upstream"] for e in access} == set(lines)

        # Confirmation rounds: per delete, one asking round and one retry with the signed state;
        # the line is on the replica that ran the retry, and retries did cross replicas.
        assert len(tool_calls(access)) == tool_requests
        rounds: dict[str, list[dict[str, Any]]] = {}
        for e in tool_calls(access):
            if e["body"]["params"]["name"] == "delete_note":
                rounds.setdefault(e["body"]["params"]["arguments"]["key"], []).append(e)
        assert len(rounds) == len(DELETED)
        crossed = 0
        for key, pair in rounds.items():
            assert len(pair) == 2, (key, pair)
            ask, retry = pair
            assert "requestState" not in ask["body"]["params"], key
            assert retry["body"]["params"]["requestState"], key
            [(ran_on, _)] = [(a, e) for a, e in audited if e["tool"] == "delete_note" and e["arguments"]["key"] == key]
            assert ran_on == retry["upstream"], key
            crossed += ask["upstream"] != retry["upstream"]
        print(f"confirmed deletes whose retry landed on another replica than the question: {crossed}/{len(rounds)}")
        assert crossed > 0
