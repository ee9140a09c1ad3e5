"""Start-up of every connector against a bare `MCPServer`: spawn to the first `tools/list` answer.

Each round spawns, in turn (forwards, then backwards the next round, so drift hits all alike):
the bare echo server (`bench/bare_echo.py`, the floor), every connector of this repository
(`python -m patchbay_<id>`, audit log to a temporary file) and the reference filesystem
server (Node), each over stdio with `mcp.Client(mode="legacy")`: initialize, then tools/list.
A connector needs something to start on: filesystem a temporary folder, postgres a
throw-away PostgreSQL (`servers/postgres/tests/pgserver.py`); a connector this script does
not know is started with no arguments, and reported as not measured if it cannot start so.
Goal: every connector at most 1.15x the bare server (median). Always exits 0.

    uv run --frozen python bench/startup.py [--rounds N] [--no-reference]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import common
from common import ROOT, Server, abba_rounds, bare_echo_command, locate_reference, print_header, run_benchmark

STARTUP_TARGET = 1.15
ENSURE_REFERENCE = ROOT / "tools" / "ensure-reference-fs.sh"
PGSERVER_DIR = ROOT / "servers" / "postgres" / "tests"


@dataclass
class Contender:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    samples: list[float] = field(default_factory=list)
    tools: int = 0
    error: str | None = None


def connector_ids() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "servers").glob("*/pyproject.toml"))


def launch(connector_id: str, tmp: Path, dsn: Callable[[], str]) -> tuple[list[str], dict[str, str]]:
    """What a connector needs on its command line and in its environment to start here."""
    if connector_id == "filesystem":
        folder = tmp / "files"
        folder.mkdir(exist_ok=True)
        return [str(folder)], {}
    if connector_id == "postgres":
        return [], {"PATCHBAY_POSTGRES_DSN": dsn()}
    # The API connectors list their tools without their service: point them where nothing answers.
    nowhere = "http://127.0.0.1:9"
    if connector_id == "s3":
        return ["--buckets", "example", "--endpoint-url", nowhere], {"AWS_EC2_METADATA_DISABLED": "true"}
    if connector_id == "drive":
        return ["--folders", "0AbCdEf123"], {"PATCHBAY_DRIVE_TOKEN_FILE": str(tmp / "no-token.json")}
    if connector_id == "slack":
        return [], {"PATCHBAY_SLACK_BOT_TOKEN": "xoxb-bench", "PATCHBAY_SLACK_API_URL": f"{nowhere}/api/"}
    if connector_id == "github":
        return ["--repos", "octo-org/app"], {"PATCHBAY_GITHUB_API_URL": nowhere, "PATCHBAY_GITHUB_TOKEN": "ghp_bench"}
    return [], {}


async def spawn_once(contender: Contender) -> None:
    import mcp
    from mcp import StdioServerParameters

    params = StdioServerParameters(command=contender.command[0], args=contender.command[1:], env=contender.env or None)
    started = time.perf_counter()
    with anyio.fail_after(60):
        async with mcp.Client(params, mode="legacy") as client:
            listing = await client.list_tools()
            elapsed = time.perf_counter() - started
    contender.samples.append(elapsed)
    contender.tools = len(listing.tools)


async def main(args: argparse.Namespace) -> None:
    postgres: Any = None

    def dsn() -> str:
        nonlocal postgres
        if postgres is None:
            sys.path.insert(0, str(PGSERVER_DIR))
            from pgserver import PostgresServer  # type: ignore[import-not-found]

            postgres = PostgresServer()
        return str(postgres.dsn())

    tmp = Path(tempfile.mkdtemp(prefix="patchbay-startup-"))
    contenders = [Contender("bare MCPServer", bare_echo_command())]
    try:
        for connector_id in connector_ids():
            extra, env = launch(connector_id, tmp, dsn)
            command = [sys.executable, "-m", f"patchbay_{connector_id}", "--audit-log", str(tmp / "audit.jsonl")]
            contenders.append(Contender(connector_id, [*command, *extra], env))
        if not args.no_reference:
            reference = Server("reference", [])
            if locate_reference(reference, ENSURE_REFERENCE, None) is not None:
                contenders.append(Contender("reference filesystem (node)", [*reference.command, str(tmp)]))
            else:
                print(f"reference filesystem NOT MEASURED: {reference.error}", file=sys.stderr)
        for contender in contenders:  # warm-up (also: can it start at all?)
            try:
                await spawn_once(contender)
            except Exception as exc:
                contender.error = f"could not start: {type(exc).__name__}: {exc}"
            contender.samples.clear()
        running = [c for c in contenders if c.error is None]
        for order in abba_rounds(running, args.rounds):
            for contender in order:
                await spawn_once(contender)
        report(contenders, args)
    finally:
        if postgres is not None:
            postgres.stop()


def report(contenders: list[Contender], args: argparse.Namespace) -> None:
    bare = contenders[0]
    floor = statistics.median(bare.samples) if bare.samples else None
    print()
    print(f"Start-up over stdio: spawn to the first tools/list answer (initialize + tools/list), {args.rounds} spawns")
    print("each, in rounds alternating forwards and backwards; milliseconds. Goal: a connector <= 1.15x bare.")
    header = f"{'server':<30}{'tools':>6}{'median':>9}{'min':>8}{'max':>8}{'x bare':>9}  goal"
    print_header(header)
    for c in contenders:
        if c.error is not None:
            print(f"{c.name:<30} NOT MEASURED: {c.error}")
            continue
        median = statistics.median(c.samples)
        ratio = median / floor if floor else None
        goal = ""
        if c is not bare and not c.name.startswith("reference") and ratio is not None:
            goal = f"<={STARTUP_TARGET}x " + ("PASS" if ratio <= STARTUP_TARGET else "MISS")
        print(
            f"{c.name:<30}{c.tools:>6}{median * 1e3:>9.0f}{min(c.samples) * 1e3:>8.0f}{max(c.samples) * 1e3:>8.0f}"
            f"{(f'{ratio:.2f}x' if ratio else '-'):>9}  {goal}"
        )
        if c is not bare:
            row = "start-up, reference" if c.name.startswith("reference") else f"start-up, {c.name}"
            common.record(row, ours=median, bare=floor)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="spawns per server (default 10)")
    parser.add_argument("--no-reference", action="store_true", help="leave out the reference filesystem server")
    run_benchmark(main, parser.parse_args())
