"""Logs and audit lines never grow with the input, and a cancelled call is audited as cancelled."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import anyio
import pytest

from patchbay.testing import connect, raw_stdio
from patchbay_filesystem.server import connector

pytestmark = pytest.mark.anyio

COMMAND = [shutil.which("patchbay-filesystem") or "patchbay-filesystem"]


def call_line(request_id: int, tool: str, arguments: dict[str, object]) -> str:
    message = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    return json.dumps(message)


def test_long_arguments_are_cut_in_the_audit_and_the_log(tree: Path) -> None:
    calls = [
        ("read_text_file", {"path": "a" * 100_000}),
        ("search_files", {"pattern": "*" * 1_000_000}),
        ("read_multiple_files", {"paths": ["x" * 5000] * 100}),
        ("search_file_contents", {"query": "q", "include": ["i" * 50_000], "exclude": [str(n) for n in range(500)]}),
        ("no_such_tool_" + "t" * 100_000, {}),
    ]
    lines = [call_line(i, tool, args) for i, (tool, args) in enumerate(calls * 4, start=1)]
    replies, stderr = raw_stdio([*COMMAND, str(tree)], lines)
    assert len(replies) == len(lines)
    audit = [line for line in stderr.splitlines() if '"call_id"' in line]
    assert len(audit) == len(lines)
    assert max(len(line) for line in audit) < 8000, max(len(line) for line in audit)
    assert "cut: 100000 chars, sha256 " in audit[0]
    assert len(stderr) < 100_000


async def test_a_cancelled_call_is_audited_as_cancelled_without_internal_paths(tree: Path, tmp_path: Path) -> None:
    folder = tree / "big"
    folder.mkdir()
    (folder / "f0").write_text("needle in a haystack\n" * 20000)
    for j in range(1, 3000):
        os.link(folder / "f0", folder / f"f{j}")
    log = tmp_path / "audit.jsonl"
    async with connect(connector, {"roots": [str(tree)], "audit_log": str(log)}, era="legacy") as client:
        with anyio.move_on_after(0.3):
            await client.call_tool("search_file_contents", {"query": "a[b]sent", "regex": True, "path": "big"})
        await client.call_tool("list_allowed_directories", {})  # the server still serves; the line was written
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    cancelled = [e for e in entries if e["tool"] == "search_file_contents"]
    assert [e["outcome"] for e in cancelled] == ["cancelled"], entries
    assert "site-packages" not in cancelled[0]["error"] and "<Task" not in cancelled[0]["error"]
