"""patchbay.verify and patchbay.origin: how an entry is started as each host would, and where `patchbay` came from."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from patchbay import origin, verify
from patchbay.verify import Launch, Outcome, Unresolved

ENV = {"DSN": "postgresql://x@h/db", "HOME": "/home/me"}


def entry(value: str, **extra: Any) -> dict[str, Any]:
    return {"command": "uvx", "args": ["pkg", value], "env": {"DSN": value}} | extra


@pytest.mark.parametrize(
    ("client", "reference"),
    [
        ("claude-code", "${DSN}"),
        ("cursor", "${env:DSN}"),
        ("windsurf", "${env:DSN}"),
        ("gemini", "${DSN}"),
        ("gemini", "$DSN"),
        ("vscode", "${input:dsn}"),
        ("vscode", "${env:DSN}"),
    ],
)
def test_each_host_reference_is_filled_from_the_environment(client: str, reference: str) -> None:
    assert verify.launch(client, entry(reference), ENV) == Launch("uvx", ["pkg", ENV["DSN"]], {"DSN": ENV["DSN"]})


@pytest.mark.parametrize(
    ("client", "reference"),
    [("claude-desktop", "${DSN}"), ("zed", "$DSN"), ("codex", "${DSN}"), ("cursor", "${DSN}"), ("claude-code", "$DSN")],
)
def test_a_form_the_host_does_not_expand_stays_literal(client: str, reference: str) -> None:
    assert verify.launch(client, entry(reference), ENV).env == {"DSN": reference}


def test_claude_code_defaults_apply_only_when_unset() -> None:
    assert verify.launch("claude-code", entry("${NOPE:-fallback}"), ENV).env == {"DSN": "fallback"}
    assert verify.launch("claude-code", entry("${DSN:-fallback}"), ENV).env == {"DSN": ENV["DSN"]}


@pytest.mark.parametrize(("client", "reference"), [("claude-code", "${NOPE}"), ("cursor", "${env:NOPE}")])
def test_an_unset_variable_fails_naming_it_and_the_host(client: str, reference: str) -> None:
    with pytest.raises(Unresolved) as caught:
        verify.launch(client, entry(reference), ENV)
    assert caught.value.outcome.state == "fails"
    assert caught.value.outcome.reason.startswith("NOPE is unset")
    assert "Claude Code" in caught.value.outcome.reason or "Cursor" in caught.value.outcome.reason


def test_codex_forwards_env_vars_and_fails_when_one_is_unset() -> None:
    codex = {"command": "uvx", "args": ["pkg"], "env": {"A": "1"}, "env_vars": ["DSN"]}
    assert verify.launch("codex", codex, ENV).env == {"A": "1", "DSN": ENV["DSN"]}
    with pytest.raises(Unresolved, match="DSN is unset"):
        verify.launch("codex", codex, {})


def test_a_vscode_input_without_a_value_here_is_unchecked_not_failed() -> None:
    outcome = verify.check("vscode", entry("${input:dsn}"), environ={}, cwd=Path.cwd())
    assert outcome.state == "unchecked" and outcome.ok
    assert "set DSN in this shell" in outcome.reason


def test_an_http_entry_is_not_started() -> None:
    outcome = verify.check("cursor", {"url": "https://mcp.example.com/mcp"}, environ={}, cwd=Path.cwd())
    assert outcome.state == "unchecked" and "https://mcp.example.com/mcp" in outcome.reason


def test_outcome_text() -> None:
    assert str(Outcome("starts", "9 tools in 1.0 s")) == "starts (9 tools in 1.0 s)"
    assert str(Outcome("fails", "X is unset")) == "fails: X is unset"
    assert not Outcome("fails", "x").ok


# ------------------------------------------------------------------- real processes

SERVER = """
import sys
from mcp.server.mcpserver import MCPServer
server = MCPServer("probe")
@server.tool()
def ping() -> str:
    return "pong"
sys.stderr.write(sys.argv[1] + "\\n")
server.run()
"""


def test_a_server_that_starts_is_counted_and_its_warnings_shown(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    warning = "2026-01-01 10:00:00,000 WARNING patchbay.x: the cache is cold"
    outcome = verify.start(Launch(sys.executable, [str(script), warning], {}), environ={}, cwd=tmp_path, timeout=60)
    assert outcome.state == "starts", outcome
    assert outcome.reason.startswith("1 tools in ")
    assert outcome.reason.endswith("; it logs: the cache is cold")


def test_a_server_that_says_it_cannot_reach_its_backend_fails(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    warning = "2026-01-01 10:00:00,000 WARNING patchbay.x: database 'default' is not reachable: refused"
    outcome = verify.start(Launch(sys.executable, [str(script), warning], {}), environ={}, cwd=tmp_path, timeout=60)
    assert outcome == Outcome("fails", "it starts but logs: database 'default' is not reachable: refused")


def test_a_server_that_exits_fails_with_its_own_message(tmp_path: Path) -> None:
    code = "import sys; sys.stderr.write('patchbay-x: invalid setting: no database given\\n'); sys.exit(2)"
    outcome = verify.start(Launch(sys.executable, ["-c", code], {}), environ={}, cwd=tmp_path, timeout=60)
    assert outcome == Outcome("fails", "invalid setting: no database given")


def test_a_missing_command_fails_naming_it(tmp_path: Path) -> None:
    outcome = verify.start(Launch("no-such-command-here", [], {}), environ={"PATH": ""}, cwd=tmp_path, timeout=10)
    assert outcome == Outcome("fails", "command 'no-such-command-here' not found on PATH")


# ------------------------------------------------------------------- origin (PEP 610)


def test_no_direct_url_means_an_index() -> None:
    assert origin.source_from_direct_url(None) == "pypi"
    assert origin.source_from_direct_url(json.dumps({"url": "file:///w/x.whl", "archive_info": {}})) == "pypi"


def test_a_checkout_directory_is_the_source(tmp_path: Path) -> None:
    (tmp_path / "servers").mkdir()
    (tmp_path / "shared").mkdir()
    text = json.dumps({"url": (tmp_path / "shared").as_uri(), "dir_info": {"editable": True}})
    assert origin.source_from_direct_url(text) == str(tmp_path)
    lonely = json.dumps({"url": (tmp_path / "servers").as_uri(), "dir_info": {}})
    assert origin.source_from_direct_url(lonely) == str(tmp_path)  # its parent holds servers/
    elsewhere = tmp_path / "elsewhere" / "shared"
    elsewhere.mkdir(parents=True)
    assert origin.source_from_direct_url(json.dumps({"url": elsewhere.as_uri(), "dir_info": {}})) == "pypi"


def test_a_git_install_gives_the_same_repository_and_commit() -> None:
    text = json.dumps(
        {
            "url": "https://github.com/patchbay/patchbay",
            "subdirectory": "shared",
            "vcs_info": {"vcs": "git", "commit_id": "a" * 40, "requested_revision": "main"},
        }
    )
    assert origin.source_from_direct_url(text) == f"git+https://github.com/patchbay/patchbay@{'a' * 40}"


def test_this_checkout_is_where_patchbay_came_from() -> None:
    assert origin.default_source() == str(Path(__file__).resolve().parents[2])
