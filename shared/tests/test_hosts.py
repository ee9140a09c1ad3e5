"""patchbay.hosts: writing a server into every AI host's MCP config without harming the rest of the file."""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from patchbay import hosts
from patchbay.hosts import CLIENTS, SCOPES, Change, HostConfigError, ServerEntry, config_path, install, uninstall

DATA = Path(__file__).parent / "hosts_data"
PAIRS = [(client, scope) for client in CLIENTS for scope in SCOPES[client]]
LITERAL_ONLY = ("claude-desktop", "zed")
REFERENCING = tuple(c for c in CLIENTS if c not in LITERAL_ONLY)
JSONC = ("vscode", "zed")
PLAIN_JSON = ("claude-desktop", "claude-code", "cursor", "windsurf")
TOKEN = "tok-Secret-1234"
NAME = "acme-jira"
FIXTURES = {
    "claude-desktop": "claude-desktop.json",
    "claude-code": "claude-code.json",
    "vscode": "vscode.jsonc",
    "cursor": "cursor.json",
    "windsurf": "windsurf.json",
    "zed": "zed.jsonc",
    "codex": "codex.toml",
    "gemini": "gemini.json",
}
CONTAINER = {
    "claude-desktop": "mcpServers",
    "claude-code": "mcpServers",
    "vscode": "servers",
    "cursor": "mcpServers",
    "windsurf": "mcpServers",
    "zed": "context_servers",
    "codex": "mcp_servers",
    "gemini": "mcpServers",
}
ARGS = ["acme-mcp-jira==1.4.0"]
BASE_URL = {"JIRA_BASE_URL": "https://x.atlassian.net"}


def _stdio(ref: str | None, *, typed: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "stdio"} if typed else {}
    return entry | {"command": "uvx", "args": ARGS, "env": BASE_URL | {"JIRA_API_TOKEN": ref}}


EXPECTED_STDIO: dict[str, dict[str, Any]] = {
    "claude-desktop": _stdio(TOKEN),
    "claude-code": _stdio("${JIRA_API_TOKEN}", typed=True),
    "vscode": _stdio("${input:jira-api-token}", typed=True),
    "cursor": _stdio("${env:JIRA_API_TOKEN}"),
    "windsurf": _stdio("${env:JIRA_API_TOKEN}"),
    "zed": _stdio(TOKEN),
    "codex": {"command": "uvx", "args": ARGS, "env": BASE_URL, "env_vars": ["JIRA_API_TOKEN"]},
    "gemini": _stdio("${JIRA_API_TOKEN}"),
}
URL = "https://mcp.example.com/mcp"
EXPECTED_HTTP: dict[str, dict[str, Any]] = {
    "claude-code": {"type": "http", "url": URL, "headers": {"Authorization": "Bearer ${ACME_TOKEN}"}},
    "vscode": {"type": "http", "url": URL, "headers": {"Authorization": "Bearer ${input:acme-token}"}},
    "cursor": {"url": URL, "headers": {"Authorization": "Bearer ${env:ACME_TOKEN}"}},
    "windsurf": {"serverUrl": URL, "headers": {"Authorization": "Bearer ${env:ACME_TOKEN}"}},
    "zed": {"url": URL, "headers": {"Authorization": f"Bearer {TOKEN}"}},
    "codex": {"url": URL, "bearer_token_env_var": "ACME_TOKEN"},
    "gemini": {"httpUrl": URL, "headers": {"Authorization": "Bearer ${ACME_TOKEN}"}},
}


@dataclass
class Env:
    home: Path
    cwd: Path
    platform: str = "linux"

    def kw(self, **overrides: Any) -> dict[str, Any]:
        return {"home": self.home, "cwd": self.cwd, "platform": self.platform, "environ": {}} | overrides

    def path(self, client: str, scope: str = "user") -> Path:
        return config_path(client, scope, **self.kw())  # type: ignore[arg-type]

    def install(self, client: str, entry: ServerEntry, scope: str = "user", **kw: Any) -> Change:
        return install(client, scope, entry, **self.kw(), **kw)  # type: ignore[arg-type]

    def uninstall(self, client: str, name: str = NAME, scope: str = "user", **kw: Any) -> Change:
        return uninstall(client, scope, name, **self.kw(), **kw)  # type: ignore[arg-type]

    def put(self, client: str, content: str | bytes, scope: str = "user") -> Path:
        path = self.path(client, scope)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)
        return path

    def put_fixture(self, client: str) -> Path:
        return self.put(client, (DATA / FIXTURES[client]).read_bytes())


@pytest.fixture
def env(tmp_path: Path) -> Env:
    (tmp_path / "home").mkdir()
    (tmp_path / "project").mkdir()
    return Env(tmp_path / "home", tmp_path / "project")


def stdio_entry(client: str, *, secret: str | None = None, name: str = NAME) -> ServerEntry:
    value = TOKEN if client in LITERAL_ONLY and secret is None else secret
    return ServerEntry(name, "uvx", list(ARGS), dict(BASE_URL), {"JIRA_API_TOKEN": value})


def http_entry(client: str) -> ServerEntry:
    return ServerEntry(
        NAME, url=URL, bearer_token_env="ACME_TOKEN", secrets={"ACME_TOKEN": TOKEN if client == "zed" else None}
    )


_COMMENT_OR_STRING = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/', re.S)


def parse_jsonc(text: str) -> Any:
    """An independent, simple JSONC reader for checking results (test data has no commas in strings before '}')."""
    text = _COMMENT_OR_STRING.sub(lambda m: m.group(1) or "", text.removeprefix("\ufeff"))
    return json.loads(re.sub(r",(\s*[}\]])", r"\1", text))


def load(client: str, path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return tomllib.loads(text) if client == "codex" else parse_jsonc(text)


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".patchbay-*.bak"))


