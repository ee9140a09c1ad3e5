"""The Drive connector against two Node peers, all on the same in-repo fake Drive: search, then read 200 files.

Contenders, each driven by the same Python client (`mcp.Client` over stdio):

- ours: `python -m patchbay_drive --folders A`, pointed at the fake with `PATCHBAY_DRIVE_API_URL`
  (its client is built from the discovery document with `rootUrl` there) and a token file
  holding a valid access token; `search_files` (200 results, one page) then `read_file` per file.
- reference: npm `@modelcontextprotocol/server-gdrive` 2025.1.14 (archived), with
  `GDRIVE_CREDENTIALS_PATH` holding the same access token; its `search` tool (fixed page of
  10), then `resources/read gdrive:///<id>` per file (it has no read tool).
- maintained peer: npm `@piotr-agier/google-drive-mcp` 2.10.0 with
  `GOOGLE_DRIVE_MCP_ACCESS_TOKEN`; `search` (pageSize 100), then `readTextFile` per file.

How the Node peers reach the fake: neither takes an API URL (googleapis always calls
https://www.googleapis.com), but gaxios honours `HTTPS_PROXY` and Node trusts
`NODE_EXTRA_CA_CERTS`; `google_tls_proxy.py` answers the CONNECT, terminates TLS with a
certificate from a CA made for the run, and relays to the fake. Their code is unchanged.
(PyPI `workspace-mcp` is not run: one maintained peer is enough here. It takes a service
account key or a seeded credentials folder and calls Google through httplib2, so the same
proxy should reach it; untried.)

Each contender runs `--rounds` times (a fresh process each, order rotated); the workload time
is from the first call to the last read, after the client is connected. Ratios are peer/ours.
Peers are installed with npm into ${PATCHBAY_TOOLS_DIR:-~/.cache/patchbay-tools} on the first
run. Always exits 0: a benchmark reports, it does not gate.

    uv run --frozen python bench/drive_vs_reference.py [--rounds N] [--files N] [--no-peers]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import ROOT, abba, bare_echo_command, report_failure, run_benchmark
from google_tls_proxy import GoogleTlsProxy

sys.path.insert(0, str(ROOT / "servers" / "drive" / "tests"))

from fake_drive import FakeDrive

TOKEN = "ya29.good-token"
TOOLS_DIR = Path(os.environ.get("PATCHBAY_TOOLS_DIR", str(Path.home() / ".cache" / "patchbay-tools")))
PEERS = {
    "reference": ("@modelcontextprotocol/server-gdrive", "2025.1.14"),
    "piotr-agier": ("@piotr-agier/google-drive-mcp", "2.10.0"),
}


@dataclass
class Contender:
    name: str
    command: list[str]
    env: dict[str, str]
    workload: Callable[[Any, list[str]], Awaitable[int]]
    samples: list[float] = field(default_factory=list)
    connects: list[float] = field(default_factory=list)
    requests: int = 0
    note: str = ""


def ensure_peer(package: str, version: str) -> Path | None:
    """The peer's entry script, installed with npm on first use; None (and why, printed) if impossible."""
    folder = TOOLS_DIR / f"{package.rsplit('/', 1)[-1]}-{version}"
    entry = folder / "node_modules" / package / "dist" / "index.js"
    if entry.is_file():
        return entry
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(json.dumps({"name": f"patchbay-bench-{folder.name}", "private": True}))
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(folder), f"{package}@{version}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not entry.is_file():
        print(f"{package}@{version}: npm install failed, left out: {done.stderr.strip()[-300:]}")
        return None
    return entry


def populate(drive: FakeDrive, files: int) -> list[str]:
    drive.add("allowed", None, mime="application/vnd.google-apps.folder", file_id="A")
    return [
        drive.add(f"doc-{n:03d}.txt", "A", content=f"benchmark text {n:03d}\n" * 20, file_id=f"doc{n:03d}")["id"]
        for n in range(files)
    ]


