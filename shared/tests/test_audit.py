"""One audit line per finished call; secrets never reach a log line or a result."""

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from patchbay.example.server import connector
from patchbay.testing import Answer, connect

from .canary import API_KEY, PASSWORD
from .canary import connector as canary

pytestmark = pytest.mark.anyio

FIELDS = {
    "time",
    "connector",
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


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_each_call_writes_exactly_one_line_with_every_field(era: str, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    settings = {"allow_writes": True, "audit_log": log}
    async with connect(connector, settings, era=era, elicit=Answer("accept")) as client:
        await client.call_tool("echo", {"text": "hi"})
        await client.call_tool("get_note", {"key": "missing"})
        await client.call_tool("delete_note", {"key": "note-00000"})
    entries = lines(log)
    assert [e["tool"] for e in entries] == ["echo", "get_note", "delete_note"]
    for entry in entries:
        assert set(entry) >= FIELDS
        assert entry["connector"] == "example"
        assert entry["principal"] == "local"
        assert entry["duration_ms"] >= 0
    echo, missing, delete = entries
    assert (echo["safety"], echo["outcome"], echo["arguments"]) == ("read", "ok", {"text": "hi"})
    assert (missing["outcome"], missing["error"]) == ("error", missing["error"])
    assert "No note with key 'missing'" in missing["error"]
    assert (delete["safety"], delete["outcome"], delete["confirmation"]) == ("destructive", "ok", "accepted")
    assert len({e["call_id"] for e in entries}) == 3


@pytest.mark.parametrize(("answer", "outcome"), [("decline", "declined"), ("cancel", "cancelled")])
async def test_declined_and_cancelled_calls_are_recorded_as_such(
    era: str, tmp_path: Path, answer: str, outcome: str
) -> None:
    log = tmp_path / "audit.jsonl"
    async with connect(connector, {"allow_writes": True, "audit_log": log}, era=era, elicit=Answer(answer)) as client:  # type: ignore[arg-type]
        await client.call_tool("delete_note", {"key": "note-00000"})
    (entry,) = lines(log)
    assert (entry["outcome"], entry["confirmation"]) == (outcome, outcome)


async def test_a_refused_call_is_recorded_as_denied(era: str, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    async with connect(connector, {"allow_writes": True, "audit_log": log}, era=era) as client:
        await client.call_tool("delete_note", {"key": "note-00000"})
    (entry,) = lines(log)
    assert entry["outcome"] == "denied"


async def test_unknown_tools_are_audited_too(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    async with connect(connector, {"audit_log": log}) as client:
        await client.call_tool("put_note", {"key": "a", "text": "b"})  # hidden in read-only mode
    (entry,) = lines(log)
    assert (entry["tool"], entry["safety"], entry["outcome"]) == ("put_note", None, "error")


async def test_file_sink_is_private_and_stdout_stays_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "audit.jsonl"
    async with connect(connector, {"audit_log": log}) as client:
        await client.call_tool("echo", {"text": "hi"})
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    captured = capsys.readouterr()
    assert captured.out == ""
    assert '"tool":"echo"' not in captured.err  # went to the file instead


async def test_default_sink_is_stderr_never_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    async with connect(connector) as client:
        await client.call_tool("echo", {"text": "hi"})
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = [json.loads(x) for x in captured.err.splitlines() if x.startswith("{")]
    assert line["tool"] == "echo"


async def test_canary_secrets_never_appear_in_results_logs_or_audit(
    era: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATCHBAY_CANARY_API_KEY", API_KEY)
    log = tmp_path / "audit.jsonl"
    seen: list[str] = []
    async with connect(canary, {"audit_log": log, "log_level": "DEBUG"}, era=era) as client:
        for tool, args in [
            ("repeat_setting", {}),
            ("login", {"user": "ada", "password": PASSWORD}),
            ("echo_password", {"password": PASSWORD}),
            ("crash", {}),
        ]:
            result = await client.call_tool(tool, args)
            seen.append(result.model_dump_json())
    captured = capsys.readouterr()
    everything = "\n".join([*seen, log.read_text(), captured.out, captured.err])
    assert API_KEY not in everything
    assert PASSWORD not in everything
    # The calls still said something useful, with the secrets masked.
    assert "key=[REDACTED]" in seen[0]
    assert "Could not reach the upstream service" in seen[1]
    assert "you said [REDACTED]" in seen[2]
    assert "Internal error (incident" in seen[3]
    assert "Traceback" not in everything
    entries = lines(log)
    assert entries[1]["arguments"] == {"user": "ada", "password": "[REDACTED]"}
    assert "about to use key [REDACTED]" in captured.err
