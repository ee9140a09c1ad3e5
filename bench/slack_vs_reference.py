"""The Slack connector against two other Slack MCP servers, all pointed at the same fake Slack.

One fake Slack Web API (servers/slack/tests/fake_slack.py, on 127.0.0.1, ignoring but
recording arguments Slack does not document, as Slack itself ignores them) holds #general
with 1,000 messages, 20 of which contain "needle". Three servers, each over stdio through
the same Python client (`mcp.Client`, mode "auto"):

- ours: `python -m patchbay_slack`, `PATCHBAY_SLACK_API_URL` pointing at the fake;
- the archived reference `@modelcontextprotocol/server-slack` (npm, 2025.4.25): it calls
  `https://slack.com/api/...` with no setting to change that, so it runs under
  `node --import bench/slack_fetch_shim.mjs`, which rewrites that prefix of `fetch` URLs to
  the fake (nothing else changes);
- korotovsky's `slack-mcp-server` (npm, 1.3.0, a Go binary): no API-URL setting either, but
  `SLACK_MCP_PROXY` and `SLACK_MCP_SERVER_CA_INSECURE`, so it gets bench/slack_mitm.py, a
  loopback HTTPS proxy that answers slack.com's TLS with a throw-away certificate and hands
  each request to the fake. At start-up it calls `client.userBoot`, an undocumented internal
  Slack method, and stops when that fails: the benchmark answers it with an empty boot
  (no channels, no DMs) and says so.

Measured, in rounds (default 5), the servers in rotating order:

1. history: read all 1,000 messages of #general. Ours and korotovsky's page with their
   cursors (100 a page, 10 calls); the reference has no cursor, so it reads them in one call
   with limit 1000 (its only way). Every message counted.
2. search: 100 searches for "needle" (20 results each). The reference has no search tool.

Ratios are theirs/ours (above 1: ours is faster). Always exits 0: a benchmark reports,
it does not gate. About a minute.

    uv run --frozen python bench/slack_vs_reference.py [--rounds N] [--searches N] [--no-peers]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
from common import ROOT, Server, locate_ours, print_header, print_server, run_benchmark, text_of

sys.path.insert(0, str(ROOT / "servers" / "slack" / "tests"))

from fake_slack import BOT_TOKEN, USER_TOKEN, FakeSlack
from slack_mitm import SlackProxy

ENSURE = ROOT / "tools" / "ensure-reference-slack.sh"
SHIM = Path(__file__).resolve().parent / "slack_fetch_shim.mjs"
MESSAGES = 1000
PAGE = 100
NEEDLES = 20


@dataclass
class Contender:
    """A server, how it reads history and searches, and its timings."""

    server: Server
    history: Callable[[Any], Awaitable[int]] | None = None
    search: Callable[[Any], Awaitable[int]] | None = None
    why_no_search: str = ""
    history_note: str = ""
    history_s: list[float] = field(default_factory=list)
    check_s: list[float] = field(default_factory=list)  # the client's output-schema check within history_s
    replies: list[tuple[str, Any]] = field(default_factory=list)
    search_s: list[float] = field(default_factory=list)
    client: Any = None


def seed(fake: FakeSlack) -> None:
    for i in range(MESSAGES):
        text = f"message {i} with a needle" if i % (MESSAGES // NEEDLES) == 0 else f"message {i}"
        fake.add_message("C0GENERAL", text, user=("U001", "U002", "U003")[i % 3])


# -- ours ---------------------------------------------------------------------------------------


def ours(fake: FakeSlack, tmp: Path) -> Contender:
    server = Server("ours", [sys.executable, "-m", "patchbay_slack", "--audit-log", str(tmp / "audit.jsonl")])
    server.env = {
        "PATCHBAY_SLACK_BOT_TOKEN": BOT_TOKEN,
        "PATCHBAY_SLACK_USER_TOKEN": USER_TOKEN,
        "PATCHBAY_SLACK_API_URL": fake.url + "/api/",
        "PATCHBAY_SLACK_READ_CHANNELS": "#general",
    }
    locate_ours(server, "patchbay_slack", ["patchbay-slack", "slack-sdk"])

    async def history(client: Any) -> int:
        count, cursor = 0, None
        while True:
            args = {"channel": "#general", "limit": PAGE, **({"cursor": cursor} if cursor else {})}
            result = await client.call_tool("get_channel_history", args)
            if result.is_error:
                raise RuntimeError(f"ours: {text_of(result)[:200]}")
            contender.replies.append(("get_channel_history", result))
            count += len(result.structured_content["messages"])
            cursor = result.structured_content["next_cursor"]
            if not cursor:
                return count

    async def search(client: Any) -> int:
        result = await client.call_tool("search_messages", {"query": "needle", "count": NEEDLES})
        if result.is_error:
            raise RuntimeError(f"ours: {text_of(result)[:200]}")
        return len(result.structured_content["messages"])

    contender = Contender(server, history, search, history_note=f"{MESSAGES // PAGE} pages of {PAGE}")
    return contender


def ours_in_one_call(fake: FakeSlack, tmp: Path) -> Contender:
    """Ours reading the 1,000 messages as the reference must: one call, limit 1000 (a second process)."""
    paged = ours(fake, tmp)
    server = Server("ours-1call", paged.server.command, paged.server.env, paged.server.version, paged.server.runtime)

    async def history(client: Any) -> int:
        result = await client.call_tool("get_channel_history", {"channel": "#general", "limit": MESSAGES})
        if result.is_error:
            raise RuntimeError(f"ours: {text_of(result)[:200]}")
        contender.replies.append(("get_channel_history", result))
        return len(result.structured_content["messages"])

    contender = Contender(server, history, None, why_no_search="(as ours)", history_note=f"one call, limit {MESSAGES}")
    return contender


# -- the archived reference -----------------------------------------------------------------------


def peers_folder() -> tuple[Path | None, str]:
    done = subprocess.run(["bash", str(ENSURE)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return None, f"tools/{ENSURE.name} failed: {done.stderr.strip()[-300:]}"
    return Path(done.stdout.strip().splitlines()[-1]), ""


def reference(fake: FakeSlack, folder: Path | None, why: str) -> Contender:
    server = Server("reference", [])
    if folder is None:
        server.error = why
        return Contender(server)
    package = folder / "node_modules" / "@modelcontextprotocol" / "server-slack"
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    server.command = ["node", "--import", SHIM.as_uri(), str(package / "dist" / "index.js")]
    server.env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_TEAM_ID": "T0FAKE",
        "PATCHBAY_BENCH_SLACK_API": fake.url + "/api/",
    }
    server.version = (
        f"@modelcontextprotocol/server-slack {json.loads((package / 'package.json').read_text())['version']}"
    )
    server.runtime = f"node {node} (fetch of https://slack.com/api/ rewritten to the fake by {SHIM.name})"

    async def history(client: Any) -> int:
        result = await client.call_tool("slack_get_channel_history", {"channel_id": "C0GENERAL", "limit": MESSAGES})
        data = json.loads(text_of(result))
        if not data.get("ok"):
            raise RuntimeError(f"reference: {text_of(result)[:200]}")
        return len(data["messages"])

    return Contender(
        server, history, None, why_no_search="no search tool", history_note=f"one call, limit {MESSAGES} (no cursor)"
    )


# -- korotovsky's slack-mcp-server ------------------------------------------------------------------


def korotovsky(proxy: SlackProxy, folder: Path | None, why: str, tmp: Path) -> Contender:
    server = Server("korotovsky", [])
    if folder is None:
        server.error = why
        return Contender(server)
    package = json.loads((folder / "node_modules" / "slack-mcp-server" / "package.json").read_text())
    server.command = [str(folder / "node_modules" / ".bin" / "slack-mcp-server"), "--transport", "stdio"]
    server.env = {
        "SLACK_MCP_XOXP_TOKEN": USER_TOKEN,
        "SLACK_MCP_PROXY": proxy.url,
        "SLACK_MCP_SERVER_CA_INSECURE": "true",
        "SLACK_MCP_LOG_LEVEL": "error",
        "HOME": str(tmp / "korotovsky-home"),  # its users/channels cache files
    }
    server.version = f"slack-mcp-server {package['version']}"
    server.runtime = "Go binary via its npm launcher (https://slack.com through bench/slack_mitm.py)"

    async def history(client: Any) -> int:
        count, cursor = 0, ""
        while True:
            args = {"channel_id": "C0GENERAL", "limit": str(PAGE), **({"cursor": cursor} if cursor else {})}
            result = await client.call_tool("conversations_history", args)
            if result.is_error:
                raise RuntimeError(f"korotovsky: {text_of(result)[:200]}")
            rows = list(csv.DictReader(io.StringIO(text_of(result))))
            count += len(rows)
            cursor = rows[-1].get("Cursor", "") if rows else ""
            if not cursor:
                return count

    async def search(client: Any) -> int:
        result = await client.call_tool("conversations_search_messages", {"search_query": "needle", "limit": NEEDLES})
        if result.is_error:
            raise RuntimeError(f"korotovsky: {text_of(result)[:200]}")
        return len(list(csv.DictReader(io.StringIO(text_of(result)))))

    return Contender(server, history, search, history_note=f"pages of {PAGE} by its cursor")


# -- running ------------------------------------------------------------------------------------------


async def measure(contenders: list[Contender], rounds: int, searches: int, tmp: Path) -> None:
    async with AsyncExitStack() as stack:
        for c in contenders:
            params = _params(c.server, tmp / f"{c.server.name}.stderr")
            c.client = await common.try_connect(c.server, lambda p=params: p, stack)
        live = [c for c in contenders if c.client is not None]
        for round_ in range(rounds):
            order = live[round_ % len(live) :] + live[: round_ % len(live)] if live else []
            for c in order:
                await _one_round(c, searches)


async def _one_round(c: Contender, searches: int) -> None:
    try:
        if c.history is not None:
            c.replies.clear()
            began = time.perf_counter()
            got = await c.history(c.client)
            c.history_s.append(time.perf_counter() - began)
            if c.replies:  # mcp.Client checks structuredContent against the outputSchema in call_tool
                c.check_s.append(await common.check_seconds(c.client, c.replies))
            if got != MESSAGES:
                raise RuntimeError(f"{c.server.name}: read {got} messages, expected {MESSAGES}")
        if c.search is not None:
            began = time.perf_counter()
            for _ in range(searches):
                got = await c.search(c.client)
                if got != NEEDLES:
                    raise RuntimeError(f"{c.server.name}: a search found {got}, expected {NEEDLES}")
            c.search_s.append(time.perf_counter() - began)
    except Exception as exc:
        c.server.error = f"failed while measured: {exc}"
        c.history = c.search = None


def _params(server: Server, log: Path) -> Any:
    """Its stdio, with what it writes to stderr (the reference logs every request there) going to `log`."""
    from mcp import StdioServerParameters

    args = ["-c", 'exec "$@" 2>>"$0"', str(log), *server.command]
    return StdioServerParameters(command="/bin/sh", args=args, env={**os.environ, **server.env})


def report(contenders: list[Contender], searches: int, fake: FakeSlack) -> None:
    print_header(f"Slack: read {MESSAGES} messages of history; {searches} searches (median of rounds)")
    for c in contenders:
        print_server(c.server)
    ours_c = contenders[0]  # the ratios are against ours paging, 100 a page
    print()
    print(f"{'':<12}{'history':>14}  {'ratio':>7}   {f'{searches} searches':>14}  {'ratio':>7}   how")
    for c in contenders:
        if c.server.error and not c.history_s:
            continue
        hist = statistics.median(c.history_s) if c.history_s else None
        srch = statistics.median(c.search_s) if c.search_s else None
        h_ratio = _ratio(hist, ours_c.history_s)
        s_ratio = _ratio(srch, ours_c.search_s)
        h_text = f"{hist * 1e3:10.1f} ms" if hist is not None else "          -"
        s_text = f"{srch * 1e3:10.1f} ms" if srch is not None else f"{c.why_no_search or '-':>13}"
        print(f"{c.server.name:<12}{h_text:>14}  {h_ratio:>7}   {s_text:>14}  {s_ratio:>7}   {c.history_note}")
    print("ratio: theirs/ours (above 1: ours is faster)")
    print(
        "ours' times include mcp.Client's output-schema check of each reply (jsonschema over 1,000 messages); "
        "the others declare no outputSchema. Without it:"
    )
    for mine in (c for c in contenders if c.check_s and c.history_s):
        alone = statistics.median([h - k for h, k in zip(mine.history_s, mine.check_s, strict=True)])
        ratios = ", ".join(
            f"{c.server.name} {statistics.median(c.history_s) / alone:.2f}x"
            for c in contenders
            if c.history_s and not c.check_s
        )
        print(
            f"  {mine.server.name}: {alone * 1e3:.1f} ms "
            f"(check {statistics.median(mine.check_s) * 1e3:.1f} ms); {ratios}"
        )
    if fake.undocumented:
        print(
            "arguments Slack does not document, sent by the others (ignored, as Slack does): "
            f"{sorted(fake.undocumented)}"
        )


def _ratio(value: float | None, ours_samples: list[float]) -> str:
    if value is None or not ours_samples:
        return "-"
    return f"{value / statistics.median(ours_samples):.2f}x"


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="slack-bench-") as scratch, FakeSlack(strict=False) as fake:
        tmp = Path(scratch)
        seed(fake)
        # korotovsky's start-up needs Slack's undocumented internal client.userBoot: an empty boot.
        fake.add_route("POST", "/api/client.userBoot", lambda _: {"ok": True, "self": {"id": "U001"}, "channels": []})
        contenders = [ours(fake, tmp), ours_in_one_call(fake, tmp)]
        with SlackProxy(fake.port) as proxy:
            if not args.no_peers:
                folder, why = peers_folder()
                contenders += [reference(fake, folder, why), korotovsky(proxy, folder, why, tmp)]
            await measure(contenders, args.rounds, args.searches, tmp)
        report(contenders, args.searches, fake)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--searches", type=int, default=100)
    parser.add_argument("--no-peers", action="store_true", help="measure ours alone")
    run_benchmark(main, parser.parse_args(), common.report_failure)