def assert_only_added(before: str, after: str) -> None:
    """`after` is `before` plus inserted lines; an existing line may only have gained a trailing comma."""
    old, new = before.splitlines(), after.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            assert tag == "replace", f"lines removed: {old[i1:i2]}"
            for line in old[i1:i2]:
                gained_comma = [
                    n for n in new[j1:j2] for i, ch in enumerate(n) if ch == "," and n[:i] + n[i + 1 :] == line
                ]
                assert gained_comma, f"line changed: {line!r}"


# --------------------------------------------------------------------------- paths and scopes


H, C = Path("/h"), Path("/p")


@pytest.mark.parametrize(
    ("client", "scope", "platform", "environ", "expected"),
    [
        ("claude-desktop", "user", "darwin", {}, H / "Library/Application Support/Claude/claude_desktop_config.json"),
        (
            "claude-desktop",
            "user",
            "win32",
            {"APPDATA": "/w/Roaming"},
            Path("/w/Roaming/Claude/claude_desktop_config.json"),
        ),
        ("claude-desktop", "user", "win32", {}, H / "AppData/Roaming/Claude/claude_desktop_config.json"),
        ("claude-desktop", "user", "linux", {}, H / ".config/Claude/claude_desktop_config.json"),
        ("claude-code", "user", "linux", {}, H / ".claude.json"),
        ("claude-code", "user", "win32", {}, H / ".claude.json"),
        ("claude-code", "user", "linux", {"CLAUDE_CONFIG_DIR": "/cc"}, Path("/cc/.claude.json")),
        ("claude-code", "project", "darwin", {}, C / ".mcp.json"),
        ("claude-code", "local", "linux", {}, H / ".claude.json"),
        ("claude-code", "local", "linux", {"CLAUDE_CONFIG_DIR": "/cc"}, Path("/cc/.claude.json")),
        ("vscode", "user", "linux", {}, H / ".config/Code/User/mcp.json"),
        ("vscode", "user", "linux", {"XDG_CONFIG_HOME": "/xdg"}, Path("/xdg/Code/User/mcp.json")),
        ("vscode", "user", "linux", {"XDG_CONFIG_HOME": "relative"}, H / ".config/Code/User/mcp.json"),
        ("vscode", "user", "darwin", {"XDG_CONFIG_HOME": "/xdg"}, H / "Library/Application Support/Code/User/mcp.json"),
        ("vscode", "user", "win32", {"APPDATA": "/w/Roaming"}, Path("/w/Roaming/Code/User/mcp.json")),
        ("vscode", "project", "win32", {}, C / ".vscode/mcp.json"),
        ("cursor", "user", "darwin", {}, H / ".cursor/mcp.json"),
        ("cursor", "user", "win32", {}, H / ".cursor/mcp.json"),
        ("cursor", "project", "linux", {}, C / ".cursor/mcp.json"),
        ("windsurf", "user", "linux", {}, H / ".codeium/windsurf/mcp_config.json"),
        ("windsurf", "user", "win32", {}, H / ".codeium/windsurf/mcp_config.json"),
        ("zed", "user", "linux", {}, H / ".config/zed/settings.json"),
        ("zed", "user", "linux", {"XDG_CONFIG_HOME": "/xdg"}, Path("/xdg/zed/settings.json")),
        ("zed", "user", "darwin", {}, H / ".config/zed/settings.json"),
        ("zed", "user", "win32", {"APPDATA": "/w/Roaming"}, Path("/w/Roaming/Zed/settings.json")),
        ("zed", "project", "linux", {}, C / ".zed/settings.json"),
        ("codex", "user", "linux", {}, H / ".codex/config.toml"),
        ("codex", "user", "darwin", {"CODEX_HOME": "/ch"}, Path("/ch/config.toml")),
        ("codex", "project", "linux", {}, C / ".codex/config.toml"),
        ("gemini", "user", "win32", {}, H / ".gemini/settings.json"),
        ("gemini", "project", "linux", {}, C / ".gemini/settings.json"),
    ],
)
def test_config_path(client: str, scope: Any, platform: str, environ: dict[str, str], expected: Path) -> None:
    assert config_path(client, scope, home=H, cwd=C, platform=platform, environ=environ) == expected


def test_every_client_has_scopes_and_the_default_matches_the_host() -> None:
    assert set(SCOPES) == set(CLIENTS)
    assert all(SCOPES[c][0] == "user" for c in CLIENTS if c != "claude-code")
    assert SCOPES["claude-code"] == ("local", "user", "project")  # `claude mcp add` defaults to local
    assert SCOPES["claude-desktop"] == ("user",)
    assert SCOPES["windsurf"] == ("user",)


@pytest.mark.parametrize("client", ["claude-desktop", "windsurf"])
def test_a_scope_the_host_lacks_is_refused_naming_the_valid_ones(env: Env, client: str) -> None:
    with pytest.raises(HostConfigError, match="no 'project' scope; use --scope user"):
        env.install(client, stdio_entry(client), scope="project")
    assert not any(env.cwd.iterdir())


def test_an_unknown_client_is_refused_with_the_list(env: Env) -> None:
    with pytest.raises(HostConfigError, match="Unknown client 'vim'; choose one of: claude-desktop, claude-code"):
        env.install("vim", stdio_entry("cursor"))


# --------------------------------------------------------------------------- fresh files


@pytest.mark.parametrize(("client", "scope"), PAIRS)
def test_a_missing_file_is_created_with_parents_and_two_space_indentation(env: Env, client: str, scope: str) -> None:
    change = env.install(client, stdio_entry(client), scope=scope)
    path = env.path(client, scope)
    assert change.path == path and change.changed and change.backup is None
    assert path.is_file()
    text = path.read_text()
    servers = {CONTAINER[client]: {NAME: EXPECTED_STDIO[client]}}
    if scope == "local":
        servers = {"projects": {str(env.cwd): servers}}
    assert load(client, path) == servers | ({"inputs": [_jira_input()]} if client == "vscode" else {})
    assert text.endswith("\n")
    if client != "codex" and scope != "local":
        assert text.startswith("{\n  " + json.dumps(CONTAINER[client]) + ": {\n    " + json.dumps(NAME) + ": {\n")
        assert json.loads(text) == load(client, path)  # plain JSON, no comments
    assert change.diff.startswith(f"--- /dev/null\n+++ {path}\n")


