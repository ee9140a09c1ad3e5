"""The GitHub connector against the archived reference server, on the same fake GitHub.

Compares `patchbay-github` (ours, `python -m patchbay_github`) with the archived npm
`@modelcontextprotocol/server-github` (pinned, installed by `tools/ensure-reference-github.sh`,
run on the system Node). Both talk to one in-repo fake GitHub (servers/github/tests/fake_github.py,
without its contract check, so the fake costs the same for both) holding a repository with
500 issues and 50 files. The reference hard-codes https://api.github.com; it is pointed at the
fake through `GITHUB_API_URL` by a fetch shim preloaded with `node --require`
(bench/github_fetch_rewrite.cjs). Both are driven by the same Python client over stdio, in
ABBA order:

1. list all 500 issues, 100 a page (ours follows its cursors; the reference takes `page`);
2. read 50 files with `get_file_contents`.

Every reply is checked (500 distinct issues; each file's text). Speedup is reference/ours on
the medians. Then the model-facing size of `tools/list` (names, descriptions, input schemas as
compact JSON) for each of our toolsets, beside the reference's whole list and, when its
published definitions are on this machine, github-mcp-server's. Always exits 0.

    uv run --frozen python bench/github_vs_reference.py [--rounds N] [--no-reference]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from common import (
    ROOT,
    Server,
    Timed,
    locate_ours,
    locate_reference,
    ms,
    print_header,
    print_server,
    run_benchmark,
    sample_ratio,
    start_up,
    text_of,
    time_abba,
    tool_size,
    try_connect,
)

sys.path.insert(0, str(ROOT / "servers" / "github" / "tests"))

ENSURE = ROOT / "tools" / "ensure-reference-github.sh"
SHIM = Path(__file__).resolve().parent / "github_fetch_rewrite.cjs"
TOKEN = "ghp_bench"
REPO = {"owner": "octo-org", "repo": "bench"}
ISSUES = 500
FILES = 50
TOOLSETS = ("context", "repos", "issues", "pull_requests", "actions", "code_security")
PEER_DEFINITIONS = ROOT / "bench" / "data" / "github-mcp-server-tools.json"


def build_fake() -> Any:
    from fake_github import FakeGitHub, example

    example("simple-user")  # the fake reads the 13 MB description once: before any server starts, not during
    fake = FakeGitHub()
    fake.add_token(TOKEN, "octocat")
    repo = fake.add_repo("octo-org/bench")
    repo.collaborators["octocat"] = "admin"
    files = {f"files/f{i:02d}.txt": (f"file {i}\n" + "x" * 2000 + "\n").encode() for i in range(FILES)}
    fake.commit(repo, "main", dict(files), "Add files", "octocat")
    for i in range(ISSUES):
        fake.add_issue("octo-org/bench", f"Issue {i}", f"Body of issue {i}", author="octocat")
    return fake


async def list_ours(client: Any) -> int:
    seen, cursor = set(), None
    while True:
        arguments: dict[str, Any] = {**REPO, "state": "open", "per_page": 100}
        if cursor:
            arguments["cursor"] = cursor
        result = await client.call_tool("list_issues", arguments)
        if result.is_error:
            raise AssertionError(f"ours: {text_of(result)}")
        data = result.structured_content
        seen.update(item["number"] for item in data["items"])
        cursor = data["next_cursor"]
        if not cursor:
            return len(seen)


async def list_reference(client: Any) -> int:
    seen: set[int] = set()
    for page in range(1, ISSUES // 100 + 2):
        result = await client.call_tool("list_issues", {**REPO, "state": "open", "per_page": 100, "page": page})
        items = json.loads(text_of(result))
        if not items:
            break
        seen.update(item["number"] for item in items)
    return len(seen)


async def read_files(client: Any, ours: bool) -> int:
    good = 0
    for i in range(FILES):
        result = await client.call_tool("get_file_contents", {**REPO, "path": f"files/f{i:02d}.txt"})
        shown = text_of(result)
        if ours:
            good += shown.startswith(f"file {i}\n")
        else:  # it decodes the content itself
            good += json.loads(shown)["content"].startswith(f"file {i}\n")
    return good


def checked(expected: int, work: Any) -> Any:
    async def run() -> None:
        got = await work()
        if got != expected:
            raise AssertionError(f"expected {expected}, got {got}")

    return run


async def toolset_sizes(ours: Server, fake: Any) -> dict[str, tuple[int, int]]:
    from mcp import StdioServerParameters

    sizes = {}
    for toolset in (*TOOLSETS, "all"):
        async with AsyncExitStack() as stack:
            probe = Server(ours.name, [*ours.command, "--allow-writes", "--toolsets", toolset], dict(ours.env))
            params = StdioServerParameters(
                command=probe.command[0], args=probe.command[1:], env={**os.environ, **probe.env}
            )
            client = await try_connect(probe, lambda p=params: p, stack)
            if client is None:
                continue
            listing = await client.session.list_tools()
            sizes[toolset] = (len(listing.tools), sum(tool_size(t) for t in listing.tools))
    return sizes


def peer_sizes() -> dict[str, tuple[int, int]] | None:
    """github-mcp-server's published tool definitions per toolset, if a copy is on this machine."""
    if not PEER_DEFINITIONS.is_file():
        return None
    data = json.loads(PEER_DEFINITIONS.read_text())
    sizes: dict[str, tuple[int, int]] = {}
    for tool in data["tools"]:  # sizes measured from its published snapshots (see the file's "source")
        count, total = sizes.get(tool["toolset"], (0, 0))
        sizes[tool["toolset"]] = (count + 1, total + int(tool["chars"]))
    return sizes


