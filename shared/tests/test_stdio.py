"""The example connector as a host launches it: the real command over stdio, and its CLI.

stdout carries the protocol; the server log and (by default) the audit log go to
stderr. A session that works is evidence that nothing else reached stdout; the raw
pipe test checks it line by line.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client
from mcp.client.stdio import stdio_client

import patchbay
from patchbay.testing import ERAS, stdio_server

from .example_tools import READ_TOOLS

pytestmark = pytest.mark.anyio

CMD = [sys.executable, "-m", "patchbay.example"]
AUDIT_FIELDS = {
    "time",
    "connector",
    "method",
    "tool",
    "call_id",
    "request_id",
    "principal",
    "safety",
    "arguments",
    "outcome",
    "confirmation",
    "duration_ms",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def clean_env() -> dict[str, str]:
    """The test's environment without any PATCHBAY_EXAMPLE_* the developer may have set."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PATCHBAY_EXAMPLE_")}


@asynccontextmanager
async def stdio_session(
    args: list[str], stderr_path: Path, era: str, env: dict[str, str] | None = None
) -> AsyncIterator[Client]:
    """A client of the real command over stdio; the server's stderr goes to `stderr_path`."""
    with stderr_path.open("w") as errlog:
        async with Client(stdio_client(stdio_server([*CMD, *args], env), errlog=errlog), mode=era) as client:
            yield client


def audit_entries(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"call_id"' in line]


def text_of(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))