def _text(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


async def ours(client: Any, ids: list[str]) -> int:
    found = await client.call_tool("search_files", {"name_contains": "doc-", "limit": 200})
    got = [item["id"] for item in found.structured_content["items"]]
    assert sorted(got) == sorted(ids[:200]), "search did not find the files"
    for file_id in ids:
        result = await client.call_tool("read_file", {"file_id": file_id})
        assert f"benchmark text {file_id[3:]}" in _text(result), _text(result)[:200]
    return len(got)


async def reference(client: Any, ids: list[str]) -> int:
    found = await client.call_tool("search", {"query": "benchmark"})
    assert "Found" in _text(found), _text(found)[:300]
    for file_id in ids:
        result = await client.read_resource(f"gdrive:///{file_id}")
        assert f"benchmark text {file_id[3:]}" in result.contents[0].text, result
    return int(_text(found).split()[1])


async def piotr(client: Any, ids: list[str]) -> int:
    found = await client.call_tool("search", {"query": "benchmark", "pageSize": 100})
    assert not found.is_error, _text(found)[:300]
    for file_id in ids:
        result = await client.call_tool("readTextFile", {"fileId": file_id})
        assert f"benchmark text {file_id[3:]}" in _text(result), _text(result)[:300]
    return _text(found).count("doc-")


async def run_once(contender: Contender, drive: FakeDrive, ids: list[str]) -> None:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    quiet = ["sh", "-c", 'exec "$@" 2>/dev/null', "sh", *contender.command]  # the Node peers log every call
    params = StdioServerParameters(command=quiet[0], args=quiet[1:], env={**os.environ, **contender.env})
    started = time.perf_counter()
    async with Client(params, mode="auto") as client:
        connected = time.perf_counter()
        before = len(drive.journal)
        found = await contender.workload(client, ids)
        contender.samples.append(time.perf_counter() - connected)
        contender.connects.append(connected - started)
        contender.requests = len(drive.journal) - before
        contender.note = f"search returned {found}"


def contenders(drive: FakeDrive, proxy: GoogleTlsProxy | None, folder: Path) -> list[Contender]:
    token = folder / "token.json"
    far = time.time() + 86400
    stored = {"client_id": "bench", "refresh_token": "r", "token_uri": "http://127.0.0.1:9/token"}
    token.write_text(json.dumps({**stored, "token": TOKEN, "expires_at": far}))
    token.chmod(0o600)
    env = {"PATCHBAY_DRIVE_API_URL": drive.url, "PATCHBAY_DRIVE_TOKEN_FILE": str(token)}
    found = [Contender("ours", [sys.executable, "-m", "patchbay_drive", "--folders", "A"], env, ours)]
    if proxy is None:
        return found
    for name, (package, version) in PEERS.items():
        entry = ensure_peer(package, version)
        if entry is None:
            continue
        if name == "reference":
            credentials = folder / "gdrive-credentials.json"
            credentials.write_text(
                json.dumps({"access_token": TOKEN, "token_type": "Bearer", "expiry_date": far * 1000})
            )
            peer_env = {**proxy.env(), "GDRIVE_CREDENTIALS_PATH": str(credentials)}
            found.append(Contender(name, ["node", str(entry)], peer_env, reference))
        else:
            peer_env = {**proxy.env(), "GOOGLE_DRIVE_MCP_ACCESS_TOKEN": TOKEN, "XDG_CONFIG_HOME": str(folder)}
            found.append(Contender(name, ["node", str(entry)], peer_env, piotr))
    return found


async def main(args: argparse.Namespace) -> None:
    with FakeDrive(token=TOKEN) as drive, tempfile.TemporaryDirectory() as scratch:
        drive.contract = None  # the contract is the tests' business; here it would time the checker
        ids = populate(drive, args.files)
        with GoogleTlsProxy(drive.port) as proxy:
            racers = contenders(drive, None if args.no_peers else proxy, Path(scratch))
            print(f"Drive: search, then read {len(ids)} text files (~400 B each), on the in-repo fake at {drive.url}")
            print("Node peers reach the fake through HTTPS_PROXY + NODE_EXTRA_CA_CERTS (bench/google_tls_proxy.py).")
            print("PyPI workspace-mcp: not run (one maintained peer suffices; it should reach the proxy too, untried).")
            for round_ in range(args.rounds):
                order = racers if round_ % 2 == 0 else list(reversed(racers))
                for contender in order:
                    try:
                        await run_once(contender, drive, ids)
                    except Exception as exc:  # one peer failing must not hide the others
                        contender.note = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
            report(racers, len(ids))
            await start_up(racers[0].command, racers[0].env, args.spawns)


async def start_up(ours_command: list[str], env: dict[str, str], spawns: int) -> None:
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


def report(racers: list[Contender], files: int) -> None:
    print(f"\n{'server':<13}{'runs':>5}{'workload ms':>13}{'per read ms':>13}{'connect ms':>12}{'requests':>10}  note")
    base = statistics.median(racers[0].samples) if racers[0].samples else None
    for c in racers:
        if not c.samples:
            print(f"{c.name:<13}{0:>5}{'-':>13}{'-':>13}{'-':>12}{'-':>10}  {c.note}")
            continue
        median = statistics.median(c.samples)
        connect = statistics.median(c.connects)
        print(
            f"{c.name:<13}{len(c.samples):>5}{median * 1e3:>13.0f}{median * 1e3 / files:>13.2f}"
            f"{connect * 1e3:>12.0f}{c.requests:>10}  {c.note}"
        )
    if base:
        ratios = [f"{c.name}/ours {statistics.median(c.samples) / base:.2f}x" for c in racers[1:] if c.samples]
        print("ratios (workload, median): " + ("; ".join(ratios) or "no peer ran"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs per contender (default 3)")
    parser.add_argument("--files", type=int, default=200, help="files to read (default 200)")
    parser.add_argument("--no-peers", action="store_true", help="ours only")
    parser.add_argument("--spawns", type=int, default=6, help="start-up spawns per server (default 6)")
    run_benchmark(main, parser.parse_args(), report_failure)
