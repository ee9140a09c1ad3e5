"""Throughput of 1, 2 and 3 stateless replicas behind nginx round-robin, in one run.

Starts three replicas of the example connector (`python -m patchbay.example --transport
http`, stateless, a shared `PATCHBAY_EXAMPLE_STATE_KEY`, each with its own `--audit-log`
in a temporary folder) and three nginx processes in the foreground, each with a throw-away
config and prefix on a free 127.0.0.1 port, balancing over the first 1, 2 and 3 replicas
(one worker, HTTP/1.1 keepalive to the upstreams, response buffering off, the client's
Host passed on). One more row goes to replica 1 directly, without nginx, to show what the
proxy hop costs.

Each setting is loaded with `echo` calls (2026-07-28 era) for a fixed time by concurrent
connections, in rounds that visit the settings in ABBA order so that drift on a shared
machine hits all of them. Two load generators, both in this process:

1. raw HTTP: a minimal keepalive HTTP/1.1 client that POSTs the same JSON-RPC request the
   SDK sends and checks the echoed text; cheap per call, so the servers are the bottleneck;
2. mcp.Client: one `mcp.Client(url, mode="2026-07-28")` per connection, as a host would.

Throughput is calls/s (the median over rounds); scaling is relative to one replica behind
nginx. CPU use of the load generator, the replicas and nginx during the runs is shown: the
machine has only 2 cores, shared by all of them, so scaling is sub-linear by necessity.
Every call is checked and every audit line counted. Always exits 0: a benchmark reports,
it does not gate. About 70 s with the defaults. Needs nginx (`bash tools/ensure-nginx.sh`).

    uv run --frozen python bench/replicas.py [--seconds S] [--rounds N] [--concurrency C]
        [--loaders raw,sdk]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream
from common import abba_rounds, count_lines, print_header, run_benchmark

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CMD = [sys.executable, "-m", "patchbay.example"]
STATE_KEY = "bench-replicas-shared-state-key-0123456789"
REPLICAS = 3
SETTINGS = ("1 replica, direct", "1 replica", "2 replicas", "3 replicas")
BASELINE = "1 replica"
CORES = os.cpu_count() or 1
HOW_TO = "Install nginx with `bash tools/ensure-nginx.sh` (Debian's nginx via apt-get) or set PATCHBAY_NGINX."


# nginx ---------------------------------------------------------------------------------


def nginx_binary() -> str | None:
    from patchbay import testing

    return testing.nginx_binary()


@dataclass
class Process:
    """A process serving HTTP on 127.0.0.1 (a replica or nginx)."""

    name: str
    base_url: str
    pid: int

    @property
    def url(self) -> str:
        return f"{self.base_url}/mcp"

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.base_url.removeprefix("http://").split(":")
        return host, int(port)


@contextmanager
def nginx_round_robin(nginx: str, name: str, upstreams: list[str]) -> Iterator[Process]:
    from patchbay import testing

    with testing.nginx_round_robin(upstreams, nginx=nginx, access_log_format=None) as balancer:
        yield Process(name, balancer.base_url, balancer.process.pid)


@contextmanager
def replicas(scratch: Path) -> Iterator[tuple[list[Process], list[Path]]]:
    from patchbay.testing import http_server

    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHBAY_EXAMPLE_")}
    env["PATCHBAY_EXAMPLE_STATE_KEY"] = STATE_KEY
    logs = [scratch / f"audit-{i + 1}.jsonl" for i in range(REPLICAS)]
    managers = [http_server(CMD, "--audit-log", str(log), env=env) for log in logs]
    with ThreadPoolExecutor(REPLICAS) as pool:
        futures = [pool.submit(m.__enter__) for m in managers]
        wait(futures)
        started = [m for m, f in zip(managers, futures, strict=True) if f.exception() is None]
        try:
            running = [f.result() for f in futures]
            yield [Process(f"replica {i + 1}", s.base_url, s.process.pid) for i, s in enumerate(running)], logs
        finally:
            list(pool.map(lambda m: m.__exit__(None, None, None), started))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children that it waited for (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(f) for f in fields[11:13]) / ticks  # utime, stime


def nginx_cpu_seconds(master: int) -> float:
    """The master's and its workers' CPU time."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        children = []
    return cpu_seconds(master) + sum(cpu_seconds(int(c)) for c in children)


# Load generators -----------------------------------------------------------------------

HEADERS = (
    "POST /mcp HTTP/1.1\r\nHost: {host}\r\nAccept: application/json, text/event-stream\r\n"
    "Content-Type: application/json\r\nMCP-Protocol-Version: 2026-07-28\r\nMCP-Method: tools/call\r\n"
    "MCP-Name: echo\r\nContent-Length: {length}\r\n\r\n"
)
META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def echo_request(host: str, request_id: int, text: str) -> bytes:
    params = {"name": "echo", "arguments": {"text": text}, "_meta": META}
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}).encode()
    return HEADERS.format(host=host, length=len(body)).encode() + body