async def main(args: argparse.Namespace) -> None:
    from mcp import StdioServerParameters

    fake = build_fake()
    fake.start()
    try:
        env = {
            "PATCHBAY_GITHUB_API_URL": fake.url,
            "PATCHBAY_GITHUB_TOKEN": TOKEN,
            "PATCHBAY_GITHUB_AUDIT_LOG": os.devnull,
        }
        ours = Server("ours", [sys.executable, "-m", "patchbay_github", "--repos", "octo-org/bench"], env)
        locate_ours(ours, "patchbay_github", ["patchbay-github", "patchbay", "pygithub"])
        reference = Server("reference", [], {"GITHUB_PERSONAL_ACCESS_TOKEN": TOKEN, "GITHUB_API_URL": fake.url})
        if args.no_reference:
            reference.error = "left out (--no-reference)"
        elif locate_reference(reference, ENSURE, os.environ.get("PATCHBAY_REFERENCE_NODE")):
            reference.command = [reference.command[0], "--require", str(SHIM), reference.command[1]]
        async with AsyncExitStack() as stack:
            clients = {}
            for server in (ours, reference):
                params = StdioServerParameters(
                    command=server.command[0] if server.command else "false",
                    args=server.command[1:],
                    env={**os.environ, **server.env},
                )
                clients[server.name] = await try_connect(server, lambda p=params: p, stack)
            print_header("GitHub connector vs the archived reference, one fake GitHub (stdio, mcp.Client)")
            for server in (ours, reference):
                print_server(server)
            ours_client, ref_client = clients["ours"], clients["reference"]
            tasks = [
                (f"list {ISSUES} issues, 100 a page", ISSUES, list_ours, list_reference),
                (f"read {FILES} files", FILES, lambda c: read_files(c, True), lambda c: read_files(c, False)),
            ]
            print()
            print(f"{'task':<32}{'ours':>12}{'reference':>12}{'speedup':>10}")
            for label, expected, mine, theirs in tasks:
                a = Timed(checked(expected, lambda f=mine: f(ours_client)), []) if ours_client else None
                b = Timed(checked(expected, lambda f=theirs: f(ref_client)), []) if ref_client else None
                await time_abba(a, b, args.rounds, 1)
                ratio = sample_ratio(b.samples, a.samples) if a and b else None
                shown_a = ms(a.samples) if a else "-"
                shown_b = ms(b.samples) if b else "-"
                print(f"{label:<32}{shown_a:>12}{shown_b:>12}{f'{ratio:.2f}x' if ratio else '-':>10}")
            if ref_client is not None:
                listing = await ref_client.session.list_tools()
                ref_total = (len(listing.tools), sum(tool_size(t) for t in listing.tools))
            else:
                ref_total = None
        sizes = await toolset_sizes(ours, fake)
        peer = peer_sizes()
        print()
        print("tools/list as the model reads it (characters: name + description + input schema as compact JSON);")
        print("ours with --allow-writes, as the peer's toolsets hold their write tools too")
        print("peer: github-mcp-server's published definitions (bench/data/github-mcp-server-tools.json), its toolsets")
        print("mapped to ours (Git into repos; Dependabot and Secret Protection into code_security)")
        print(f"{'toolset':<16}{'ours tools':>12}{'ours chars':>12}{'peer tools':>12}{'peer chars':>12}")
        for toolset, (count, total) in sizes.items():
            theirs = (peer or {}).get(toolset) if toolset != "all" else None
            if toolset == "all" and peer:
                theirs = (sum(c for c, _ in peer.values()), sum(t for _, t in peer.values()))
            peer_count, peer_chars = theirs if theirs else ("-", "-")
            print(f"{toolset:<16}{count:>12}{total:>12}{peer_count:>12}{peer_chars:>12}")
        if peer is None:
            print(f"github-mcp-server: NOT MEASURED: its published tool definitions are not at {PEER_DEFINITIONS}")
            print("  (a Go release binary, in no registry reachable here)")
        if ref_total is not None:
            print(f"archived npm server-github (one list, no toolsets): {ref_total[0]} tools, {ref_total[1]} chars")
        await start_up(ours.command, ours.env, args.spawns)  # with the token: its scopes are read from the fake
    finally:
        fake.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="timed runs of each task per server (ABBA)")
    parser.add_argument("--no-reference", action="store_true", help="measure ours alone")
    parser.add_argument("--spawns", type=int, default=6, help="start-up spawns per server (default 6)")
    run_benchmark(main, parser.parse_args(), on_failure=lambda exc: print(f"\nbenchmark failed: {exc!r}"))
