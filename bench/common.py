"""Helpers shared by the benchmark scripts in `bench/`.

The scripts import this module as `common` (they run as `python bench/<script>.py`, so
`bench/` is first on `sys.path`). What is here:

- running a benchmark: `run_benchmark` (the total time, and whether a failure is caught);
- ABBA ordering: `abba`, `abba_rounds`, and `time_abba`, which times two contenders in
  alternating blocks;
- samples and formatting: `sample_ratio`, `ms`, `size`, `print_header`, `print_list`,
  `count_lines`;
- the servers under test: `Server`, `locate_reference` (the pinned reference Node server
  that a `tools/ensure-reference-*.sh` script installs), `locate_ours` (a patchbay connector
  in this environment), the bare `MCPServer` echo (`bench/bare_echo.py`), `connect` and
  `try_connect` (an `mcp.Client` over stdio), and `print_server` for the report;
- replies: `text_of`, `reply_size`, `check_seconds`;
- `RawPipe`: a minimal handshake-era JSON-RPC client over a spawned server's stdio (no SDK
  client), for the servers' side alone.

The MCP SDK is imported where it is used, so that a script's `--help` answers without it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from anyio.streams.buffered import BufferedByteReceiveStream

if TYPE_CHECKING:
    import mcp
    from mcp.types import CallToolResult, ListToolsResult

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BARE_ECHO = BENCH / "bare_echo.py"
BASE_ECHO = BENCH / "base_echo.py"

T = TypeVar("T")
Stat = Callable[[list[float]], float]
"""A statistic over timing samples: `statistics.median`, `min`, ..."""
ToolSignature = tuple[str, list[str], list[str]]
"""A tool as listed: name, argument names, required argument names."""


# --------------------------------------------------------------------------------------
# Running a benchmark


def run_benchmark(
    main: Callable[[argparse.Namespace], Awaitable[None]],
    args: argparse.Namespace,
    on_failure: Callable[[Exception], None] | None = None,
) -> None:
    """Run `main(args)` under anyio, then print the total benchmark time.

    With `on_failure`, an exception from `main` goes to it and the total is printed all the
    same (a benchmark reports, it does not gate); without, the exception propagates.
    """
    started = time.perf_counter()
    if on_failure is None:
        anyio.run(main, args)
    else:
        try:
            anyio.run(main, args)
        except Exception as exc:
            on_failure(exc)
    print(f"\nTotal benchmark time: {time.perf_counter() - started:.0f} s")


def report_failure(exc: Exception) -> None:
    """The usual `on_failure` for `run_benchmark`: one line on stderr."""
    print(f"\nbenchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)


# --------------------------------------------------------------------------------------
# ABBA ordering, so that drift on a shared machine hits every contender alike


def abba_rounds(items: Sequence[T], rounds: int) -> list[list[T]]:
    """The order of `items` in each of `rounds` rounds: forwards, backwards, forwards, ..."""
    return [list(items) if r % 2 == 0 else list(reversed(items)) for r in range(rounds)]


def abba(rounds: int) -> list[bool]:
    """Run order of two contenders, True for A: A, B, B, A, A, B, ...; `rounds` turns each."""
    return [is_a for order in abba_rounds((True, False), rounds) for is_a in order]


@dataclass
class Timed:
    """One contender of an A/B comparison: one unit of work, and where its timings go."""

    work: Callable[[], Awaitable[object]]
    samples: list[float]


async def time_abba(a: Timed | None, b: Timed | None, rounds: int, block: int) -> None:
    """Time `rounds` blocks of `block` units of work per contender, each unit on its own.

    With both contenders, their blocks alternate in ABBA order; with one, its blocks run
    back to back; with none, nothing runs.
    """
    if a is None and b is None:
        return
    order = abba(rounds) if a is not None and b is not None else [a is not None] * rounds
    for is_a in order:
        timed = a if is_a else b
        assert timed is not None
        for _ in range(block):
            started = time.perf_counter()
            await timed.work()
            timed.samples.append(time.perf_counter() - started)


# --------------------------------------------------------------------------------------
# Samples and formatting


def sample_ratio(a: list[float], b: list[float], stat: Stat = statistics.median) -> float | None:
    """`stat(a) / stat(b)`, or None when either side has no samples."""
    if not a or not b:
        return None
    return stat(a) / stat(b)


def ms(samples: list[float], stat: Stat = statistics.median, digits: int = 2) -> str:
    """`stat` of timings in seconds, shown in milliseconds; "-" without samples."""
    return f"{stat(samples) * 1e3:.{digits}f}" if samples else "-"


def size(n: int | None, mib_digits: int = 1) -> str:
    """A byte count in KiB below 1 MiB, else in MiB; "-" for None."""
    if n is None:
        return "-"
    if n < 1 << 20:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1 << 20):.{mib_digits}f} MiB"


def print_header(header: str) -> None:
    """A table's header line and a rule under it, as long as the header."""
    print(header)
    print("-" * len(header))


