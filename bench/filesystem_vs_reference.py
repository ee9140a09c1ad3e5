"""The filesystem connector against the reference Node server, on one generated tree.

Compares `patchbay-filesystem` (ours, `python -m patchbay_filesystem TREE`, read-only
default) with the reference MCP filesystem server (npm `@modelcontextprotocol/server-filesystem`,
pinned and installed by `tools/ensure-reference-fs.sh`, run on the system Node) on the same
tree of 20,000 files, generated once per run in a temporary folder. Both are driven by the
same Python client, `mcp.Client(StdioServerParameters(...), mode="auto")`, over stdio, side
by side, alternating in ABBA blocks so that drift on a shared machine hits both:

1. `list_directory` of a small folder (many calls), with ours also in the legacy era (the
   only one the reference speaks) and on the standard asyncio loop (PATCHBAY_EVENT_LOOP=asyncio;
   it serves on uvloop by default), and a floor row: a bare `MCPServer` echo
   (`bench/bare_echo.py`, on the standard loop as the SDK runs), the least any Python server
   costs per call with this client;
2. `directory_tree` of the whole tree (the reference has no depth limit, so ours is asked
   for every level and a cap above the tree's size), and of one top folder (a bounded reply);
3. `search_files` for a name pattern over the whole tree;
4. `search_file_contents`: the reference has no content search; ours is timed alone over
   the whole tree, and against the closest thing the reference offers on one top folder
   (`search_files` + `read_multiple_files`, then a grep in the client).

Every reply is checked against what the generator made (entry and match counts), and its
size is reported (the SDK client is slow on very long stdio lines, so the client can
dominate a large reply), with what the client's output-schema check costs on it. The
calls are also timed over a raw JSON-RPC pipe (no SDK client: write the request, read the
reply line), which shows the servers' side alone. Ours keeps its audit log on, into a
temporary file.

Speedup is reference/ours on the medians. Targets: at least 3x on tree and search, at
least 1x (no slower) on small calls. Always exits 0: a benchmark reports, it does not gate.
About a minute; the first run also installs the reference with npm (a few seconds).

    uv run --frozen python bench/filesystem_vs_reference.py [--small-calls N] [--rounds N]
        [--raw-rounds N] [--reference-node PATH] [--no-reference] [--no-ours] [--keep-tree]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import common
from common import (
    ROOT,
    RawPipe,
    Timed,
    bare_echo_command,
    check_seconds,
    locate_ours,
    locate_reference,
    measure_tools,
    print_header,
    print_list,
    print_server,
    print_tool_sizes,
    python_runtime,
    raw_result,
    report_failure,
    run_benchmark,
    sample_ratio,
    text_of,
    time_abba,
    tool_signature,
    try_connect,
)

if TYPE_CHECKING:
    import mcp

ENSURE_REFERENCE = ROOT / "tools" / "ensure-reference-fs.sh"
TREE_TARGET = 3.0  # minimum speedup (reference/ours) on tree and search
SMALL_TARGET = 1.0  # small calls: no slower

# The generated tree: TOPS x SUBS folders; in each, FILES files, the last NESTED of them two
# levels further down (sub/deep/lvl2/), so the tree is 5 levels deep at most.
TOPS, SUBS, FILES, NESTED = 20, 10, 100, 10
BINARY_FILE = 50  # in every top's s0: f050.bin, binary (no .txt), 20 in all
NEEDLE = "needle"
NEEDLE_EVERY = 37  # a file whose global index divides by this has one line with the needle
WORDS: tuple[str, ...] = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa")
WORDS += ("lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon")
SMALL_DIR = "d00"  # 10 sub-folders: the small listing
TOP_DIR = "d03"  # one top folder: the bounded tree and the emulated content search
NAME_SUFFIX = "7.txt"  # search_files: names ending in 7.txt, 10% of the files


# --------------------------------------------------------------------------------------
# The tree


@dataclass
class Tree:
    """What the generator made, to check every reply against."""

    root: Path
    files: int = 0
    dirs: int = 0
    binaries: int = 0
    bytes: int = 0
    needle_lines: int = 0
    suffix_files: int = 0
    top_entries: int = 0  # entries below TOP_DIR (not counting itself)
    top_needle_lines: int = 0
    seconds: float = 0.0

    @property
    def entries(self) -> int:
        return self.files + self.dirs


def generate_tree(root: Path) -> Tree:
    """Deterministic: the same names and contents on every run."""
    started = time.perf_counter()
    root = root.resolve()  # the servers report real paths
    tree = Tree(root)
    binary = bytes(range(256)) * 4
    for d in range(TOPS):
        top = f"d{d:02d}"
        tree.dirs += 1
        for s in range(SUBS):
            base = root / top / f"s{s}"
            deep = base / "deep" / "lvl2"
            deep.mkdir(parents=True)
            tree.dirs += 3
            if top == TOP_DIR:
                tree.top_entries += 3
            for f in range(FILES):
                where = base if f < FILES - NESTED else deep
                tree.files += 1
                if top == TOP_DIR:
                    tree.top_entries += 1
                if s == 0 and f == BINARY_FILE:
                    (where / f"f{f:03d}.bin").write_bytes(binary)
                    tree.binaries += 1
                    tree.bytes += len(binary)
                    continue
                i = (d * SUBS + s) * FILES + f
                lines = [" ".join(WORDS[(i + k * 7 + j) % len(WORDS)] for j in range(8)) for k in range(6 + i % 5)]
                if i % NEEDLE_EVERY == 0:
                    lines.insert(i % 4, f"the {NEEDLE} is here, in file number {i}")
                    tree.needle_lines += 1
                    if top == TOP_DIR:
                        tree.top_needle_lines += 1
                text = "\n".join(lines) + "\n"
                (where / f"f{f:03d}.txt").write_text(text)
                tree.bytes += len(text)
                if f"f{f:03d}.txt".endswith(NAME_SUFFIX):
                    tree.suffix_files += 1
    tree.seconds = time.perf_counter() - started
    return tree


# --------------------------------------------------------------------------------------
# The two servers and what each is asked

Results = list[tuple[str, Any]]  # (tool name, CallToolResult) for each call one unit of work made
Runner = Callable[[Any], Awaitable[Results]]  # given an mcp.Client


@dataclass
class Side:
    """How to ask one server for one operation, and how to count what it answered."""

    run: Runner
    count: Callable[[Results], int]
    calls: list[tuple[str, dict[str, Any]]]  # the tools/call requests, for the raw pipe and the report


@dataclass
class Op:
    key: str
    label: str
    calls: int  # timed units of work per server
    block: int  # units per ABBA block
    expected: int
    target: float | None  # minimum speedup, None: no target (not like-for-like, or one side only)
    reference: Side | None
    ours: Side | None
    raw: bool = False  # also time over a raw JSON-RPC pipe
    ours_expected: int | None = None  # when ours is asked something else (the floor)
    ours_mode: str = "auto"  # the client for ours: "auto", "legacy" (mode), "asyncio" (the standard loop), or "bare"
    note: str = ""


@dataclass
class Server(common.Server):
    """A server under test; the tree's path goes last on its command line (unless `takes_tree` is off)."""

    takes_tree: bool = True