def run_cli(
    *args: str, env: dict[str, str] | None = None, python_options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *python_options, "-m", "patchbay.example", *args],
        env={**clean_env(), **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# A session over stdio ------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_stdio_session_with_audit_file(tmp_path: Path, era: str) -> None:
    audit = tmp_path / "audit.jsonl"
    stderr = tmp_path / "stderr.log"
    async with stdio_session(["--audit-log", str(audit)], stderr, era) as client:
        tools = await client.list_tools()
        echoed = await client.call_tool("echo", {"text": "over stdio"})
        note = await client.call_tool("get_note", {"key": "note-00001"})
        missing = await client.call_tool("get_note", {"key": "nope"})

    assert [t.name for t in tools.tools] == READ_TOOLS
    assert echoed.structured_content == {"text": "over stdio"}
    assert note.structured_content == {"key": "note-00001", "text": "Seed note number 1."}
    assert missing.is_error
    assert "No note with key 'nope'" in text_of(missing)

    entries = audit_entries(audit.read_text())
    assert len(audit.read_text().splitlines()) == len(entries) == 3  # one line per call, nothing else
    for entry in entries:
        assert set(entry) == AUDIT_FIELDS | ({"error"} if entry["outcome"] == "error" else set())
        assert entry["connector"] == "example"
        assert entry["principal"] == "local"
        assert entry["safety"] == "read"
        assert entry["confirmation"] is None
        assert isinstance(entry["duration_ms"], int | float)
        assert entry["duration_ms"] >= 0
        assert re.fullmatch(r"[0-9a-f]{32}", entry["call_id"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["time"])
    assert [(e["tool"], e["arguments"], e["outcome"]) for e in entries] == [
        ("echo", {"text": "over stdio"}, "ok"),
        ("get_note", {"key": "note-00001"}, "ok"),
        ("get_note", {"key": "nope"}, "error"),
    ]
    assert "No note with key 'nope'" in entries[2]["error"]
    assert len({e["call_id"] for e in entries}) == 3
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600  # the audit file is private
    assert audit_entries(stderr.read_text()) == []  # the file, not stderr, got the lines


@pytest.mark.parametrize(("asked", "served"), [(None, "uvloop"), ("asyncio", "asyncio"), ("uvloop", "uvloop")])
async def test_stdio_serves_on_uvloop_unless_told_otherwise(tmp_path: Path, asked: str | None, served: str) -> None:
    stderr = tmp_path / "stderr.log"
    env = {"PATCHBAY_EVENT_LOOP": asked} if asked else {}
    async with stdio_session(["--log-level", "DEBUG"], stderr, "2026-07-28", env) as client:
        echoed = await client.call_tool("echo", {"text": "on " + served})
    assert echoed.structured_content == {"text": "on " + served}
    assert re.findall(r"event loop: (\w+)", stderr.read_text()) == [served]


@pytest.mark.parametrize("era", ERAS)
async def test_stdio_audit_goes_to_stderr_by_default(tmp_path: Path, era: str) -> None:
    stderr = tmp_path / "stderr.log"
    async with stdio_session([], stderr, era) as client:
        tools = await client.list_tools()
        echoed = await client.call_tool("echo", {"text": f"stderr audit {era}"})
    assert [t.name for t in tools.tools] == READ_TOOLS
    assert echoed.structured_content == {"text": f"stderr audit {era}"}
    entries = audit_entries(stderr.read_text())
    assert [(e["tool"], e["arguments"], e["outcome"], e["principal"]) for e in entries] == [
        ("echo", {"text": f"stderr audit {era}"}, "ok", "local")
    ]


def raw_session(
    messages: list[dict[str, Any]], env: dict[str, str], stderr_path: Path, command: list[str] = CMD
) -> tuple[list[dict[str, Any]], str, int]:
    """Drive the real process over raw pipes: each message on a line, each reply read as it comes;
    then stdin is closed. The replies, what stdout said after them, and the exit status."""
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            command, env={**clean_env(), **env}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    try:
        assert process.stdin is not None and process.stdout is not None
        replies: list[dict[str, Any]] = []
        for message in messages:
            process.stdin.write(json.dumps(message) + "\n")
            process.stdin.flush()
            if "id" in message:
                replies.append(json.loads(process.stdout.readline()))
        out, _ = process.communicate(timeout=30)  # closes stdin: the server exits
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return replies, out, process.returncode


def test_stdout_carries_only_protocol_messages(tmp_path: Path) -> None:
    """Drive the real process over raw pipes: every stdout line is a JSON-RPC message."""
    messages: list[dict[str, Any]] = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "raw"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get_note", "arguments": {"key": "x"}}},
    ]
    stderr_path = tmp_path / "stderr.log"
    replies, out, returncode = raw_session(messages, {"PATCHBAY_EXAMPLE_LOG_LEVEL": "DEBUG"}, stderr_path)  # chatty
    assert out == ""  # nothing after the last reply
    assert [r["id"] for r in replies] == [1, 2, 3]
    assert all(r["jsonrpc"] == "2.0" and "result" in r for r in replies)
    assert replies[1]["result"]["structuredContent"] == {"text": "raw"}
    assert replies[2]["result"]["isError"] is True
    assert returncode == 0
    err = stderr_path.read_text()
    assert "DEBUG" in err  # the log was written ... to stderr
    assert [e["tool"] for e in audit_entries(err)] == ["echo", "get_note"]


def test_a_request_line_over_the_limit_is_refused_unread_and_serving_goes_on(tmp_path: Path) -> None:
    """PATCHBAY_EXAMPLE_MAX_REQUEST_BYTES bounds a stdio line as it bounds an HTTP body: a 5 MB
    call gets a clear error to its id, nothing runs or is audited, and the next call is served."""
    hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
    big = {"name": "echo", "arguments": {"text": "B" * 5_000_000}}
    small = {"name": "echo", "arguments": {"text": "after"}}
    stderr_path = tmp_path / "stderr.log"
    messages: list[dict[str, Any]] = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": big},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": small},
    ]
    replies, _, _ = raw_session(messages, {"PATCHBAY_EXAMPLE_MAX_REQUEST_BYTES": "2048"}, stderr_path)
    assert replies[1] == {
        "jsonrpc": "2.0",
        "id": 2,
        "error": {
            "code": -32600,
            "message": "Request too large: a line on stdio may be at most 2048 bytes "
            "(PATCHBAY_EXAMPLE_MAX_REQUEST_BYTES); it was not read.",
        },
    }
    assert replies[2]["id"] == 3 and replies[2]["result"]["structuredContent"] == {"text": "after"}
    err = stderr_path.read_text()
    assert [e["arguments"] for e in audit_entries(err)] == [{"text": "after"}]  # the big call never ran
    assert "BBBB" not in err


