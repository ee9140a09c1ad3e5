"""One audit line per finished call; secrets never reach a log line or a result."""

import json
import os
import re
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from mcp import Client
from mcp.shared.exceptions import MCPError

from patchbay import audit
from patchbay.example.server import connector
from patchbay.testing import Answer, connect, runtime_of_server

from .canary import API_KEY, ISSUED, PASSWORD, REFRESHED
from .canary import connector as canary

pytestmark = pytest.mark.anyio

FIELDS = {
    "time",
    "connector",
    "method",
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
    assert [(e["method"], e["tool"]) for e in entries] == [
        ("tools/call", "echo"),
        ("tools/call", "get_note"),
        ("tools/call", "delete_note"),
    ]
    for entry in entries:
        assert set(entry) >= FIELDS
        assert entry["connector"] == "example"
        assert entry["principal"] == "local"
        assert entry["duration_ms"] >= 0
    echo, missing, delete = entries
    assert (echo["safety"], echo["outcome"], echo["arguments"]) == ("read", "ok", {"text": "hi"})
    assert missing["outcome"] == "error"
    assert missing["error"] == "No note with key 'missing'; list_notes shows the keys that exist."
    assert (delete["safety"], delete["outcome"], delete["confirmation"]) == ("destructive", "ok", "accepted")
    assert len({e["call_id"] for e in entries}) == 3


async def test_resource_reads_prompts_and_completions_are_audited_like_tool_calls(era: str, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    async with connect(connector, {"audit_log": log}, era=era) as client:
        await client.read_resource("note://note-00002")
        with pytest.raises(MCPError):
            await client.read_resource("note://missing")
        await client.get_prompt("summarize_notes", {"prefix": "note-"})
        await client.complete(
            types.PromptReference(type="ref/prompt", name="summarize_notes"), {"name": "prefix", "value": "no"}
        )
    read, missing, prompt, completion = lines(log)
    for entry in (read, missing, prompt, completion):
        assert set(entry) >= FIELDS
        assert (entry["connector"], entry["principal"], entry["safety"]) == ("example", "local", "read")
        assert entry["duration_ms"] >= 0
    assert (read["method"], read["uri"], read["outcome"]) == ("resources/read", "note://note-00002", "ok")
    assert "error" not in read
    assert (missing["uri"], missing["outcome"]) == ("note://missing", "error")
    code = -32002 if era == "legacy" else -32602
    assert missing["error"] == f"{code}: No note with key 'missing'; list_notes shows the keys that exist."
    assert (prompt["method"], prompt["prompt"], prompt["arguments"]) == (
        "prompts/get",
        "summarize_notes",
        {"prefix": "note-"},
    )
    assert (completion["method"], completion["ref"], completion["arguments"]) == (
        "completion/complete",
        "summarize_notes",
        {"prefix": "no"},
    )
    assert len({e["call_id"] for e in (read, missing, prompt, completion)}) == 4


async def test_subscriptions_are_audited(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    async with connect(connector, {"audit_log": log}, era="legacy") as client:  # subscriptions: handshake era
        await client.subscribe_resource("note://a")
    (entry,) = lines(log)
    assert (entry["method"], entry["uri"], entry["outcome"]) == ("resources/subscribe", "note://a", "ok")


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


ORDER = ["time", "connector", "method", "tool", "call_id", "request_id", "principal", "safety", "arguments"]
ORDER += ["outcome", "confirmation", "duration_ms"]


async def test_a_line_has_the_documented_order_and_a_millisecond_utc_time(era: str, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    async with connect(connector, {"audit_log": log}, era=era) as client:
        await client.call_tool("echo", {"text": 'caf\u00e9 "quoted"\n'})
        await client.call_tool("get_note", {"key": "missing"})
    text = log.read_text()
    assert text.isascii()  # non-ASCII text is escaped, as json.dumps does
    ok, failed = lines(log)
    assert list(ok) == ORDER
    assert list(failed) == [*ORDER, "error"]
    assert ok["arguments"] == {"text": 'caf\u00e9 "quoted"\n'}
    for entry in (ok, failed):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["time"])
        assert abs((datetime.now(UTC) - datetime.fromisoformat(entry["time"])).total_seconds()) < 60


@pytest.mark.parametrize("now", [1_700_000_000.0, 1_700_000_000.9994, 1_700_000_001.0005, 1_700_000_061.25, 0.5])
def test_the_clock_writes_what_datetime_would(monkeypatch: pytest.MonkeyPatch, now: float) -> None:
    clock = audit._Clock()
    monkeypatch.setattr(audit.time, "time", lambda: now)
    assert clock.now() == datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    assert clock.now() == datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")  # the kept second


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(JSON)
@example("caf\u00e9 \ud800")
@example({"cl\u00e9": ["na\u00efve", 1.5, None, True]})
def test_values_are_encoded_as_json_dumps_would(value: Any) -> None:
    assert audit._json(value) == json.dumps(value, separators=(",", ":"))


async def test_tool_names_a_client_makes_up_are_not_remembered(tmp_path: Path) -> None:
    server = connector.build(connector.load_settings({"audit_log": tmp_path / "audit.jsonl"}))
    log = runtime_of_server(server).audit
    async with Client(server) as client:
        for n in range(50):
            await client.call_tool(f"made_up_{n}", {})
        await client.call_tool("echo", {"text": "hi"})
    assert list(log._heads) == ["echo"]
    assert [e["tool"] for e in lines(tmp_path / "audit.jsonl")] == [*(f"made_up_{n}" for n in range(50)), "echo"]


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
            ("crash_login", {"password": PASSWORD}),
        ]:
            result = await client.call_tool(tool, args)
            seen.append(result.model_dump_json())
        seen.append((await client.read_resource("canary://secret/shown")).model_dump_json())
        seen.append((await client.get_prompt("secret_prompt", {"topic": "shown"})).model_dump_json())
        for failing in (
            client.read_resource("canary://secret/crash"),
            client.get_prompt("secret_prompt", {"topic": "x"}),
        ):
            with pytest.raises(MCPError) as caught:
                await failing
            assert caught.value.code == -32603
            seen.append(caught.value.error.model_dump_json())
    captured = capsys.readouterr()
    everything = "\n".join([*seen, log.read_text(), captured.out, captured.err])
    assert API_KEY not in everything
    assert PASSWORD not in everything
    # The calls still said something useful, with the secrets masked.
    assert "key=[REDACTED]" in seen[0]
    assert "Could not reach the upstream service" in seen[1]
    assert "you said [REDACTED]" in seen[2]
    assert "resource text with key=[REDACTED]" in seen[5]
    assert "prompt text with key=[REDACTED]" in seen[6]
    entries = lines(log)
    assert entries[1]["arguments"] == {"user": "ada", "password": "[REDACTED]"}
    assert "about to use key [REDACTED]" in captured.err
    # No traceback reaches the client; the server log has each, masked, under the incident id the client saw.
    for crash_result, arguments in [(seen[3], "ada"), (seen[4], "ada"), (seen[7], "crash"), (seen[8], "x")]:
        assert "Traceback" not in crash_result
        assert "no route" not in crash_result
        (incident,) = re.findall(
            r"Internal error \(incident ([0-9a-f]{12})\); the server log has the details", crash_result
        )
        record = log_record(captured.err, f"failed unexpectedly (incident {incident})")
        assert "Traceback (most recent call last):" in record
        assert f"KeyError: 'no route for [REDACTED] as {arguments}'" in record  # the exception's message
        assert "    key = '[REDACTED]'" in record  # the raising frame's argument
        assert f"    user = '{arguments}'" in record  # locals are there to help, only secrets are masked


async def test_refreshed_tokens_are_masked_in_results_errors_logs_and_audit(
    era: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "audit.jsonl"
    issued_before = len(ISSUED)
    async with connect(canary, {"audit_log": log, "log_level": "DEBUG"}, era=era) as client:
        in_result = (await client.call_tool("refreshed_in_result", {})).model_dump_json()
        in_error = (await client.call_tool("refreshed_in_error", {})).model_dump_json()
        crashed = (await client.call_tool("refreshed_crash", {})).model_dump_json()
    captured = capsys.readouterr()
    # Each call used a token refreshed during the run, after the connector started.
    assert len(ISSUED) - issued_before == 3
    everything = "\n".join([in_result, in_error, crashed, log.read_text(), captured.out, captured.err])
    assert REFRESHED not in everything
    assert "upstream echoed [REDACTED]" in in_result
    assert "calling upstream with [REDACTED]" in captured.err
    assert "upstream refused [REDACTED]" in in_error
    assert "upstream refused [REDACTED]" in log.read_text()  # the audit line's error
    (incident,) = re.findall(r"Internal error \(incident ([0-9a-f]{12})\)", crashed)
    record = log_record(captured.err, f"failed unexpectedly (incident {incident})")
    assert "KeyError: 'no route for [REDACTED] as bob'" in record
    assert "    key = '[REDACTED]'" in record


def log_record(stderr: str, marker: str) -> str:
    """The server log record (message and traceback) whose first line contains `marker`."""
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )", stderr)
    (record,) = [r for r in records if marker in r.partition("\n")[0]]
    return record