def single(tool: str, arguments: dict[str, Any]) -> Side:
    """A side that is one tools/call; `count` is filled in by the caller."""

    async def run(client: Any) -> Results:
        return [(tool, await client.call_tool(tool, arguments))]

    return Side(run, lambda _: -1, [(tool, arguments)])


def count_lines(results: Results) -> int:
    text = text_of(results[-1][1])
    if text.strip() in ("", "No matches found"):
        return 0
    return len(text.splitlines())


def count_json_tree(results: Results) -> int:
    def walk(nodes: list[dict[str, Any]]) -> int:
        return sum(1 + walk(node.get("children") or []) for node in nodes)

    return walk(json.loads(text_of(results[-1][1])))


def reference_ops(tree: Tree) -> dict[str, Side]:
    root = str(tree.root)
    sides = {
        "list": single("list_directory", {"path": f"{root}/{SMALL_DIR}"}),
        "tree": single("directory_tree", {"path": root}),
        "tree_top": single("directory_tree", {"path": f"{root}/{TOP_DIR}"}),
        "search": single("search_files", {"path": root, "pattern": f"**/*{NAME_SUFFIX}"}),
    }
    sides["list"].count = count_lines
    sides["tree"].count = count_json_tree
    sides["tree_top"].count = count_json_tree
    sides["search"].count = count_lines

    # The closest the reference comes to a content search: list the files, read them all
    # in one call, grep in the client. Timed as one unit.
    top = f"{root}/{TOP_DIR}"
    needle = re.compile(re.escape(NEEDLE))

    async def emulate(client: Any) -> Results:
        found = await client.call_tool("search_files", {"path": top, "pattern": "**/*.txt"})
        paths = text_of(found).splitlines()
        read = await client.call_tool("read_multiple_files", {"paths": paths})
        return [("search_files", found), ("read_multiple_files", read)]

    def grep_count(results: Results) -> int:
        return len(needle.findall(text_of(results[-1][1])))

    async def emulate_and_grep(client: Any) -> Results:
        results = await emulate(client)
        grep_count(results)  # the client's share of the work, inside the timing
        return results

    sides["contents_top"] = Side(
        emulate_and_grep,
        grep_count,
        [("search_files", {"path": top, "pattern": "**/*.txt"}), ("read_multiple_files", {"paths": ["..."]})],
    )
    return sides


