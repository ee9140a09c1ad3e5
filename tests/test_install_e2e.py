"""End to end: `patchbay install` writes a host config, and the entry runs as the host would run it."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(600)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def patchbay(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchbay", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "HOME": str(home)},
    )


def expand(value: str, environ: dict[str, str]) -> str:
    """What Claude Code does with ${VAR} and ${VAR:-default} in .mcp.json."""
    return re.sub(
        r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}", lambda m: environ.get(m.group(1), m.group(2) or ""), value
    )


async def test_claude_code_entry_written_by_install_starts_and_lists_tools(tmp_path: Path) -> None:
    if shutil.which("uvx") is None:
        pytest.skip("uvx is not on PATH: install uv (python3 -m pip install --user uv)")
    project, home, notes = tmp_path / "project", tmp_path / "home", tmp_path / "notes"
    for folder in (project, home, notes):
        folder.mkdir()
    (notes / "hello.txt").write_text("hello from the notes\n")
    installed = patchbay(
        "install",
        "filesystem",
        str(notes),
        "--client",
        "claude-code",
        "--scope",
        "project",
        "--source",
        str(ROOT),
        cwd=project,
        home=home,
    )
    assert installed.returncode == 0, installed.stderr
    config = json.loads((project / ".mcp.json").read_text())
    entry = config["mcpServers"]["filesystem"]
    again = patchbay(
        "install",
        "filesystem",
        str(notes),
        "--client",
        "claude-code",
        "--scope",
        "project",
        "--source",
        str(ROOT),
        cwd=project,
        home=home,
    )
    assert "nothing changed" in again.stdout
    environ = {**os.environ, "HOME": str(home)}
    params = StdioServerParameters(
        command=expand(entry["command"], environ),
        args=[expand(arg, environ) for arg in entry["args"]],
        env={**environ, **{k: expand(v, environ) for k, v in entry.get("env", {}).items()}},
        cwd=str(project),
    )
    async with Client(params) as client:
        tools = await client.list_tools()
        read = await client.call_tool("read_text_file", {"path": "hello.txt"})
    assert "read_text_file" in {tool.name for tool in tools.tools}
    assert read.structured_content is not None
    assert read.structured_content["content"] == "hello from the notes\n"
    removed = patchbay(
        "uninstall", "filesystem", "--client", "claude-code", "--scope", "project", cwd=project, home=home
    )
    assert removed.returncode == 0, removed.stderr
    assert json.loads((project / ".mcp.json").read_text())["mcpServers"] == {}


def test_doctor_finds_what_to_fix(tmp_path: Path) -> None:
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    installed = patchbay(
        "install",
        "postgres",
        "--client",
        "claude-code",
        "--scope",
        "project",
        "--source",
        str(ROOT),
        cwd=project,
        home=home,
    )
    assert installed.returncode == 0, installed.stderr
    entry = json.loads((project / ".mcp.json").read_text())["mcpServers"]["postgres"]
    assert entry["env"] == {"PATCHBAY_POSTGRES_DSN": "${PATCHBAY_POSTGRES_DSN}"}  # a reference, not a value
    env = {k: v for k, v in os.environ.items() if k != "PATCHBAY_POSTGRES_DSN"} | {"HOME": str(home)}
    unset = subprocess.run(
        [sys.executable, "-m", "patchbay", "doctor"], capture_output=True, text=True, timeout=60, cwd=project, env=env
    )
    assert unset.returncode == 1
    assert "PATCHBAY_POSTGRES_DSN refers to PATCHBAY_POSTGRES_DSN, which is not set" in unset.stdout
    ready = subprocess.run(
        [sys.executable, "-m", "patchbay", "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=project,
        env=env | {"PATCHBAY_POSTGRES_DSN": "postgresql://localhost/app"},
    )
    assert "PATCHBAY_POSTGRES_DSN is set" in ready.stdout
    assert ("no problems found" in ready.stdout) == (shutil.which("uvx") is not None)


@pytest.mark.parametrize("client", ["codex", "vscode", "claude-desktop", "cursor", "zed", "gemini"])
def test_install_without_scope_uses_the_hosts_default(tmp_path: Path, client: str) -> None:
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    dry = patchbay(
        "install",
        "filesystem",
        str(tmp_path),
        "--client",
        client,
        "--source",
        str(ROOT),
        "--dry-run",
        cwd=project,
        home=home,
    )
    assert dry.returncode == 0, dry.stderr
    assert "not written (--dry-run)" in dry.stdout
    assert "patchbay-filesystem" in dry.stdout
