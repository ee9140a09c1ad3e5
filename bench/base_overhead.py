"""What the patchbay base costs over a bare `MCPServer`: per call and at start-up.

Compares an `echo` tool built through `patchbay.Connector` (`bench/base_echo.py`: the
base and that one tool, so the figure is the base's cost, not the example connector's
other tools) with the same tool on a bare `MCPServer` (`bench/bare_echo.py`):

1. per-call round trip, in memory (`mcp.Client(server)`) and over stdio (a spawned
   server), in both protocol eras (`legacy` handshake and `2026-07-28`);
2. start-up: spawn to the first `tools/list` answer over stdio.

The base keeps its audit log on (it is part of its cost): in memory it writes to a
temporary file (setting `audit_log`), over stdio to `--audit-log <temporary file>`.
Base and bare runs alternate (ABBA blocks) so that drift on a shared machine hits both.
It reports against the targets (per call at most 1.10x, start-up at most 1.1x) and
always exits 0: a benchmark reports, it does not gate.

    uv run --frozen python bench/base_overhead.py [--calls N] [--warmup N] [--spawns N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common
import mcp
from common import BARE_ECHO, BASE_ECHO, abba, count_lines, print_header, run_benchmark
from mcp import StdioServerParameters

ERAS = ("legacy", "2026-07-28")
PER_CALL_TARGET = 1.10
STARTUP_TARGET = 1.10
BLOCK = 50  # calls per block; blocks alternate base, bare, bare, base, ...
ARGUMENTS = {"text": "hello, patchbay"}


@dataclass
class Result:
    """Samples of one measurement (seconds) for base and bare."""

    label: str
    base: list[float]
    bare: list[float]

    def ratio(self, stat: Callable[[list[float]], float]) -> float:
        return stat(self.base) / stat(self.bare)


async def timed_calls(client: mcp.Client, n: int, samples: list[float] | None) -> None:
    for _ in range(n):
        started = time.perf_counter()
        result = await client.call_tool("echo", ARGUMENTS)
        elapsed = time.perf_counter() - started
        if result.is_error or result.structured_content != ARGUMENTS:
            raise RuntimeError(f"echo answered {result!r}")
        if samples is not None:
            samples.append(elapsed)


async def per_call(label: str, base_target: Any, bare_target: Any, mode: str, calls: int, warmup: int) -> Result:
    """Round trips of `echo` on both servers, connected side by side, alternating in blocks."""
    result = Result(label, [], [])
    async with mcp.Client(base_target, mode=mode) as base, mcp.Client(bare_target, mode=mode) as bare:
        for client in (base, bare):
            await timed_calls(client, warmup, None)
        for is_base in abba(calls // BLOCK):
            if is_base:
                await timed_calls(base, BLOCK, result.base)
            else:
                await timed_calls(bare, BLOCK, result.bare)
    return result


async def start_up(base_params: StdioServerParameters, bare_params: StdioServerParameters, spawns: int) -> Result:
    """Spawn to the first `tools/list` answer (handshake era: initialize, then tools/list)."""
    result = Result("start-up, stdio", [], [])
    for is_base in abba(spawns):
        started = time.perf_counter()
        async with mcp.Client(base_params if is_base else bare_params, mode="legacy") as client:
            tools = await client.list_tools()
            elapsed = time.perf_counter() - started
        if "echo" not in [t.name for t in tools.tools]:
            raise RuntimeError(f"no echo among {[t.name for t in tools.tools]}")
        (result.base if is_base else result.bare).append(elapsed)
    return result


def verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio <= target else "OVER"


def report(calls: list[Result], startup: Result, audit: dict[str, int], args: argparse.Namespace) -> None:
    us = 1e6
    print()
    print(f"Per-call round trip of echo, microseconds: {len(calls[0].base)} timed calls per server and setting")
    print(f"(after {args.warmup} warm-up calls; base/bare alternate in ABBA blocks of {BLOCK}).")
    print("Verdict on the median ratio; the mean ratio is shown beside it.")
    header = (
        f"{'transport, era':<22}{'base mean':>10}{'base med':>10}{'bare mean':>10}{'bare med':>10}"
        f"{'+med':>8}{'ratio med':>11}{'ratio mean':>11}  target"
    )
    print_header(header)
    for r in calls:
        base_med, bare_med = statistics.median(r.base) * us, statistics.median(r.bare) * us
        med, mean = r.ratio(statistics.median), r.ratio(statistics.fmean)
        print(
            f"{r.label:<22}{statistics.fmean(r.base) * us:>10.0f}{base_med:>10.0f}"
            f"{statistics.fmean(r.bare) * us:>10.0f}{bare_med:>10.0f}{base_med - bare_med:>+8.0f}"
            f"{med:>10.3f}x{mean:>10.3f}x  <={PER_CALL_TARGET:.2f}x {verdict(med, PER_CALL_TARGET)}"
        )
    print()
    print("Start-up, spawn to first tools/list answer over stdio (initialize + tools/list), milliseconds:")
    print(f"{len(startup.base)} spawns per server, alternating ABBA.")
    header = f"{'server':<8}{'median':>9}{'min':>9}{'max':>9}"
    print_header(header)
    for name, samples in (("base", startup.base), ("bare", startup.bare)):
        print(f"{name:<8}{statistics.median(samples) * 1e3:>9.0f}{min(samples) * 1e3:>9.0f}{max(samples) * 1e3:>9.0f}")
    ratio = startup.ratio(statistics.median)
    print("(Both list one tool, echo.)")
    print(f"ratio base/bare (median): {ratio:.3f}x  target <={STARTUP_TARGET:.1f}x  {verdict(ratio, STARTUP_TARGET)}")
    print()
    expected = len(ERAS) * (args.calls + args.warmup)
    print("Audit log on for the base throughout (one JSON line per tools/call, to a temporary file):")
    for where, lines in audit.items():
        print(f"  {where}: {lines} lines written (calls made: {expected})")
    print("In memory, client and server share one process, so the client's (equal) cost dilutes the ratio;")
    print("'+med' is the base's extra time per call, in microseconds.")


async def main(args: argparse.Namespace) -> None:
    # Imported here, not at the top, so that `--help` answers without loading the SDK.
    from bare_echo import server as bare_server
    from base_echo import connector

    with tempfile.TemporaryDirectory(prefix="patchbay-bench-") as tmp:
        memory_log = Path(tmp, "audit-memory.jsonl")
        stdio_log = Path(tmp, "audit-stdio.jsonl")
        base_params = StdioServerParameters(
            command=sys.executable, args=[str(BASE_ECHO), "--audit-log", str(stdio_log)]
        )
        bare_params = StdioServerParameters(command=sys.executable, args=[str(BARE_ECHO)])

        calls: list[Result] = []
        for mode in ERAS:
            base_server = connector.build(connector.load_settings({"audit_log": memory_log}))
            step = per_call(f"memory, {mode}", base_server, bare_server, mode, args.calls, args.warmup)
            calls.append(await progress(step))
        for mode in ERAS:
            step = per_call(f"stdio, {mode}", base_params, bare_params, mode, args.calls, args.warmup)
            calls.append(await progress(step))
        startup = await progress(start_up(base_params, bare_params, args.spawns))
        audit = {"in memory": count_lines(memory_log), "stdio": count_lines(stdio_log)}
    report(calls, startup, audit, args)
    for r in calls:  # for bench/summary.py: issue 17's table
        common.record(f"base per call, {r.label}", ours=statistics.median(r.base), bare=statistics.median(r.bare))
    common.record("start-up, base echo", ours=statistics.median(startup.base), bare=statistics.median(startup.bare))


async def progress(step: Awaitable[Result]) -> Result:
    started = time.perf_counter()
    result = await step
    print(f"  measured {result.label:<22} in {time.perf_counter() - started:5.1f} s", file=sys.stderr)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per server and setting (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed calls per server first (default 200)")
    parser.add_argument("--spawns", type=int, default=16, help="start-ups per server (default 16)")
    run_benchmark(main, parser.parse_args())