# Ours: read off servers/filesystem/src/patchbay_filesystem/server.py. Its caps are asked at
# their maximum (max_depth 64, max_entries 100,000, max_results and max_matches 10,000), all
# above what the tree holds, so ours returns everything, like the reference.


def structured(results: Results) -> dict[str, Any]:
    content = results[-1][1].structured_content
    if not isinstance(content, dict):
        raise RuntimeError(f"no structured content in {text_of(results[-1][1])[:200]!r}")
    return content


def count_ours_items(results: Results) -> int:  # Page[...]: list_directory, search_files
    content = structured(results)
    if content.get("next_cursor"):
        raise RuntimeError(f"a partial page ({len(content['items'])} items and a next_cursor)")
    return len(content["items"])


def count_ours_tree(results: Results) -> int:
    content = structured(results)
    if content.get("truncated"):
        raise RuntimeError(f"truncated at {content.get('entries')} entries")
    return len(content["tree"].splitlines())  # one entry per line


def count_ours_matches(results: Results) -> int:
    content = structured(results)
    if content.get("truncated"):
        raise RuntimeError(f"truncated at {len(content['matches'])} matches")
    return len(content["matches"])


def ours_ops(tree: Tree) -> dict[str, Side]:
    whole = {"max_depth": 64, "max_entries": 100_000}
    grep = {"query": NEEDLE, "max_matches": 10_000, "max_matches_per_file": 1000}
    sides = {
        "list": single("list_directory", {"path": SMALL_DIR}),
        "tree": single("directory_tree", {"path": ".", **whole}),
        "tree_top": single("directory_tree", {"path": TOP_DIR, **whole}),
        "search": single("search_files", {"path": ".", "pattern": f"*{NAME_SUFFIX}", "max_results": 10_000}),
        "contents": single("search_file_contents", {"path": ".", **grep}),
        "contents_top": single("search_file_contents", {"path": TOP_DIR, **grep}),
    }
    sides["list"].count = count_ours_items
    sides["echo"] = single("echo", {"text": "hello, patchbay"})
    sides["echo"].count = lambda results: int(structured(results) == {"text": "hello, patchbay"})
    sides["tree"].count = count_ours_tree
    sides["tree_top"].count = count_ours_tree
    sides["search"].count = count_ours_items
    sides["contents"].count = count_ours_matches
    sides["contents_top"].count = count_ours_matches
    return sides


