"""Heavy calls run off the event loop: other clients stay served, and a cancelled call stops.

Over real HTTP against the console script. The heavy calls search a tree of 200,000
files (built once for the module): one for a word (a walk that reads every file), one
with the catastrophic-backtracking pattern `(a+)+$` against lines of 'a's ending in
'b'. While one runs, another client's `list_allowed_directories` must answer within
50 ms (the median of several probes, so that one unlucky scheduling slice on a loaded
2-core machine does not decide). Cancelling the heavy call must stop its work within
1 s: the server process's CPU time, read from /proc, stops growing - an outside view
of the worker thread, so no test-only hook in the server is needed. The search would
run for several more seconds if it did not stop; the test checks that, too.
"""

import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fs_observe import cpu_seconds, seconds_until_idle
from mcp import Client

from patchbay.testing import RunningServer, http_server

pytestmark = pytest.mark.anyio

FILES_PER_FOLDER = 1000
FOLDERS = 200
PROBES = 7
PROBE_BOUND = 0.050
CANCEL_BOUND = 1.0
EVIL_LINE = "a" * 100_000 + "b"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<tmp>/big: 200 folders of 1,000 files; <tmp>/evil: a line that makes `(a+)+$` backtrack in `re`.

    The files of a folder are hard links of one file of 20 lines of 'a's ending in 'b':
    as cheap to make as empty files, yet each one is read and matched line by line.
    """
    root = tmp_path_factory.mktemp("heavy")
    for folder in range(FOLDERS):
        path = root / "big" / f"d{folder:03}"
        path.mkdir(parents=True)
        (path / "f0000").write_text(("a" * 60 + "b\n") * 20)
        for number in range(1, FILES_PER_FOLDER):
            os.link(path / "f0000", path / f"f{number:04}")
    (root / "evil").mkdir()
    (root / "evil" / "lines.txt").write_text(f"{EVIL_LINE}\naaaa\n")
    return root


@pytest.fixture(scope="module")
def server(world: Path) -> Iterator[RunningServer]:
    """The connector over stateful HTTP (a handshake-era client can then send notifications/cancelled)."""
    command = [sys.executable, "-m", "patchbay_filesystem", str(world)]
    with http_server(command, "--stateful", "--workers", "1") as running:
        yield running


class HeavyCall:
    """A tool call run in the background, with its progress and whether it has ended."""

    def __init__(self, client: Client, tool: str, args: dict[str, Any]) -> None:
        self.client, self.tool, self.args = client, tool, args
        self.progress: list[float] = []
        self.started = anyio.Event()
        self.result: Any = None
        self.ended = False
        self.scope = anyio.CancelScope()

    async def run(self) -> None:
        with self.scope:
            self.result = await self.client.call_tool(self.tool, self.args, progress_callback=self._progress)
        self.ended = True

    async def _progress(self, done: float, total: float | None, message: str | None) -> None:
        self.progress.append(done)
        self.started.set()


async def probe_latencies(client: Client, heavy: HeavyCall) -> list[float]:
    """Seconds each of several list_allowed_directories calls took while `heavy` was running."""
    latencies = []
    for _ in range(PROBES):
        began = time.perf_counter()
        result = await client.call_tool("list_allowed_directories", {})
        latencies.append(time.perf_counter() - began)
        assert not result.is_error
        await anyio.sleep(0.02)
    assert not heavy.ended, "the heavy call ended before the probes did: they prove nothing"
    return latencies


HEAVY_CALLS = {
    "a walk that reads every file": {"query": "absent", "case_sensitive": False, "path": "big"},
    "a backtracking pattern on every line": {"query": "(a+)+$", "regex": True, "path": "big"},
}


@pytest.mark.parametrize("args", HEAVY_CALLS.values(), ids=HEAVY_CALLS.keys())
async def test_a_heavy_search_leaves_others_served_and_stops_when_cancelled(
    server: RunningServer, args: dict[str, Any]
) -> None:
    pid = server.process.pid
    async with Client(server.url, mode="legacy") as busy, Client(server.url, mode="legacy") as other:
        await other.call_tool("list_allowed_directories", {})  # measure contention, not a first call
        heavy = HeavyCall(busy, "search_file_contents", args)
        async with anyio.create_task_group() as group:
            group.start_soon(heavy.run)
            with anyio.fail_after(20):
                await heavy.started.wait()  # the search is under way: 2,000 entries searched
            cpu_before, began = cpu_seconds(pid), time.perf_counter()
            latencies = await probe_latencies(other, heavy)
            elapsed = time.perf_counter() - began
            busy_share = (cpu_seconds(pid) - cpu_before) / elapsed
            rate = (heavy.progress[-1] - heavy.progress[0]) / elapsed
            left = (FOLDERS * FILES_PER_FOLDER - heavy.progress[-1]) / rate
            heavy.scope.cancel()  # the client sends notifications/cancelled for the call
            cancelled_at = time.perf_counter()
        stopped_after = await seconds_until_idle(pid, cancelled_at)
        with anyio.fail_after(CANCEL_BOUND + 1):  # --workers 1: this needs the slot the search held
            after = await other.call_tool("read_text_file", {"path": "evil/lines.txt", "head": 1})
    report = (
        f"probes {[round(s * 1000, 1) for s in latencies]} ms; stopped {stopped_after * 1000:.0f} ms after the "
        f"cancel, about {left:.1f} s before it would have ended; the search used {busy_share:.0%} of a core"
    )
    print(report)
    assert left > 2 * CANCEL_BOUND, f"the search was nearly done: cancelling it proves little ({report})"
    assert busy_share > 0.2, f"the search hardly used the CPU: its stop would not show ({report})"
    assert statistics.median(latencies) < PROBE_BOUND, report
    assert stopped_after < CANCEL_BOUND, report
    assert not after.is_error
    assert heavy.result is None  # cancelled: no answer


async def test_a_backtracking_pattern_takes_linear_time(server: RunningServer) -> None:
    # With Python's `re`, `(a+)+$` against 100,000 'a's and a 'b' never finishes (2^100000 ways to
    # split the 'a's); RE2 reads the line once. The bound is loose: it only has to be finite.
    async with Client(server.url, mode="legacy") as client:
        with anyio.fail_after(5):
            found = await client.call_tool("search_file_contents", {"query": "(a+)+$", "regex": True, "path": "evil"})
    assert found.structured_content is not None
    assert [(m["line"], m["text"]) for m in found.structured_content["matches"]] == [(2, "aaaa")]