async def read_response(stream: BufferedByteReceiveStream) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response (Content-Length or chunked)."""
    status_line = await stream.receive_until(b"\r\n", 8192)
    status = int(status_line.split(b" ", 2)[1])
    length, chunked = None, False
    while line := await stream.receive_until(b"\r\n", 8192):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length is not None:
        return status, await stream.receive_exactly(length)
    if not chunked:
        raise RuntimeError("response without Content-Length or chunked encoding")
    parts = []
    while size := int((await stream.receive_until(b"\r\n", 1024)).split(b";")[0], 16):
        parts.append(await stream.receive_exactly(size))
        await stream.receive_until(b"\r\n", 2)
    await stream.receive_until(b"\r\n", 8192)  # end of (empty) trailers
    return status, b"".join(parts)


@dataclass
class Tally:
    calls: int = 0
    errors: list[str] = field(default_factory=list)


async def raw_connection(target: Process, worker: int, deadline: float, tally: Tally) -> None:
    host, port = target.address
    stream: SocketStream = await anyio.connect_tcp(host, port)
    async with stream:
        buffered = BufferedByteReceiveStream(stream)
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            text = f"bench {worker}-{n}"
            await stream.send(echo_request(f"{host}:{port}", n, text))
            status, body = await read_response(buffered)
            if status != 200 or f'"structuredContent":{{"text":"{text}"}}' not in body.decode():
                tally.errors.append(f"HTTP {status}: {body[:300]!r}")
                return
            tally.calls += 1


async def sdk_connection(target: Process, worker: int, deadline: float, tally: Tally) -> None:
    import mcp

    async with mcp.Client(target.url, mode="2026-07-28") as client:
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            arguments = {"text": f"bench {worker}-{n}"}
            result = await client.call_tool("echo", arguments)
            if result.is_error or result.structured_content != arguments:
                tally.errors.append(f"echo answered {result!r}"[:300])
                return
            tally.calls += 1


Loader = Callable[[Process, int, float, Tally], Coroutine[Any, Any, None]]  # what start_soon takes
LOADERS: dict[str, tuple[str, Loader]] = {
    "raw": ("raw HTTP client, cheap per call: the replicas are the bottleneck", raw_connection),
    "sdk": ("one mcp.Client per connection, all in this one process: the client is the bottleneck", sdk_connection),
}


@dataclass
class Run:
    """One timed load of one setting."""

    calls: int
    seconds: float
    cpu: dict[str, float]  # CPU seconds used during the run, by who
    errors: list[str]

    @property
    def rate(self) -> float:
        return self.calls / self.seconds


async def load(loader: Loader, target: Process, concurrency: int, seconds: float, watched: dict[str, list[int]]) -> Run:
    tally = Tally()

    def cpu() -> dict[str, float]:
        used = {"load generator": time.process_time()}
        for who, pids in watched.items():
            used[who] = sum(nginx_cpu_seconds(p) if who == "nginx" else cpu_seconds(p) for p in pids)
        return used

    before = cpu()
    started = time.perf_counter()
    deadline = started + seconds
    async with anyio.create_task_group() as tg:
        for worker in range(concurrency):
            tg.start_soon(loader, target, worker, deadline, tally)
    elapsed = time.perf_counter() - started
    after = cpu()
    return Run(tally.calls, elapsed, {k: after[k] - before[k] for k in after}, tally.errors)


# Report --------------------------------------------------------------------------------


def report(
    results: dict[str, dict[str, list[Run]]], made: int, audit: dict[str, int], args: argparse.Namespace
) -> None:
    print()
    print(f"Throughput of echo (2026-07-28 era), calls/s: {args.concurrency} concurrent keepalive connections,")
    print(f"{args.rounds} rounds of {args.seconds:g} s per setting (settings in ABBA order); median over rounds.")
    print(f"nginx: round-robin, 1 worker, HTTP/1.1 keepalive upstream, proxy_buffering off. Machine: {CORES} cores.")
    for key, by_setting in results.items():
        title = LOADERS[key][0]
        print()
        print(f"Load generator: {title}")
        header = (
            f"{'setting':<20}{'calls/s':>9}{'min':>8}{'max':>8}{'vs 1':>7}{'linear':>8}{'per replica':>13}"
            f"   CPU cores used: {'loadgen':>8}{'replicas':>9}{'nginx':>7}{'total':>7}"
        )
        print_header(header)
        base = statistics.median(r.rate for r in by_setting[BASELINE])
        for setting in SETTINGS:
            runs = by_setting[setting]
            rates = [r.rate for r in runs]
            med = statistics.median(rates)
            n = int(setting[0])
            wall = sum(r.seconds for r in runs)
            cores = {who: sum(r.cpu.get(who, 0.0) for r in runs) / wall for who in runs[0].cpu}
            total = sum(cores.values())
            linear = f"{n:.2f}x" if "direct" not in setting else ""
            print(
                f"{setting:<20}{med:>9.0f}{min(rates):>8.0f}{max(rates):>8.0f}{med / base:>6.2f}x{linear:>8}"
                f"{med / n:>13.0f}   {'':>16}{cores['load generator']:>8.2f}{cores.get('replicas', 0):>9.2f}"
                f"{cores.get('nginx', 0):>7.2f}{total:>7.2f}"
            )
            errors = [e for r in runs for e in r.errors]
            if errors:
                print(f"  {len(errors)} connection(s) stopped on an error, e.g. {errors[0]}")
    print()
    print(
        f"Scaling is sub-linear here by necessity: this machine has {CORES} cores, shared by the load generator,\n"
        "nginx and every replica. A replica is one Python process, so it can use at most one core: one replica\n"
        "is capped at one core, a second one can take the other core, and a third has no core left to use\n"
        "(see 'total' CPU, at most 2.00). With a core per replica and the load generator elsewhere, the\n"
        "replicas share nothing (stateless, a shared state key), so expect near-linear scaling there.\n"
        "The mcp.Client rows are limited by the client, one Python process for all connections: more\n"
        "replicas cannot make it faster. 'vs 1' is relative to 1 replica behind nginx; 'linear' is the\n"
        "ideal; '1 replica, direct' bypasses nginx and shows what the proxy hop costs."
    )
    print()
    verdict = "one line per call" if sum(audit.values()) == made else "MISMATCH"
    print(
        f"Audit log on (one file per replica): {sum(audit.values())} lines for {made} calls made, warm-up "
        f"included: {verdict} ({', '.join(f'{k}: {v}' for k, v in audit.items())})."
    )


async def main(args: argparse.Namespace) -> None:
    nginx = nginx_binary()
    if nginx is None:
        print(f"bench/replicas.py: nginx not found; nothing measured. {HOW_TO}")
        return
    loaders = [k.strip() for k in args.loaders.split(",") if k.strip()]
    with tempfile.TemporaryDirectory(prefix="patchbay-bench-replicas-") as tmp, ExitStack() as stack:
        started = time.perf_counter()
        running, logs = stack.enter_context(replicas(Path(tmp)))
        upstreams = [p.base_url.removeprefix("http://") for p in running]
        targets: dict[str, Process] = {SETTINGS[0]: running[0]}
        for n in range(1, REPLICAS + 1):
            setting = SETTINGS[n]
            targets[setting] = stack.enter_context(nginx_round_robin(nginx, setting, upstreams[:n]))
        print(f"  started {REPLICAS} replicas and 3 nginx in {time.perf_counter() - started:.1f} s", file=sys.stderr)

        results: dict[str, dict[str, list[Run]]] = {}
        made = 0
        for key in loaders:
            _, loader = LOADERS[key]
            by_setting: dict[str, list[Run]] = {s: [] for s in SETTINGS}
            for setting in SETTINGS:  # warm-up: connections, imports, first-call paths
                made += (await load(loader, targets[setting], args.concurrency, 0.3, {})).calls
            for order in abba_rounds(SETTINGS, args.rounds):  # settings forwards, backwards, ...
                for setting in order:
                    n = 1 if "direct" in setting else int(setting[0])
                    watched = {"replicas": [p.pid for p in running[:n]]}
                    if "direct" not in setting:
                        watched["nginx"] = [targets[setting].pid]
                    run = await load(loader, targets[setting], args.concurrency, args.seconds, watched)
                    by_setting[setting].append(run)
                    made += run.calls
                    print(f"  {key:<4}{setting:<20}{run.rate:>8.0f} calls/s", file=sys.stderr)
            results[key] = by_setting
        audit = {f"replica {i + 1}": count_lines(log) for i, log in enumerate(logs)}
    report(results, made, audit, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one timed load (default 4)")
    parser.add_argument("--rounds", type=int, default=2, help="timed loads per setting and loader (default 2)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--loaders", default="raw,sdk", help="which load generators: raw, sdk (default both)")

    def failed(exc: Exception) -> None:  # a benchmark reports, it does not gate
        print(f"bench/replicas.py: failed: {type(exc).__name__}: {exc}")

    run_benchmark(main, parser.parse_args(), on_failure=failed)