def operations(
    tree: Tree, ref: dict[str, Side] | None, ours: dict[str, Side] | None, args: argparse.Namespace
) -> list[Op]:
    def pick(sides: dict[str, Side] | None, key: str) -> Side | None:
        return None if sides is None else sides.get(key)

    rounds = args.rounds
    return [
        Op("list", f"list_directory {SMALL_DIR} (10 dirs)", args.small_calls, 25, 10, SMALL_TARGET,
           pick(ref, "list"), pick(ours, "list"), raw=True),
        Op("list_legacy", "  same, ours in the legacy era", args.small_calls, 25, 10, SMALL_TARGET,
           pick(ref, "list"), pick(ours, "list"), ours_mode="legacy",
           note="ours with mode='legacy' (2025-11-25, the reference's era) instead of the 2026-07-28 it picks"),
        Op("list_asyncio", "  same, ours on the asyncio loop", args.small_calls, 25, 10, SMALL_TARGET,
           pick(ref, "list"), pick(ours, "list"), ours_mode="asyncio",
           note="ours with PATCHBAY_EVENT_LOOP=asyncio (the standard loop) instead of uvloop"),
        Op("floor", "  floor: bare MCPServer echo, for ours", args.small_calls, 25, 10, None,
           pick(ref, "list"), pick(ours, "echo"), ours_mode="bare", ours_expected=1, raw=True,
           note="ours side: bench/bare_echo.py (an echo tool on a bare MCPServer, no filesystem work), the "
           "least any Python MCPServer costs per call with this client"),
        Op("tree", "directory_tree, whole tree", rounds, 1, tree.entries, TREE_TARGET,
           pick(ref, "tree"), pick(ours, "tree"), raw=True),
        Op("tree_top", f"directory_tree {TOP_DIR} (bounded)", 4 * rounds, 2, tree.top_entries, TREE_TARGET,
           pick(ref, "tree_top"), pick(ours, "tree_top"), raw=True),
        Op("search", f"search_files *{NAME_SUFFIX}, whole tree", rounds, 1, tree.suffix_files, TREE_TARGET,
           pick(ref, "search"), pick(ours, "search"), raw=True),
        Op("contents", f"search_file_contents '{NEEDLE}', whole", rounds, 1, tree.needle_lines, None,
           None, pick(ours, "contents"), raw=True, note="the reference has no content search: ours alone"),
        Op("contents_top", f"content search {TOP_DIR}: emulated", rounds, 1, tree.top_needle_lines, None,
           pick(ref, "contents_top"), pick(ours, "contents_top"),
           note="reference: search_files + read_multiple_files + grep in the client (not like-for-like)"),
    ]  # fmt: skip


# --------------------------------------------------------------------------------------
# Measuring


@dataclass
class Measured:
    op: Op
    reference: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)
    reference_count: int | None = None
    ours_count: int | None = None
    reference_bytes: int | None = None
    ours_bytes: int | None = None
    reference_check: float | None = None  # client-side output-schema check, seconds (median)
    ours_check: float | None = None
    raw_reference: list[float] = field(default_factory=list)
    raw_ours: list[float] = field(default_factory=list)
    raw_reference_bytes: int | None = None
    raw_ours_bytes: int | None = None
    reference_text: int | None = None  # bytes of the text blocks: what the model sees
    ours_text: int | None = None
    errors: list[str] = field(default_factory=list)

    def speedup(self, stat: Callable[[list[float]], float] = statistics.median) -> float | None:
        return sample_ratio(self.reference, self.ours, stat)

    def raw_speedup(self) -> float | None:
        return sample_ratio(self.raw_reference, self.raw_ours)


def reply_size(results: Results) -> int:
    """Bytes of the JSON-RPC results as the client got them (the result objects, re-serialized)."""
    return sum(common.reply_size(result) for _, result in results)