STRAY_CONNECTOR = """
import os
import sys

from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict

from patchbay import Connector, ConnectorSettings


class StraySettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="PATCHBAY_STRAY_")


class Said(BaseModel):
    text: str


connector = Connector("stray", title="Stray", version="0", settings=StraySettings, open_world=False)


@connector.tool("read")
def shout(text: str) -> Said:
    \"\"\"Print to stdout, as careless code in a tool might.\"\"\"
    print("stray print " + text)
    sys.stdout.flush()
    os.write(1, b"stray fd write\\n")
    return Said(text=text)


if __name__ == "__main__":
    from patchbay.cli import main

    main("stray", "stray_connector:connector", distribution="patchbay")
"""


def test_stray_output_of_a_tool_goes_to_stderr_not_the_wire(tmp_path: Path) -> None:
    """While serving, fd 1 and sys.stdout point at stderr: a tool that prints (or writes to
    fd 1) cannot tear the protocol, and every reply still arrives whole, one per line."""
    script = tmp_path / "stray_connector.py"
    script.write_text(STRAY_CONNECTOR)
    initialize = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
    messages: list[dict[str, Any]] = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        *(
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "tools/call",
                "params": {"name": "shout", "arguments": {"text": f"t{i}"}},
            }
            for i in (2, 3, 4)
        ),
    ]
    stderr_path = tmp_path / "stderr.log"
    replies, out, _ = raw_session(messages, {}, stderr_path, [sys.executable, str(script)])
    assert out == ""
    assert [r["id"] for r in replies] == [1, 2, 3, 4]
    assert [r["result"]["structuredContent"] for r in replies[1:]] == [{"text": f"t{i}"} for i in (2, 3, 4)]
    err = stderr_path.read_text()
    assert all(f"stray print t{i}" in err for i in (2, 3, 4))
    assert err.count("stray fd write") == 3


# Read-only by default ----------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_write_tools_are_indistinguishable_from_unknown_ones(tmp_path: Path, era: str) -> None:
    async with stdio_session([], tmp_path / "stderr.log", era) as client:
        tools = await client.list_tools()
        put = await client.call_tool("put_note", {"key": "k", "text": "t"})
        delete = await client.call_tool("delete_note", {"key": "note-00000"})
        unknown = await client.call_tool("no_such_tool", {"key": "k", "text": "t"})
        still_there = await client.call_tool("get_note", {"key": "note-00000"})
    assert [t.name for t in tools.tools] == READ_TOOLS
    assert put.is_error and delete.is_error and unknown.is_error
    assert text_of(unknown) == "Unknown tool: no_such_tool"
    assert text_of(put).replace("put_note", "no_such_tool") == text_of(unknown)
    assert text_of(delete).replace("delete_note", "no_such_tool") == text_of(unknown)
    assert still_there.structured_content == {"key": "note-00000", "text": "Seed note number 0."}


# The command line --------------------------------------------------------------------