def _jira_input() -> dict[str, Any]:
    return {
        "type": "promptString",
        "id": "jira-api-token",
        "description": "JIRA_API_TOKEN for the acme-jira MCP server",
        "password": True,
    }


@pytest.mark.parametrize("content", ["", "   \n\n"])
def test_an_empty_file_is_treated_like_a_missing_one(env: Env, content: str) -> None:
    env.put("cursor", content)
    change = env.install("cursor", stdio_entry("cursor"))
    assert change.changed and change.backup is not None
    assert load("cursor", change.path) == {"mcpServers": {NAME: EXPECTED_STDIO["cursor"]}}


# --------------------------------------------------------------------------- existing files


@pytest.mark.parametrize("client", CLIENTS)
def test_an_existing_file_keeps_every_other_byte_and_uninstall_restores_it(env: Env, client: str) -> None:
    path = env.put_fixture(client)
    original = path.read_bytes()
    before = load(client, path)

    change = env.install(client, stdio_entry(client))

    assert change.changed
    after = load(client, path)
    assert after[CONTAINER[client]][NAME] == EXPECTED_STDIO[client]
    # Everything else means what it meant...
    after[CONTAINER[client]].pop(NAME)
    if client == "vscode":
        assert after["inputs"].pop() == _jira_input()
    if client == "zed":
        assert after.pop("context_servers") == {}
    assert after == before
    # ...and is written as it was: lines were only added (one existing line may gain a comma).
    text = path.read_text(encoding="utf-8")
    assert_only_added(original.decode(), text)
    # The backup is the previous file, private.
    assert change.backup is not None and change.backup.read_bytes() == original
    assert stat.S_IMODE(change.backup.stat().st_mode) == 0o600
    assert re.fullmatch(re.escape(path.name) + r"\.patchbay-\d{8}-\d{6}(-\d+)?\.bak", change.backup.name)

    removed = env.uninstall(client)
    assert removed.changed and removed.backup is not None
    if client == "zed":  # the container we created stays, empty
        assert path.read_bytes() == original.replace(b"  /* no context_servers yet */\n", b"").replace(
            b"  },\n}", b'  },\n  /* no context_servers yet */\n  "context_servers": {},\n}'
        )
    else:
        assert path.read_bytes() == original