def model_bytes(results: Results) -> int:
    """Bytes of the text blocks of the replies: what most hosts put before the model."""
    return sum(len(text_of(result).encode()) for _, result in results)


async def check_cost(client: Any, results: Results) -> float:
    """What the client's output-schema check costs on these replies: the median of three."""
    return statistics.median([await check_seconds(client, results) for _ in range(3)])


async def first_call(client: Any, side: Side, m: Measured, who: str) -> None:
    """The warm-up call: also where the reply is counted, sized and checked."""
    results = await side.run(client)
    failed = [text_of(r)[:300] for _, r in results if r.is_error]
    if failed:
        m.errors.append(f"{who}: error reply: {failed[0]}")
        count = None
    else:
        try:
            count = side.count(results)
        except Exception as exc:  # a shape the counter does not know: report, do not crash
            m.errors.append(f"{who}: could not count the reply ({type(exc).__name__}: {exc})")
            count = None
    expected = m.op.ours_expected if who == "ours" and m.op.ours_expected is not None else m.op.expected
    if count is not None and count != expected:
        m.errors.append(f"{who}: {count} entries/matches, expected {expected}")
    size = reply_size(results)
    check = await check_cost(client, results)
    text = model_bytes(results)
    if who == "reference":
        m.reference_count, m.reference_bytes, m.reference_check, m.reference_text = count, size, check, text
    else:
        m.ours_count, m.ours_bytes, m.ours_check, m.ours_text = count, size, check, text