def print_list(title: str, lines: Sequence[str]) -> None:
    """A blank line, the title, and the lines indented by two spaces; nothing without lines."""
    if not lines:
        return
    print()
    print(title)
    for line in lines:
        print(f"  {line}")


RESULTS_ENV = "PATCHBAY_BENCH_RESULTS"
"""A file the scripts append their headline figures to (JSON lines), for `bench/summary.py`."""


def record(row: str, **figures: float | str | None) -> None:
    """Append one headline figure set (`row` names a row of summary.py's table) to the results
    file named by PATCHBAY_BENCH_RESULTS; nothing without it. Seconds for times, bytes for memory."""
    path = os.environ.get(RESULTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"row": row, **figures}) + "\n")


def count_lines(path: Path) -> int:
    """Lines in a text file (an audit log), 0 when it does not exist."""
    return len(path.read_text().splitlines()) if path.exists() else 0


# --------------------------------------------------------------------------------------
# The servers under test


@dataclass
class Server:
    """A stdio MCP server under test: how to start it, what it is, and what connecting found."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)  # on top of this process's environment
    version: str = "?"
    runtime: str = "?"
    era: str = "?"  # negotiated by mcp.Client with mode="auto"
    other_eras: dict[str, str] = field(default_factory=dict)  # client mode -> negotiated era (or why not)
    connect_seconds: float = 0.0  # spawn to connected, mode "auto"
    tools: list[ToolSignature] = field(default_factory=list)
    error: str | None = None  # why it is not measured
    tool_sizes: dict[str, int] = field(default_factory=dict)  # name -> model-facing characters in tools/list


def python_runtime() -> str:
    """This interpreter, as the report shows a runtime: `python 3.11.7`."""
    return f"python {sys.version.split()[0]}"


def bare_echo_command() -> list[str]:
    """The command of the floor: `bench/bare_echo.py`, an echo tool on a bare `MCPServer`."""
    return [sys.executable, str(BARE_ECHO)]


def locate_reference(server: Server, ensure: Path, node: str | None) -> Path | None:
    """Install (or find) the pinned reference server with `ensure --print-command`.

    Fills in `server`: its command (`[node, script]`), version (from the package's
    package.json) and runtime (`node --version`). `node` overrides the node binary
    (`PATCHBAY_REFERENCE_NODE`). Returns the script's path, or None with `server.error` set
    when the install script fails.
    """
    env = dict(os.environ)
    if node:
        env["PATCHBAY_REFERENCE_NODE"] = node
    failed = f"tools/{ensure.name} failed"
    try:
        done = subprocess.run(
            ["bash", str(ensure), "--print-command"], capture_output=True, text=True, env=env, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        server.error = f"{failed}: {exc}"
        return None
    if done.returncode != 0:
        server.error = f"{failed}: {done.stderr.strip()[-500:]}"
        return None
    node_binary, script = done.stdout.strip().splitlines()[-2:]
    server.command = [node_binary, script]
    package = json.loads((Path(script).parent.parent / "package.json").read_text())
    server.version = f"{package['name']} {package['version']}"
    version = subprocess.run([node_binary, "--version"], capture_output=True, text=True).stdout.strip()
    server.runtime = f"node {version}"
    return Path(script)


def locate_ours(server: Server, module: str, distributions: Sequence[str]) -> bool:
    """Check that our connector's `module` is installed in this environment.

    Fills in `server.version` from the `distributions` (the connector's first, then what it
    runs on) and `server.runtime`. Returns False, with `server.error` set, when the module
    is missing.
    """
    if importlib.util.find_spec(module) is None:
        server.error = f"{module} is not installed in this environment (run `make sync`)"
        return False
    try:
        server.version = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in distributions)
    except importlib.metadata.PackageNotFoundError:
        server.version = f"{distributions[0]} (no distribution metadata)"
    server.runtime = python_runtime()
    return True


def tool_signatures(listing: ListToolsResult) -> list[ToolSignature]:
    """Name, argument names and required argument names of each tool in a tools/list result."""
    signatures = []
    for tool in listing.tools:
        schema = tool.input_schema or {}
        signatures.append(
            (tool.name, list((schema.get("properties") or {}).keys()), list(schema.get("required") or []))
        )
    return signatures


def tool_signature(tool: ToolSignature) -> str:
    """A tool as the report shows it: `name(arg*, other)`, `*` marking required arguments."""
    name, props, required = tool
    return f"{name}({', '.join(p + ('*' if p in required else '') for p in props)})"


async def connect(
    server: Server, params: mcp.StdioServerParameters, stack: AsyncExitStack, mode: str = "auto"
) -> mcp.Client:
    """An `mcp.Client` on a freshly spawned server, kept open by `stack`; raises if it cannot connect.

    Lists the tools at once (the session's listing also feeds its output-schema checks). The
    first connection in mode "auto" records the server's connect time, era and tools; one in
    another mode records the era negotiated in that mode.
    """
    import mcp

    started = time.perf_counter()
    client = await stack.enter_async_context(mcp.Client(params, mode=mode, cache=None))
    seconds = time.perf_counter() - started
    listing = await client.session.list_tools()
    if mode != "auto":
        server.other_eras[mode] = str(client.protocol_version)
    elif not server.tools:
        server.connect_seconds = seconds
        server.era = str(client.protocol_version)
        server.tools = tool_signatures(listing)
    return client


async def try_connect(
    server: Server,
    params: Callable[[], mcp.StdioServerParameters],
    stack: AsyncExitStack,
    mode: str = "auto",
) -> mcp.Client | None:
    """As `connect`, but None for a server that is out already or cannot connect.

    Why it could not connect is recorded: as `server.error` in mode "auto" (the server is
    then out), in `server.other_eras` in another mode.
    """
    if server.error:
        return None
    try:
        return await connect(server, params(), stack, mode)
    except Exception as exc:
        reason = f"could not connect: {type(exc).__name__}: {exc}"
        if mode == "auto":
            server.error = reason
        else:
            server.other_eras[mode] = reason
        return None


def print_server(server: Server) -> bool:
    """The report's lines on a server: what it is, spawn to connected, eras negotiated.

    Returns False for a server that was not measured (after one line that says why), so
    that the caller adds its own lines only for the others.
    """
    if server.error:
        print(f"{server.name:<10} NOT MEASURED: {server.error}")
        return False
    print(
        f"{server.name:<10} {server.version} on {server.runtime}; "
        f"spawn to connected {server.connect_seconds * 1e3:.0f} ms"
    )
    eras = "; ".join(f"mode={mode}: {era}" for mode, era in {"auto": server.era, **server.other_eras}.items())
    print(f"{'':<10} era negotiated by mcp.Client: {eras}")
    return True


# --------------------------------------------------------------------------------------
# Start-up


async def start_up(ours_command: list[str], env: Mapping[str, str], spawns: int) -> None:
    """Spawn to the first tools/list answer: ours against a bare MCPServer echo (goal: at most 1.15x)."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    bare = bare_echo_command()
    samples: dict[bool, list[float]] = {True: [], False: []}
    for is_ours in abba(spawns):
        command = ours_command if is_ours else bare
        params = StdioServerParameters(command=command[0], args=command[1:], env={**os.environ, **env})
        started = time.perf_counter()
        async with Client(params, mode="legacy") as client:
            await client.list_tools()
        samples[is_ours].append(time.perf_counter() - started)
    ours_ms, bare_ms = (statistics.median(samples[k]) * 1e3 for k in (True, False))
    verdict = "PASS" if ours_ms <= 1.15 * bare_ms else "OVER"
    print(
        f"\nstart-up to the first tools/list, {spawns} spawns each (ABBA): ours {ours_ms:.0f} ms, bare MCPServer "
        f"{bare_ms:.0f} ms, {ours_ms / bare_ms:.2f}x (goal at most 1.15x: {verdict})"
    )


# --------------------------------------------------------------------------------------
# tools/list as the model reads it


def tool_size(tool: Any) -> int:
    """Characters of one tool as the model reads it: name, description and input schema (compact JSON)."""
    schema = json.dumps(tool.input_schema or {}, separators=(",", ":"), ensure_ascii=False)
    return len(tool.name) + len(tool.description or "") + len(schema)


async def measure_tools(server: Server, client: mcp.Client) -> None:
    """Record the model-facing size of each tool the server lists (its default, read-only listing)."""
    listing = await client.session.list_tools()
    server.tool_sizes = {tool.name: tool_size(tool) for tool in listing.tools}


def print_tool_sizes(servers: Sequence[Server]) -> None:
    """Per tool and on average, characters of tools/list the model reads; the goal: ours at most the reference's."""
    measured = [s for s in servers if s.tool_sizes]
    if not measured:
        return
    print()
    print("tools/list as the model reads it: characters per tool (name + description + input schema as compact")
    print("JSON), in each server's default listing; goal: ours on average at most the reference's.")
    names = sorted({name for s in measured for name in s.tool_sizes})
    header = f"{'tool':<28}" + "".join(f"{s.name:>12}" for s in measured)
    print_header(header)
    for name in names:
        print(f"{name:<28}" + "".join(f"{s.tool_sizes.get(name, '-'):>12}" for s in measured))
    averages = {s.name: sum(s.tool_sizes.values()) / len(s.tool_sizes) for s in measured}
    print(f"{'average per tool':<28}" + "".join(f"{averages[s.name]:>12.0f}" for s in measured))
    print(f"{'tools listed':<28}" + "".join(f"{len(s.tool_sizes):>12}" for s in measured))
    if "ours" in averages and "reference" in averages:
        verdict = "PASS" if averages["ours"] <= averages["reference"] else "MISS"
        print(f"ours {averages['ours']:.0f} vs reference {averages['reference']:.0f} per tool: {verdict}")


# --------------------------------------------------------------------------------------
# Replies


def text_of(result: CallToolResult) -> str:
    """The text blocks of a tools/call result, joined."""
    return "".join(getattr(block, "text", "") for block in result.content)


def reply_size(result: CallToolResult) -> int:
    """Bytes of a tools/call result as the client got it (re-serialized)."""
    return len(result.model_dump_json(by_alias=True, exclude_none=True, exclude={"result_type"}))


async def check_seconds(client: mcp.Client, replies: Sequence[tuple[str, CallToolResult]]) -> float:
    """What the client's output-schema check (jsonschema, run in every call_tool) costs on these replies."""
    started = time.perf_counter()
    for tool, result in replies:
        await client.session.validate_tool_result(tool, result)
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------
# The raw pipe: tools/call requests with no SDK client (the servers' side alone)


class RawPipe:
    """A minimal handshake-era JSON-RPC client over a spawned server's stdio.

    Writes a request line and reads lines up to the answer, parsing nothing but the id: the
    reply line's cost is the server's and the pipe's, not a client's.
    """

    def __init__(self, command: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        """`command` is spawned with this process's environment, updated with `env`."""
        self.command = list(command)
        self.env = {**os.environ, **(env or {})}
        self.next_id = 0

    async def __aenter__(self) -> RawPipe:
        self.process = await anyio.open_process(self.command, stderr=subprocess.DEVNULL, env=self.env)
        assert self.process.stdout is not None
        self.reader = BufferedByteReceiveStream(self.process.stdout)
        init = {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "patchbay-bench-raw", "version": "0"},
        }
        await self.request("initialize", init)
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.aclose()
        with anyio.move_on_after(5):
            await self.process.wait()
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    async def send(self, message: dict[str, Any]) -> None:
        """Write one JSON-RPC message line."""
        assert self.process.stdin is not None
        await self.process.stdin.send(json.dumps(message).encode() + b"\n")

    async def request(self, method: str, params: dict[str, Any]) -> bytes:
        """Send a request; the answer's line, unparsed."""
        self.next_id += 1
        await self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        # Match the id without parsing the (possibly huge) line: Node puts it last, Python first.
        marker = re.compile(rb'"id":\s*%d\s*[,}]' % self.next_id)
        while True:  # skip notifications; answers come in order here
            line = await self.reader.receive_until(b"\n", max_bytes=1 << 31)
            if marker.search(line[:80]) or marker.search(line[-80:]):
                return line

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> bytes:
        """A tools/call request; the answer's line, unparsed."""
        return await self.request("tools/call", {"name": name, "arguments": arguments})


def raw_result(line: bytes, who: str) -> dict[str, Any]:
    """The `result` of a raw tools/call answer line; raises on an error or an error result."""
    reply = json.loads(line)
    if "error" in reply or reply["result"].get("isError"):
        raise RuntimeError(f"{who}: raw pipe: error reply: {line[:300]!r}")
    result: dict[str, Any] = reply["result"]
    return result