@pytest.mark.parametrize("client", CLIENTS)
def test_new_entries_follow_the_file_indentation(env: Env, client: str) -> None:
    path = env.put_fixture(client)
    env.install(client, stdio_entry(client))
    text = path.read_text()
    indent = {
        "claude-desktop": " " * 8,
        "claude-code": "    ",
        "vscode": "\t\t",
        "cursor": "    ",
        "windsurf": " " * 8,
        "zed": "    ",
        "gemini": "    ",
    }
    if client == "codex":
        assert '\n[mcp_servers.acme-jira]\ncommand = "uvx"\n' in text
    else:
        assert f'\n{indent[client]}"{NAME}": {{' in text
        step = indent[client][: len(indent[client]) // 2]
        assert f'\n{indent[client]}{step}"command": "uvx",' in text


def test_crlf_files_stay_crlf(env: Env) -> None:
    path = env.put_fixture("windsurf")
    env.install("windsurf", stdio_entry("windsurf"))
    raw = path.read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n") > 10


@pytest.mark.parametrize(("client", "scope"), PAIRS)
def test_installing_twice_changes_nothing(env: Env, client: str, scope: str) -> None:
    env.install(client, stdio_entry(client), scope=scope)
    path = env.path(client, scope)
    content, mtime = path.read_bytes(), path.stat().st_mtime_ns
    again = env.install(client, stdio_entry(client), scope=scope)
    assert (again.changed, again.diff, again.backup) == (False, "", None)
    assert path.read_bytes() == content and path.stat().st_mtime_ns == mtime
    assert backups(path) == []


@pytest.mark.parametrize("client", CLIENTS)
def test_installing_twice_into_an_existing_file_makes_one_backup(env: Env, client: str) -> None:
    path = env.put_fixture(client)
    env.install(client, stdio_entry(client))
    assert not env.install(client, stdio_entry(client)).changed
    assert len(backups(path)) == 1


@pytest.mark.parametrize(("client", "scope"), PAIRS)
def test_uninstall_removes_only_our_entry(env: Env, client: str, scope: str) -> None:
    env.install(client, stdio_entry(client, name="other"), scope=scope)
    env.install(client, stdio_entry(client), scope=scope)
    change = env.uninstall(client, scope=scope)
    assert change.changed
    path, servers = hosts.installed(client, scope, **env.kw())  # type: ignore[arg-type]
    assert path == env.path(client, scope)
    assert list(servers) == ["other"]
    again = env.uninstall(client, scope=scope)
    assert not again.changed and again.backup is None
    assert any("no server named 'acme-jira'" in note for note in again.notes)


def test_uninstall_of_a_missing_file_changes_nothing(env: Env) -> None:
    change = env.uninstall("gemini")
    assert not change.changed and not change.path.exists()
    assert "does not exist" in change.notes[0]


@pytest.mark.parametrize("client", CLIENTS)
def test_dry_run_writes_nothing_but_returns_the_diff(env: Env, client: str) -> None:
    change = env.install(client, stdio_entry(client), dry_run=True)
    assert change.changed and "+" in change.diff and NAME in change.diff
    assert not change.path.exists() and (change.path.parent == env.home or not change.path.parent.exists())

    path = env.put_fixture(client)
    original = path.read_bytes()
    change = env.install(client, stdio_entry(client), dry_run=True)
    assert change.changed and change.backup is None and NAME in change.diff
    assert path.read_bytes() == original and backups(path) == []

    env.install(client, stdio_entry(client))
    installed = path.read_bytes()
    change = env.uninstall(client, dry_run=True)
    assert change.changed and f"-{'' if client == 'codex' else ' '}" in change.diff
    assert path.read_bytes() == installed


# --------------------------------------------------------------------------- malformed files


BROKEN_JSON = [
    ('{\n  "mcpServers": {\n    "a": {"command": "x" "args": []}\n  }\n}\n', 3, 26, "expected ',' or '}'"),
    ('{\n  "mcpServers": {\n', 3, 1, "never closed"),
    ('{\n  "mcpServers": {"a": tru}\n}\n', 2, 23, "where a value should be"),
    ("{\n  mcpServers: {}\n}\n", 2, 3, "member name in double quotes"),
    ('{"a": "line\nbreak"}', 1, 7, "string"),
    ("[1, 2]\n", 1, 1, "top level should be a JSON object"),
    ('{"a": 1} {"b": 2}', 1, 10, "after the end"),
    ('{\n  "mcpServers": {},\n  "mcpServers": {}\n}\n', 3, 3, "appears twice (also at 2:3)"),
    ('{\n  "mcpServers": []\n}\n', 2, 17, '"mcpServers" should be an object but is an array'),
]


@pytest.mark.parametrize("client", [c for c in CLIENTS if c != "codex"])
@pytest.mark.parametrize(("content", "line", "column", "message"), BROKEN_JSON)
def test_a_malformed_json_file_is_never_overwritten(
    env: Env, client: str, content: str, line: int, column: int, message: str
) -> None:
    lines = content.splitlines()
    if line <= len(lines) and "mcpServers" in lines[line - 1][: column - 1]:  # the key's length moves the column
        column += len(CONTAINER[client]) - len("mcpServers")
    content = content.replace("mcpServers", CONTAINER[client])
    message = message.replace("mcpServers", CONTAINER[client])
    path = env.put(client, content)
    with pytest.raises(HostConfigError) as caught:
        env.install(client, stdio_entry(client))
    assert str(caught.value).startswith(f"{path}:{line}:{column}: ")
    assert message in str(caught.value) and "left unchanged" in str(caught.value)
    assert (caught.value.path, caught.value.line, caught.value.column) == (path, line, column)
    assert path.read_text() == content and backups(path) == []
    with pytest.raises(HostConfigError):
        env.uninstall(client)
    assert path.read_text() == content


@pytest.mark.parametrize(
    ("content", "line", "column"),
    [
        ('[mcp_servers.a]\ncommand = "x\n', 2, 13),
        ("model = 1\nmodel = 2\n", 2, 1),
        ("[mcp_servers\n", 1, 13),
    ],
)
def test_a_malformed_toml_file_is_never_overwritten(env: Env, content: str, line: int, column: int) -> None:
    path = env.put("codex", content)
    with pytest.raises(HostConfigError) as caught:
        env.install("codex", stdio_entry("codex"))
    assert str(caught.value).startswith(f"{path}:{line}:")
    assert "left unchanged" in str(caught.value)
    assert path.read_text() == content and backups(path) == []


def test_a_file_that_is_not_utf8_is_refused(env: Env) -> None:
    path = env.put("cursor", b'{\n  "a": "\xff"\n}\n')
    with pytest.raises(HostConfigError, match=r":2:9: not UTF-8"):
        env.install("cursor", stdio_entry("cursor"))
    assert path.read_bytes() == b'{\n  "a": "\xff"\n}\n'


@pytest.mark.parametrize("client", PLAIN_JSON)
def test_comments_in_a_plain_json_host_file_are_refused_not_dropped(env: Env, client: str) -> None:
    content = '{\n  // my servers\n  "mcpServers": {}\n}\n'
    path = env.put(client, content)
    with pytest.raises(HostConfigError) as caught:
        env.install(client, stdio_entry(client))
    message = str(caught.value)
    assert message.startswith(f"{path}:2:3: a comment") and "plain JSON" in message
    assert path.read_text() == content


@pytest.mark.parametrize("client", [*PLAIN_JSON, "gemini"])
def test_trailing_commas_are_refused_where_the_host_reads_plain_json(env: Env, client: str) -> None:
    content = '{\n  "mcpServers": {\n    "a": {"command": "x"},\n  }\n}\n'
    path = env.put(client, content)
    with pytest.raises(HostConfigError, match=r":3:26: a trailing comma"):
        env.install(client, stdio_entry(client))
    assert path.read_text() == content


@pytest.mark.parametrize("client", [*JSONC, "gemini"])
def test_comments_are_kept_where_the_host_reads_them(env: Env, client: str) -> None:
    content = '// head\n{\n  /* a */ "other": 1, // b\n  "mcpServers": {} /* c */\n}\n// tail\n'
    content = content.replace("mcpServers", CONTAINER[client])
    path = env.put(client, content)
    env.install(client, stdio_entry(client))
    text = path.read_text()
    for comment in ("// head\n", "/* a */ ", "// b\n", "/* c */\n", "// tail\n"):
        assert comment in text
    assert load(client, path)["other"] == 1
    env.uninstall(client)
    assert path.read_text() == content


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("client", REFERENCING)
def test_secrets_are_written_as_references(env: Env, client: str) -> None:
    change = env.install(client, stdio_entry(client))
    assert load(client, change.path)[CONTAINER[client]][NAME] == EXPECTED_STDIO[client]
    assert not change.mode_0600
    assert stat.S_IMODE(change.path.stat().st_mode) == 0o666 & ~_umask()
    assert any("JIRA_API_TOKEN" in note for note in change.notes)


@pytest.mark.parametrize("client", REFERENCING)
def test_a_literal_value_is_not_written_where_a_reference_works(env: Env, client: str) -> None:
    change = env.install(client, stdio_entry(client, secret=TOKEN))
    assert TOKEN not in change.path.read_text() and TOKEN not in change.diff
    assert load(client, change.path)[CONTAINER[client]][NAME] == EXPECTED_STDIO[client]
    assert not change.mode_0600
    assert any("value you passed was not stored" in note for note in change.notes)


@pytest.mark.parametrize("client", LITERAL_ONLY)
def test_a_literal_only_host_without_the_value_is_refused(env: Env, client: str) -> None:
    entry = ServerEntry(NAME, "uvx", ARGS, {}, {"JIRA_API_TOKEN": None})
    with pytest.raises(HostConfigError) as caught:
        env.install(client, entry)
    message = str(caught.value)
    assert "pass --env JIRA_API_TOKEN=VALUE" in message and "settings yourself" in message
    assert not env.path(client).exists()


@pytest.mark.parametrize("client", LITERAL_ONLY)
def test_a_literal_secret_makes_the_file_private_and_stays_out_of_the_diff(env: Env, client: str) -> None:
    path = env.put_fixture(client)
    path.chmod(0o644)
    change = env.install(client, stdio_entry(client))
    assert change.mode_0600 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load(client, path)[CONTAINER[client]][NAME]["env"]["JIRA_API_TOKEN"] == TOKEN
    assert TOKEN not in change.diff and "[REDACTED]" in change.diff
    assert any("readable by you only" in note for note in change.notes)
    # Idempotent, and still private if someone loosened it meanwhile.
    path.chmod(0o644)
    again = env.install(client, stdio_entry(client))
    assert not again.changed and again.mode_0600 and stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("client", LITERAL_ONLY)
def test_a_new_file_with_a_literal_secret_is_created_private(env: Env, client: str) -> None:
    change = env.install(client, stdio_entry(client), scope=SCOPES[client][-1])
    assert change.mode_0600 and stat.S_IMODE(change.path.stat().st_mode) == 0o600


def test_a_literal_secret_in_a_project_file_comes_with_a_warning(env: Env) -> None:
    change = env.install("zed", stdio_entry("zed"), scope="project")
    assert any("out of version control" in note for note in change.notes)


def test_a_file_without_literal_secrets_keeps_its_mode(env: Env) -> None:
    path = env.put_fixture("cursor")
    path.chmod(0o640)
    change = env.install("cursor", stdio_entry("cursor"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and not change.mode_0600


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------- VS Code inputs


def test_vscode_inputs_are_shared_and_removed_with_their_last_user(env: Env) -> None:
    path = env.put_fixture("vscode")
    original = path.read_bytes()
    env.install("vscode", stdio_entry("vscode"))
    env.install("vscode", stdio_entry("vscode", name="jira-two"))
    inputs = load("vscode", path)["inputs"]
    assert [i["id"] for i in inputs] == ["github-token", "jira-api-token"]

    env.uninstall("vscode", "jira-two")
    assert [i["id"] for i in load("vscode", path)["inputs"]] == ["github-token", "jira-api-token"]
    env.uninstall("vscode")
    assert path.read_bytes() == original


def test_vscode_inputs_array_goes_away_when_we_emptied_it(env: Env) -> None:
    env.install("vscode", stdio_entry("vscode"), scope="project")
    env.uninstall("vscode", scope="project")
    assert load("vscode", env.path("vscode", "project")) == {"servers": {}}


def test_vscode_keeps_an_input_the_user_already_had(env: Env) -> None:
    mine = {"type": "promptString", "id": "jira-api-token", "description": "mine", "password": True}
    env.put("vscode", json.dumps({"inputs": [mine], "servers": {}}, indent=2))
    change = env.install("vscode", stdio_entry("vscode"))
    assert load("vscode", change.path)["inputs"] == [mine]


def test_vscode_http_bearer_token_is_an_input(env: Env) -> None:
    change = env.install("vscode", http_entry("vscode"))
    data = load("vscode", change.path)
    assert data["servers"][NAME] == EXPECTED_HTTP["vscode"]
    assert data["inputs"][0]["id"] == "acme-token" and data["inputs"][0]["password"] is True


def test_a_non_array_inputs_is_reported(env: Env) -> None:
    path = env.put("vscode", '{\n  "inputs": {},\n  "servers": {}\n}\n')
    with pytest.raises(HostConfigError, match=r":2:13: \"inputs\" should be an array"):
        env.install("vscode", stdio_entry("vscode"))
    assert path.read_text() == '{\n  "inputs": {},\n  "servers": {}\n}\n'


# --------------------------------------------------------------------------- HTTP


@pytest.mark.parametrize("client", list(EXPECTED_HTTP))
def test_http_entries_use_each_host_keys(env: Env, client: str) -> None:
    change = env.install(client, http_entry(client))
    assert load(client, change.path)[CONTAINER[client]][NAME] == EXPECTED_HTTP[client]
    assert change.mode_0600 == (client == "zed")
    assert not env.install(client, http_entry(client)).changed


def test_http_without_a_token(env: Env) -> None:
    change = env.install("claude-code", ServerEntry(NAME, url=URL))
    assert load("claude-code", change.path)["mcpServers"][NAME] == {"type": "http", "url": URL}


def test_zed_http_token_needs_a_value(env: Env) -> None:
    with pytest.raises(HostConfigError, match="--env ACME_TOKEN=VALUE"):
        env.install("zed", ServerEntry(NAME, url=URL, bearer_token_env="ACME_TOKEN"))


def test_claude_desktop_refuses_http_and_points_to_custom_connectors(env: Env) -> None:
    with pytest.raises(HostConfigError, match="Custom Connector"):
        env.install("claude-desktop", http_entry("claude-desktop"))
    assert not env.path("claude-desktop").exists()


# --------------------------------------------------------------------------- updating an entry


@pytest.mark.parametrize("client", [c for c in CLIENTS if c != "codex"])
def test_an_update_replaces_the_launch_keys_and_keeps_the_user_keys(env: Env, client: str) -> None:
    env.install(client, stdio_entry(client))
    path = env.path(client)
    text = path.read_text().replace('"command": "uvx",', '"command": "uvx",\n      "disabled": true,')
    path.write_text(text)
    newer = ServerEntry(
        NAME, "uvx", ["acme-mcp-jira==1.5.0"], {}, {"JIRA_API_TOKEN": stdio_entry(client).secrets["JIRA_API_TOKEN"]}
    )
    change = env.install(client, newer)
    assert change.changed and any("Updated the existing" in n for n in change.notes)
    entry = load(client, path)[CONTAINER[client]][NAME]
    assert entry["args"] == ["acme-mcp-jira==1.5.0"] and entry["disabled"] is True
    assert "JIRA_BASE_URL" not in entry["env"]
    assert not env.install(client, newer).changed


@pytest.mark.parametrize("client", list(EXPECTED_HTTP))
def test_switching_to_http_drops_the_command(env: Env, client: str) -> None:
    env.install(client, stdio_entry(client))
    env.install(client, http_entry(client))
    assert load(client, env.path(client))[CONTAINER[client]][NAME] == EXPECTED_HTTP[client]


def test_an_entry_that_is_not_an_object_is_replaced(env: Env) -> None:
    path = env.put("cursor", '{\n  "mcpServers": {\n    "acme-jira": "broken",\n    "b": 1\n  }\n}\n')
    env.install("cursor", stdio_entry("cursor"))
    assert load("cursor", path)["mcpServers"] == {NAME: EXPECTED_STDIO["cursor"], "b": 1}


# --------------------------------------------------------------------------- the JSONC editor's corners


@pytest.mark.parametrize(
    "content",
    [
        '{"mcpServers": {}}',
        '{"mcpServers":{"a":{"command":"x"}}}\n',
        '{ "mcpServers": { "a": { "command": "x" } } }',
        '{"other": 1}',
        "{}",
    ],
)
def test_single_line_files_stay_single_line(env: Env, content: str) -> None:
    path = env.put("claude-code", content)
    env.install("claude-code", stdio_entry("claude-code"))
    text = path.read_text()
    assert text.count("\n") == content.count("\n")
    assert json.loads(text)["mcpServers"][NAME] == EXPECTED_STDIO["claude-code"]
    env.uninstall("claude-code")
    if "mcpServers" in content:
        assert path.read_text() == content


@pytest.mark.parametrize(
    "content",
    [
        '{\n  "mcpServers": {}\n}\n',
        '{\n  "mcpServers": {\n    // none yet\n  }\n}\n',
        '{\n  "mcpServers": {\n    "a": {} // last\n  }\n}\n',
        '{\n  "mcpServers": {\n    "a": {},\n    // "b": {}\n  }\n}\n',
        '{\n  "mcpServers": {\n    "a": {}, "b": {}\n  }\n}\n',
        '{\n  "mcpServers": {"a": {},\n    "b": {}}\n}\n',
        '{\n  "x": "// not a comment, /* nor this */ {\\"}",\n  "mcpServers": {"url": "http://a/*b*/"}\n}\n',
        '\ufeff{\n  "mcpServers": {}\n}\n',
        '{\r\n  "mcpServers": {}\r\n}\r\n',
        '{\n  "mcpServers": {\n    "a": {},\n  },\n}\n',
        '{\n\t"mcpServers": {\n\t\t"a": {}\n\t}\n}',
    ],
)
def test_jsonc_layouts(env: Env, content: str) -> None:
    """Install then uninstall gives back the very bytes: uninstall removes only our entry, so install added only it."""
    path = env.put("vscode", content.replace("mcpServers", "servers"))
    original = path.read_bytes()
    env.install("vscode", stdio_entry("vscode"))
    data = load("vscode", path)
    assert data["servers"][NAME] == EXPECTED_STDIO["vscode"]
    assert path.read_bytes().startswith(b"\xef\xbb\xbf") == original.startswith(b"\xef\xbb\xbf")
    if b"\r\n" in original:
        assert path.read_bytes().count(b"\n") == path.read_bytes().count(b"\r\n")
    env.uninstall("vscode")
    assert path.read_bytes() == original


def test_an_emptied_multiline_object_collapses_to_braces(env: Env) -> None:
    path = env.put("cursor", '{\n  "mcpServers": {\n  }\n}\n')
    env.install("cursor", stdio_entry("cursor"))
    assert path.read_text().startswith('{\n  "mcpServers": {\n    "acme-jira": {\n')
    env.uninstall("cursor")
    assert path.read_text() == '{\n  "mcpServers": {}\n}\n'


def test_a_trailing_comment_stays_on_its_line(env: Env) -> None:
    path = env.put("zed", '{\n  "context_servers": {\n    "a": {} // about a\n  }\n}\n')
    env.install("zed", stdio_entry("zed"))
    assert '    "a": {}, // about a\n    "acme-jira": {\n' in path.read_text()


def test_a_comment_only_file_keeps_its_comments(env: Env) -> None:
    path = env.put("zed", "// Zed settings\n// nothing yet\n")
    env.install("zed", stdio_entry("zed"))
    text = path.read_text()
    assert text.startswith('// Zed settings\n// nothing yet\n{\n  "context_servers": {\n')
    assert load("zed", path)["context_servers"][NAME] == EXPECTED_STDIO["zed"]


def test_the_servers_key_is_created_inside_a_nested_object(env: Env) -> None:
    path = env.put("zed", '{\n  "theme": "One Dark"\n}\n')
    env.install("zed", stdio_entry("zed"))
    assert path.read_text().startswith('{\n  "theme": "One Dark",\n  "context_servers": {\n    "acme-jira": {\n')


def test_unicode_is_written_as_is(env: Env) -> None:
    entry = ServerEntry(NAME, "uvx", ["--greeting", "héllo ✓"], {}, {})
    change = env.install("cursor", entry)
    assert "héllo ✓" in change.path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- Codex (TOML)


def test_codex_keeps_comments_and_order(env: Env) -> None:
    path = env.put_fixture("codex")
    env.install("codex", stdio_entry("codex"))
    assert path.read_text() == (
        "# Codex configuration\n"
        'model = "gpt-5-codex"  # the default model\n'
        'approval_policy = "on-request"\n'
        "\n"
        "[mcp_servers.docs]\n"
        "# documentation search\n"
        'command = "npx"\n'
        'args = ["-y", "docs-mcp"]\n'
        "startup_timeout_sec = 20\n"
        "\n"
        "[mcp_servers.acme-jira]\n"
        'command = "uvx"\n'
        'args = ["acme-mcp-jira==1.4.0"]\n'
        'env = {JIRA_BASE_URL = "https://x.atlassian.net"}\n'
        'env_vars = ["JIRA_API_TOKEN"]\n'
        "\n"
        "# Profiles come last.\n"
        "[profiles.fast]\n"
        'model = "gpt-5-mini"\n'
    )


def test_codex_appends_a_table_when_there_is_no_mcp_servers(env: Env) -> None:
    content = '# mine\nmodel = "o3"\n\n[profiles.fast]\nmodel = "mini"'
    path = env.put("codex", content)
    env.install("codex", stdio_entry("codex"))
    text = path.read_text()
    assert text.startswith(content + "\n\n[mcp_servers.acme-jira]\n")
    assert tomllib.loads(text)["profiles"] == {"fast": {"model": "mini"}}
    env.uninstall("codex")
    assert path.read_text() == content + "\n"


def test_codex_update_keeps_user_keys_and_comments(env: Env) -> None:
    path = env.put(
        "codex",
        '[mcp_servers.acme-jira]\ncommand = "uvx" # pinned below\nargs = ["acme-mcp-jira==1.0"]\n'
        'startup_timeout_sec = 30\nenv_vars = ["OLD"]\n',
    )
    change = env.install("codex", ServerEntry(NAME, "uvx", ARGS))
    text = path.read_text()
    assert "# pinned below" in text and change.changed
    entry = tomllib.loads(text)["mcp_servers"][NAME]
    assert entry == {"command": "uvx", "args": ARGS, "startup_timeout_sec": 30}


def test_codex_quotes_names_that_need_it(env: Env) -> None:
    env.install("codex", stdio_entry("codex", name="acme.jira"))
    path = env.path("codex")
    assert '[mcp_servers."acme.jira"]' in path.read_text()
    assert not env.install("codex", stdio_entry("codex", name="acme.jira")).changed
    env.uninstall("codex", "acme.jira")
    assert tomllib.loads(path.read_text()) == {}


@pytest.mark.parametrize(
    "content",
    [
        '[mcp_servers]\ndocs = { command = "npx" }\n',
        'mcp_servers.docs.command = "npx"\n',
        '[mcp_servers.docs]\ncommand = "npx"\n[mcp_servers.docs.env]\nA = "1"\n',
        '[mcp_servers.docs]\ncommand = """\n[not a header]\n"""\nargs = [\n  "[x]",\n]\n',
    ],
)
def test_codex_other_layouts(env: Env, content: str) -> None:
    path = env.put("codex", content)
    before = tomllib.loads(content)
    env.install("codex", stdio_entry("codex"))
    after = tomllib.loads(path.read_text())
    assert after["mcp_servers"].pop(NAME) == EXPECTED_STDIO["codex"]
    assert after == before
    env.uninstall("codex")
    assert tomllib.loads(path.read_text()) == before


def test_codex_removes_an_entry_with_a_sub_table(env: Env) -> None:
    content = (
        '[mcp_servers.acme-jira]\ncommand = "uvx"\n\n[mcp_servers.acme-jira.env]\nA = "1"\n\n# next\n[other]\nk = 1\n'
    )
    path = env.put("codex", content)
    env.uninstall("codex")
    assert path.read_text() == "# next\n[other]\nk = 1\n"


def test_codex_keeps_crlf(env: Env) -> None:
    content = (DATA / "codex.toml").read_text().replace("\n", "\r\n")
    path = env.put("codex", content)
    env.install("codex", stdio_entry("codex"))
    raw = path.read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n") and b"[mcp_servers.acme-jira]\r\n" in raw
    env.uninstall("codex")
    assert path.read_bytes() == content.encode()


def test_codex_http(env: Env) -> None:
    change = env.install("codex", http_entry("codex"))
    assert 'url = "https://mcp.example.com/mcp"\nbearer_token_env_var = "ACME_TOKEN"\n' in change.path.read_text()
    assert any("ACME_TOKEN" in note for note in change.notes)


def test_codex_mcp_servers_that_is_not_a_table_is_reported(env: Env) -> None:
    path = env.put("codex", 'mcp_servers = "no"\n')
    with pytest.raises(HostConfigError, match="should be a table"):
        env.install("codex", stdio_entry("codex"))
    assert path.read_text() == 'mcp_servers = "no"\n'


# --------------------------------------------------------------------------- files and backups


def test_each_change_gets_its_own_backup(env: Env) -> None:
    path = env.put_fixture("gemini")
    first = env.install("gemini", stdio_entry("gemini"))
    second = env.install("gemini", stdio_entry("gemini", name="other"))
    assert first.backup and second.backup and first.backup != second.backup
    assert first.backup.read_bytes() == (DATA / "gemini.json").read_bytes()
    assert NAME in second.backup.read_text() and NAME not in first.backup.read_text()
    assert len(backups(path)) == 2


def test_a_symlinked_config_stays_a_symlink(env: Env, tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "mcp.json"
    real.parent.mkdir()
    shutil.copy(DATA / "cursor.json", real)
    link = env.path("cursor")
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    change = env.install("cursor", stdio_entry("cursor"))
    assert link.is_symlink() and change.path == link
    assert NAME in load("cursor", real)["mcpServers"]
    assert change.backup is not None and change.backup.parent == real.parent


def test_a_file_changed_meanwhile_is_not_overwritten(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    path = env.put_fixture("cursor")
    real_next_steps = hosts._next_steps

    def someone_writes(*args: Any) -> list[str]:
        path.write_text('{"mcpServers": {"theirs": {"command": "x"}}}')
        return real_next_steps(*args)

    monkeypatch.setattr(hosts, "_next_steps", someone_writes)
    with pytest.raises(HostConfigError, match="changed by another program meanwhile; nothing was written"):
        env.install("cursor", stdio_entry("cursor"))
    assert path.read_text() == '{"mcpServers": {"theirs": {"command": "x"}}}' and backups(path) == []


def test_windows_paths_are_used_for_writing(env: Env) -> None:
    appdata = env.home / "AppData" / "Roaming"
    change = install(
        "claude-desktop",
        "user",
        stdio_entry("claude-desktop"),
        **env.kw(platform="win32", environ={"APPDATA": str(appdata)}),
    )
    assert change.path == appdata / "Claude" / "claude_desktop_config.json" and change.path.is_file()
    assert not any("Linux" in note for note in change.notes)


def test_a_directory_in_the_way_is_reported(env: Env) -> None:
    env.path("gemini").mkdir(parents=True)
    with pytest.raises(HostConfigError, match="is a directory"):
        env.install("gemini", stdio_entry("gemini"))


def test_notes_tell_what_to_do_next(env: Env) -> None:
    assert any("Quit and reopen" in n for n in env.install("claude-desktop", stdio_entry("claude-desktop")).notes)
    assert any(
        "no official Linux build" in n for n in env.install("claude-desktop", stdio_entry("claude-desktop")).notes
    )
    notes = env.install("claude-code", stdio_entry("claude-code"), scope="project").notes
    assert any("approve" in n for n in notes)
    assert any("rejects the config if one is unset" in n for n in notes)
    assert any("trusted" in n for n in env.install("codex", stdio_entry("codex"), scope="project").notes)
    assert any(
        "VS Code asks for JIRA_API_TOKEN (input jira-api-token)" in n
        for n in env.install("vscode", stdio_entry("vscode")).notes
    )


# --------------------------------------------------------------------------- the entry itself


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "", "command": "x"}, "Invalid server name"),
        ({"name": "a b", "command": "x"}, "Invalid server name"),
        ({"name": "a"}, "either a command"),
        ({"name": "a", "command": "x", "url": URL}, "either a command"),
        ({"name": "a", "url": "ftp://x"}, "http:// or https://"),
        ({"name": "a", "url": URL, "args": ["x"]}, "args and env"),
        ({"name": "a", "command": "x", "bearer_token_env": "T"}, "HTTP servers only"),
        ({"name": "a", "command": "x", "env": {"BAD-NAME": "1"}}, "variable name"),
        ({"name": "a", "command": "x", "env": {"A": "1"}, "secrets": {"A": None}}, "both"),
        ({"name": "a", "url": URL, "secrets": {"A": None}}, "only its bearer token"),
    ],
)
def test_invalid_entries_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(HostConfigError, match=message):
        ServerEntry(**kwargs)


# --------------------------------------------------------------------------- Claude Code's local scope


CLAUDE_JSON = """{
  "numStartups": 12,
  "mcpServers": {
    "everywhere": {"type": "stdio", "command": "npx", "args": ["x"]}
  },
  "projects": {
    "/elsewhere": {
      "allowedTools": [],
      "mcpServers": {}
    }
  }
}
"""


def test_local_scope_goes_under_this_project_in_claude_json(env: Env) -> None:
    path = env.put("claude-code", CLAUDE_JSON)
    change = env.install("claude-code", stdio_entry("claude-code"), scope="local")
    data = json.loads(path.read_text())
    assert data["projects"][str(env.cwd)]["mcpServers"] == {NAME: EXPECTED_STDIO["claude-code"]}
    assert data["mcpServers"] == {"everywhere": {"type": "stdio", "command": "npx", "args": ["x"]}}  # user scope
    assert data["projects"]["/elsewhere"] == {"allowedTools": [], "mcpServers": {}}
    assert data["numStartups"] == 12
    assert change.entry == EXPECTED_STDIO["claude-code"]
    assert any("only to you, when started in this directory" in note for note in change.notes)
    assert hosts.installed("claude-code", "local", **env.kw())[1] == {NAME: EXPECTED_STDIO["claude-code"]}
    assert NAME not in hosts.installed("claude-code", "user", **env.kw())[1]
    assert not env.install("claude-code", stdio_entry("claude-code"), scope="local").changed
    env.uninstall("claude-code", scope="local")
    assert json.loads(path.read_text())["projects"][str(env.cwd)]["mcpServers"] == {}
    assert json.loads(path.read_text())["mcpServers"] == data["mcpServers"]


def test_local_scope_adds_this_project_to_an_existing_file(env: Env) -> None:
    path = env.put("claude-code", '{\n  "numStartups": 1\n}\n')
    env.install("claude-code", stdio_entry("claude-code"), scope="local")
    data = json.loads(path.read_text())
    assert data == {"numStartups": 1, "projects": {str(env.cwd): {"mcpServers": {NAME: EXPECTED_STDIO["claude-code"]}}}}


def test_local_scope_refuses_a_projects_value_that_is_not_an_object(env: Env) -> None:
    path = env.put("claude-code", '{"projects": []}\n')
    with pytest.raises(HostConfigError, match="should be an object"):
        env.install("claude-code", stdio_entry("claude-code"), scope="local")
    assert path.read_text() == '{"projects": []}\n'