async def measure(op: Op, reference: Any, ours: Any) -> Measured:
    m = Measured(op)
    candidates = (("reference", reference, op.reference), ("ours", ours, op.ours))
    active = [(who, client, side) for who, client, side in candidates if client is not None and side is not None]
    timed: dict[str, Timed] = {}
    for who, client, side in active:
        await first_call(client, side, m, who)
        timed[who] = Timed(partial(side.run, client), m.reference if who == "reference" else m.ours)
    blocks = max(1, op.calls // op.block)  # per server
    await time_abba(timed.get("reference"), timed.get("ours"), blocks, op.block)
    return m


# --------------------------------------------------------------------------------------
# The raw pipe: the same tools/call requests with no SDK client (server-side view)


async def call_all(pipe: RawPipe, calls: list[tuple[str, dict[str, Any]]]) -> None:
    """One unit of work over a raw pipe: the side's tools/call requests in turn."""
    for tool, arguments in calls:
        await pipe.call_tool(tool, arguments)


async def measure_raw(m: Measured, reference: Server | None, ours: Server | None, tree: Tree, rounds: int) -> None:
    """The op's tools/call requests over raw pipes, ABBA, `op.block` calls per block, each call timed."""
    candidates = (("reference", reference, m.op.reference), ("ours", ours, m.op.ours))
    active = {who: (server, side) for who, server, side in candidates if server and not server.error and side}
    if not active:
        return
    async with AsyncExitStack() as stack:
        timed: dict[str, Timed] = {}
        for who, (server, side) in active.items():
            command = [*server.command, *([str(tree.root)] if server.takes_tree else [])]
            pipe = await stack.enter_async_context(RawPipe(command))
            for tool, arguments in side.calls:  # warm-up, and the size of the raw reply line
                line = await pipe.call_tool(tool, arguments)
                try:
                    raw_result(line, who)
                except RuntimeError as exc:
                    m.errors.append(str(exc))
            if who == "reference":
                m.raw_reference_bytes = len(line)
            else:
                m.raw_ours_bytes = len(line)
            timed[who] = Timed(
                partial(call_all, pipe, side.calls), m.raw_reference if who == "reference" else m.raw_ours
            )
        await time_abba(timed.get("reference"), timed.get("ours"), rounds, m.op.block)


# --------------------------------------------------------------------------------------
# Finding and connecting the servers


def find_reference(args: argparse.Namespace) -> Server:
    server = Server("reference", [])
    locate_reference(server, ENSURE_REFERENCE, args.reference_node)
    return server


def find_ours(audit_log: Path) -> Server:
    # The audit log stays on (it is part of our cost), into a file rather than stderr.
    server = Server("ours", [sys.executable, "-m", "patchbay_filesystem", "--audit-log", str(audit_log)])
    locate_ours(server, "patchbay_filesystem", ["patchbay-filesystem"])
    return server


def params_for(server: Server, tree: Tree) -> mcp.StdioServerParameters:
    from mcp import StdioServerParameters

    tail = [str(tree.root)] if server.takes_tree else []
    return StdioServerParameters(command=server.command[0], args=[*server.command[1:], *tail], env=server.env or None)


# --------------------------------------------------------------------------------------
# Report


ms = partial(common.ms, digits=1)  # milliseconds, to 0.1
kib = partial(common.size, mib_digits=2)  # KiB, or MiB to 0.01


def verdict(op: Op, speedup: float | None) -> str:
    if op.target is None:
        return "(no target)"
    if speedup is None:
        return "n/a"
    return f">={op.target:.0f}x " + ("PASS" if speedup >= op.target else "MISS")


def report(tree: Tree, servers: list[Server], results: list[Measured], args: argparse.Namespace) -> None:
    print()
    print(
        f"Tree: {tree.files:,} files ({tree.binaries} binary) in {tree.dirs} folders, "
        f"{tree.bytes / (1 << 20):.1f} MiB, generated in {tree.seconds:.1f} s at {tree.root}"
    )
    for s in servers:
        if print_server(s):
            print(f"{'':<10} {' '.join(s.command)}" + (" TREE" if s.takes_tree else ""))
    print()
    for s in servers[:2]:
        if s.tools:
            print(f"{s.name} tools (arguments; * = required):")
            for tool in s.tools:
                print(f"  {tool_signature(tool)}")
    print()
    print("Calls made:")
    listed = set()
    for m in results:
        for who, side in (("reference", m.op.reference), ("ours", m.op.ours)):
            if side is not None and (who, id(side)) not in listed:
                listed.add((who, id(side)))
                print(f"  {m.op.key:<13}{who:<10} " + "; ".join(f"{t}({json.dumps(a)})" for t, a in side.calls))
    print()
    print("Round trip through mcp.Client over stdio, milliseconds; speedup = reference/ours on the medians")
    print("(the verdict), and on the minimums. Reference and ours alternate in ABBA blocks, after one warm-up")
    print("call each (page cache warm).")
    header = (
        f"{'operation':<40}{'n':>5}{'ref med':>9}{'ref min':>9}{'ours med':>10}{'ours min':>10}"
        f"{'speedup':>9}{'on min':>8}  target"
    )
    print_header(header)
    for m in results:
        n = max(len(m.reference), len(m.ours))
        speedup, on_min = m.speedup(), m.speedup(min)
        shown = f"{speedup:.2f}x" if speedup is not None else "-"
        shown_min = f"{on_min:.2f}x" if on_min is not None else "-"
        print(
            f"{m.op.label:<40}{n:>5}{ms(m.reference):>9}{ms(m.reference, min):>9}{ms(m.ours):>10}"
            f"{ms(m.ours, min):>10}{shown:>9}{shown_min:>8}  {verdict(m.op, speedup)}"
        )
    print()
    print("Replies: entries or matches returned (expected), and size of the results as the client got them.")
    print("'chk': what the client's output-schema check (jsonschema, run inside every call_tool) costs on")
    print("that reply, in ms; it is part of the round trips above.")
    header = (
        f"{'operation':<40}{'expected':>9}{'ref got':>9}{'ours got':>9}"
        f"{'ref size':>12}{'ours size':>12}{'ref chk':>9}{'ours chk':>9}"
    )
    print_header(header)

    def got(n: int | None) -> str:
        return "-" if n is None else f"{n:,}"

    def expected(op: Op) -> str:
        if op.ours_expected is None:
            return f"{op.expected:,}"
        return f"{op.expected:,}|{op.ours_expected:,}"

    def chk(x: float | None) -> str:
        return "-" if x is None else f"{x * 1e3:.1f}"

    for m in results:
        print(
            f"{m.op.label:<40}{expected(m.op):>9}{got(m.reference_count):>9}{got(m.ours_count):>9}"
            f"{kib(m.reference_bytes):>12}{kib(m.ours_bytes):>12}{chk(m.reference_check):>9}{chk(m.ours_check):>9}"
        )
    print()
    print("What the model sees: bytes of the text blocks (structuredContent aside), ours against the reference;")
    print("goal: at most the reference's bytes for the same information, directory_tree about a sixth of it.")
    header = f"{'operation':<40}{'ours':>12}{'reference':>12}{'goal':>12}{'ours/ref':>10}  verdict"
    print_header(header)
    for m in results:
        if m.op.ours_mode != "auto" or m.ours_text is None:
            continue
        goal = None if m.reference_text is None else m.reference_text // (6 if m.op.key.startswith("tree") else 1)
        share = f"{m.ours_text / m.reference_text:.2f}" if m.reference_text else "-"
        met = "-" if goal is None else ("PASS" if m.ours_text <= goal else "MISS")
        print(
            f"{m.op.label:<40}{m.ours_text:>12,}{'-' if m.reference_text is None else f'{m.reference_text:,}':>12}"
            f"{'-' if goal is None else f'{goal:,}':>12}{share:>10}  {met}"
        )
    print_tool_sizes(servers[:2])
    raw = [m for m in results if m.raw_reference or m.raw_ours]
    if raw:
        print()
        print("Server side alone: the same tools/call requests over a raw JSON-RPC pipe (handshake era, no SDK")
        print("client: write the request, read the reply line, parse nothing), milliseconds;")
        print(f"{args.raw_rounds} blocks per server, ABBA.")
        header = (
            f"{'operation':<40}{'n':>5}{'ref med':>9}{'ref min':>9}{'ours med':>10}{'ours min':>10}{'speedup':>9}"
            f"{'ref line':>12}{'ours line':>12}"
        )
        print_header(header)
        for m in raw:
            speedup = m.raw_speedup()
            shown = f"{speedup:.2f}x" if speedup is not None else "-"
            n = max(len(m.raw_reference), len(m.raw_ours))
            print(
                f"{m.op.label:<40}{n:>5}{ms(m.raw_reference):>9}{ms(m.raw_reference, min):>9}{ms(m.raw_ours):>10}"
                f"{ms(m.raw_ours, min):>10}{shown:>9}{kib(m.raw_reference_bytes):>12}{kib(m.raw_ours_bytes):>12}"
            )
    notes = [f"{m.op.label.strip()}: {m.op.note}" for m in results if m.op.note]
    errors = [f"{m.op.label.strip()}: {e}" for m in results for e in m.errors]
    for m in results:  # a wide spread makes a median of few samples unstable: say so
        for who, samples in (("reference", m.reference), ("ours", m.ours)):
            if len(samples) >= 4 and min(samples) > 0.005 and max(samples) / min(samples) > 1.8:
                notes.append(
                    f"{m.op.label.strip()}: {who} spread {min(samples) * 1e3:.0f}-{max(samples) * 1e3:.0f} ms "
                    f"over {len(samples)} calls; the ratio of minimums is the steadier figure"
                )
    print_list("Notes:", notes)
    print_list("PROBLEMS (a count that does not match the tree makes that row's comparison meaningless):", errors)


# --------------------------------------------------------------------------------------


async def connect(server: Server, tree: Tree, stack: AsyncExitStack, mode: str = "auto") -> mcp.Client | None:
    """A client for the server on the tree, or None (why: on the server); see `common.connect`."""
    client = await try_connect(server, partial(params_for, server, tree), stack, mode)
    if client is not None and mode == "auto":
        await measure_tools(server, client)
    return client


async def main(args: argparse.Namespace) -> None:
    reference = find_reference(args) if not args.no_reference else Server("reference", [], error="--no-reference")
    tmp = tempfile.mkdtemp(prefix="patchbay-fsbench-")
    ours = find_ours(Path(tmp, "audit.jsonl")) if not args.no_ours else Server("ours", [], error="--no-ours")
    try:
        tree = await anyio.to_thread.run_sync(generate_tree, Path(tmp, "tree"))
        print(f"  generated the tree in {tree.seconds:5.1f} s", file=sys.stderr)
        results: list[Measured] = []
        servers = [reference, ours]
        async with AsyncExitStack() as stack:
            ref_client = await connect(reference, tree, stack)
            our_client = await connect(ours, tree, stack)
            our_legacy = await connect(ours, tree, stack, mode="legacy") if our_client is not None else None
            on_asyncio = replace(ours, env={**ours.env, "PATCHBAY_EVENT_LOOP": "asyncio"})
            our_asyncio = await connect(on_asyncio, tree, stack) if our_client is not None else None
            bare = Server(
                "bare", bare_echo_command(), version="bench/bare_echo.py", runtime=python_runtime(), takes_tree=False
            )
            bare_client = await connect(bare, tree, stack) if our_client is not None else None
            if bare_client is not None:
                servers.append(bare)
            ops = operations(
                tree,
                reference_ops(tree) if ref_client is not None else None,
                ours_ops(tree) if our_client is not None else None,
                args,
            )
            for op in ops:
                if (op.reference is None or ref_client is None) and (op.ours is None or our_client is None):
                    continue
                started = time.perf_counter()
                try:
                    ours_for_op = {"legacy": our_legacy, "asyncio": our_asyncio, "bare": bare_client}.get(
                        op.ours_mode, our_client
                    )
                    m = await measure(op, ref_client if op.reference else None, ours_for_op if op.ours else None)
                except Exception as exc:
                    m = Measured(op, errors=[f"measurement failed: {type(exc).__name__}: {exc}"])
                results.append(m)
                print(f"  measured {op.label:<40} in {time.perf_counter() - started:5.1f} s", file=sys.stderr)
        for m in results:
            if not m.op.raw:
                continue
            started = time.perf_counter()
            try:
                with anyio.fail_after(120):
                    our_server = bare if m.op.ours_mode == "bare" else ours
                    await measure_raw(m, reference, our_server, tree, args.raw_rounds)
            except Exception as exc:
                m.errors.append(f"raw pipe failed: {type(exc).__name__}: {exc}")
            print(f"  raw pipe {m.op.label:<40} in {time.perf_counter() - started:5.1f} s", file=sys.stderr)
        report(tree, servers, results, args)
        record_headlines(results)
    finally:
        if args.keep_tree:
            print(f"\nTree kept at {tmp}/tree")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def record_headlines(results: list[Measured]) -> None:
    """The figures bench/summary.py shows (issue 17's table): medians in seconds."""
    by = {m.op.key: m for m in results}
    listing, floor = by.get("list"), by.get("floor")
    if listing is not None:
        common.record(
            "filesystem list_directory",
            ours=statistics.median(listing.ours) if listing.ours else None,
            bare=statistics.median(floor.ours) if floor is not None and floor.ours else None,
            reference=statistics.median(listing.reference) if listing.reference else None,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-calls", type=int, default=1000, help="list_directory calls per server (default 1000)")
    parser.add_argument(
        "--rounds", type=int, default=8, help="timed calls per server for the large operations (default 8)"
    )
    parser.add_argument("--raw-rounds", type=int, default=4, help="timed raw-pipe calls per server (default 4)")
    parser.add_argument("--reference-node", help="node binary for the reference (default: node on PATH)")
    parser.add_argument("--no-reference", action="store_true", help="measure ours alone")
    parser.add_argument("--no-ours", action="store_true", help="measure the reference alone")
    parser.add_argument("--keep-tree", action="store_true", help="keep the generated tree")
    run_benchmark(main, parser.parse_args(), on_failure=report_failure)  # a benchmark reports, it does not gate
    sys.exit(0)
