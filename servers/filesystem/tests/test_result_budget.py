"""One answer is bounded: tools that gather (read_multiple_files, search_file_contents) stop
reading once the result limit is spent, so the server's memory stays bounded too."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mcp import Client

from patchbay.content import META_KEY
from patchbay.testing import connect, http_server
from patchbay_filesystem.server import connector

pytestmark = pytest.mark.anyio

COMMAND = [shutil.which("patchbay-filesystem") or "patchbay-filesystem"]
LIMIT = 1 << 20


def rss_mib(pid: int) -> float:
    """The process's resident memory now (/proc/PID/status, VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def big(tmp_path: Path) -> Path:
    """<tmp>/big/big.txt: 50 MB of text lines."""
    root = tmp_path / "big"
    root.mkdir()
    line = b"0123456789abcdef" * 6 + b"\n"
    with (root / "big.txt").open("wb") as file:
        file.write(line * (50_000_000 // len(line)))
    return root


async def test_read_multiple_files_stops_reading_at_the_result_limit_and_memory_stays_flat(big: Path) -> None:
    with http_server([*COMMAND, str(big)]) as server:
        async with Client(server.url) as client:
            await client.call_tool("read_multiple_files", {"paths": ["big.txt"]})  # warm up
            before = rss_mib(server.process.pid)
            result = await client.call_tool("read_multiple_files", {"paths": ["big.txt"] * 100})
            grown = rss_mib(server.process.pid) - before
    files = result.structured_content["files"]
    assert len(result.model_dump_json()) <= LIMIT + 4096
    assert files[0]["content"] and files[0]["truncated"] is True
    not_read = [f for f in files if f["error"] is not None]
    assert len(not_read) >= 98
    assert not_read[-1]["error"].startswith(f"not read: the answer reached the {LIMIT}-byte result limit")
    assert grown < 40, f"the server grew by {grown:.0f} MiB"


async def test_search_file_contents_stops_at_the_result_limit(tmp_path: Path) -> None:
    for i in range(40):
        (tmp_path / f"f{i}.txt").write_text(("match " + "x" * 2000 + "\n") * 20)
    async with connect(connector, {"roots": [str(tmp_path)], "max_result_bytes": 65536}) as client:
        result = await client.call_tool("search_file_contents", {"query": "match", "max_matches": 10_000})
    found = result.structured_content
    assert found["truncated"] is True and len(found["matches"]) < 40
    assert found["files_searched"] < 40
    assert len(result.model_dump_json()) <= 65536 + 4096
    assert (result.meta or {}).get(META_KEY) is not None or len(found["matches"]) * 2000 < 65536