def imported_modules(importtime_stderr: str) -> set[str]:
    """Module names from `python -X importtime` output."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name)
    return names


SDK_PACKAGES = ("mcp", "mcp_types", "uvicorn", "starlette")


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_answer_without_importing_the_sdk(flag: str) -> None:
    completed = run_cli(flag, python_options=("-X", "importtime"))
    assert completed.returncode == 0
    modules = imported_modules(completed.stderr)
    assert "patchbay.cli" in modules  # the importtime output was parsed
    sdk = sorted(m for m in modules if m.split(".")[0] in SDK_PACKAGES)
    assert sdk == []
    assert "patchbay.example.server" not in modules


def test_help_describes_the_options() -> None:
    completed = run_cli("--help")
    assert completed.returncode == 0
    assert completed.stdout.startswith("usage: patchbay-example")
    for option in ("--transport", "--allow-writes", "--confirm", "--audit-log", "--stateful", "--insecure-no-auth"):
        assert option in completed.stdout
    assert "PATCHBAY_EXAMPLE_" in completed.stdout


def test_version_prints_the_program_and_its_version() -> None:
    completed = run_cli("--version")
    assert completed.returncode == 0
    assert completed.stdout == f"patchbay-example {version('patchbay')}\n"
    assert version("patchbay") == patchbay.__version__


def test_bad_setting_exits_2_naming_the_variable_and_the_flag() -> None:
    completed = run_cli(env={"PATCHBAY_EXAMPLE_PORT": "notaport"})
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "PATCHBAY_EXAMPLE_PORT" in completed.stderr
    assert "--port" in completed.stderr
    assert "notaport" not in completed.stderr
    assert "Traceback" not in completed.stderr


def test_rejected_values_and_secrets_are_not_echoed() -> None:
    """No secret setting can fail validation (any string is a valid secret), so the guard is generic:
    a rejected value is never repeated (someone may paste a key into the wrong variable), and the
    secrets that are set do not appear either."""
    pasted = "sk-live-4f9c2a7e1b3d5f60"
    secrets = {
        "PATCHBAY_EXAMPLE_API_KEY": "api-key-8e7d6c5b4a392817",
        "PATCHBAY_EXAMPLE_STATE_KEY": "state-key-1029384756abcdef",
        "PATCHBAY_EXAMPLE_AUTH_TOKENS": "auth-token-a1a2a3a4a5a6a7a8",
    }
    completed = run_cli(env={**secrets, "PATCHBAY_EXAMPLE_PORT": pasted, "PATCHBAY_EXAMPLE_SEED_NOTES": pasted})
    assert completed.returncode == 2
    output = completed.stdout + completed.stderr
    assert "PATCHBAY_EXAMPLE_PORT" in output
    assert "PATCHBAY_EXAMPLE_SEED_NOTES" in output
    for value in [pasted, *secrets.values()]:
        assert value not in output


def test_error_for_an_env_only_setting_suggests_no_missing_flag() -> None:
    """The message may name a flag only if the command accepts it."""
    completed = run_cli(env={"PATCHBAY_EXAMPLE_MAX_REQUEST_BYTES": "10"})
    assert completed.returncode == 2
    assert "PATCHBAY_EXAMPLE_MAX_REQUEST_BYTES" in completed.stderr
    help_text = run_cli("--help").stdout
    suggested = re.findall(r"--[a-z][a-z-]+", completed.stderr)
    assert [flag for flag in suggested if flag not in help_text] == []


def test_print_config_shows_effective_settings_with_secrets_masked() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "patchbay.example", "--print-config", "--allow-writes"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PATCHBAY_EXAMPLE_API_KEY": "canary-print-config-key", "PATCHBAY_EXAMPLE_PORT": "9123"},
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert (shown["allow_writes"], shown["port"], shown["api_key"]) == (True, 9123, "**********")
    assert "canary-print-config-key" not in result.stdout + result.stderr


def test_start_up_runs_without_collections_and_serving_runs_with_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI turns the garbage collector off for start-up (faster) and `run` turns it back on to serve."""
    import gc

    from patchbay import cli, connector

    seen: list[bool] = []
    monkeypatch.setattr(connector.anyio, "run", lambda *_args, **_kwargs: seen.append(gc.isenabled()))
    try:
        cli.main("example", "patchbay.example.server:connector", distribution="patchbay", argv=[])
    finally:
        gc.unfreeze()  # run() froze this test process's heap
    assert seen[-1] is True  # serving (stdio here) starts with collections on
    seen.clear()
    cli.main("example", "patchbay.example.server:connector", distribution="patchbay", argv=["--print-config"])
    assert gc.isenabled()  # also after a command that returns without serving
