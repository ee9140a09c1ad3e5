"""End to end: `patchbay install` writes a host config, and the entry runs as the host would run it."""

import functools
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
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
        timeout=300,
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
    assert re.search(r"filesystem: starts \(\d+ tools in", installed.stdout)  # install started it before writing
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


def doctor(*args: str, cwd: Path, home: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PATCHBAY_POSTGRES_DSN"} | {"HOME": str(home)} | environ
    return subprocess.run(
        [sys.executable, "-m", "patchbay", "doctor", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    return project, home


def test_install_refuses_an_entry_that_does_not_start_and_doctor_says_why(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    args = ["install", "postgres", "--client", "claude-code", "--scope", "project", "--source", str(ROOT)]
    env = {k: v for k, v in os.environ.items() if k != "PATCHBAY_POSTGRES_DSN"}
    refused = subprocess.run(
        [sys.executable, "-m", "patchbay", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=project,
        env=env | {"HOME": str(home)},
    )
    assert refused.returncode == 2
    assert "postgres does not start, so" in refused.stderr
    assert "PATCHBAY_POSTGRES_DSN is unset" in refused.stderr
    assert "--no-verify" in refused.stderr
    assert not (project / ".mcp.json").exists()

    installed = patchbay(*args, "--no-verify", cwd=project, home=home)
    assert installed.returncode == 0, installed.stderr
    entry = json.loads((project / ".mcp.json").read_text())["mcpServers"]["postgres"]
    assert entry["env"] == {"PATCHBAY_POSTGRES_DSN": "${PATCHBAY_POSTGRES_DSN}"}  # a reference, not a value

    unset = doctor(cwd=project, home=home)
    assert unset.returncode == 1, unset.stdout
    assert "FIX claude-code project" in unset.stdout
    assert "postgres: fails: PATCHBAY_POSTGRES_DSN is unset" in unset.stdout

    unreachable = doctor(
        cwd=project, home=home, PATCHBAY_POSTGRES_DSN=f"postgresql://app@127.0.0.1:{closed_port()}/app"
    )
    assert unreachable.returncode == 1, unreachable.stdout
    assert "postgres: fails: it starts but logs: database 'default' is not reachable" in unreachable.stdout


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.integration
def test_doctor_starts_postgres_against_a_real_server(dirs: tuple[Path, Path]) -> None:
    sys.path.insert(0, str(ROOT / "servers" / "postgres" / "tests"))
    from pgserver import PostgresServer, find_bin_dir

    if find_bin_dir() is None:
        pytest.skip("no PostgreSQL server binaries: run tools/ensure-postgres.sh (or set PATCHBAY_POSTGRES_BIN)")
    project, home = dirs
    with PostgresServer() as server:
        dsn = server.dsn()
        installed = subprocess.run(
            [sys.executable, "-m", "patchbay", "install", "postgres", "--client", "claude-code", "--source", str(ROOT)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=project,
            env=os.environ | {"HOME": str(home), "PATCHBAY_POSTGRES_DSN": dsn},
        )
        assert installed.returncode == 0, installed.stderr
        assert "postgres: starts (" in installed.stdout
        ready = doctor("--client", "claude-code", cwd=project, home=home, PATCHBAY_POSTGRES_DSN=dsn)
    assert ready.returncode == 0, ready.stdout
    assert re.search(r"ok  claude-code local \(.*\) postgres: starts \(\d+ tools in", ready.stdout), ready.stdout
    assert dsn not in installed.stdout + ready.stdout


def test_doctor_checks_every_host_and_only_the_client_asked_for(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    project, home = dirs
    for client in ("cursor", "codex"):
        done = patchbay(
            "install", "filesystem", str(tmp_path), "--client", client, "--source", str(ROOT), cwd=project, home=home
        )
        assert done.returncode == 0, done.stderr
        assert "filesystem: starts (" in done.stdout
    both = doctor(cwd=project, home=home)
    assert both.returncode == 0, both.stdout
    assert re.search(r"ok  cursor user \(.*\.cursor/mcp\.json\) filesystem: starts \(\d+ tools", both.stdout)
    assert re.search(r"ok  codex user \(.*\.codex/config\.toml\) filesystem: starts \(\d+ tools", both.stdout)
    assert both.stdout.rstrip().endswith("no problems found")
    one = doctor("--client", "codex", cwd=project, home=home)
    assert "codex user" in one.stdout and "cursor" not in one.stdout
    none = doctor("--client", "gemini", cwd=project, home=home)
    assert "no Patchbay entries found in the config files of gemini" in none.stdout


def test_doctor_bounds_an_entry_that_never_answers(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    silent = {"command": sys.executable, "args": ["-c", "import time; time.sleep(120)", "patchbay-filesystem"]}
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"silent": silent}}))
    began = time.monotonic()
    result = doctor("--client", "claude-code", "--timeout", "2", cwd=project, home=home)
    assert time.monotonic() - began < 60
    assert result.returncode == 1
    assert "silent: fails: no answer within 2 s" in result.stdout


def test_a_package_missing_from_the_index_is_named(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    """`--source pypi` against an index without Patchbay: install refuses and says the package is not found."""
    project, home = dirs
    (tmp_path / "index" / "simple").mkdir(parents=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "index"))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        index = f"http://127.0.0.1:{server.server_address[1]}/simple/"
        pypi = ["--source", "pypi", "--index", index]
        result = subprocess.run(
            [sys.executable, "-m", "patchbay", "install", "filesystem", str(tmp_path), "--client", "cursor", *pypi],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=project,
            # Only the empty local index: nothing reaches PyPI.
            env=os.environ | {"HOME": str(home), "UV_DEFAULT_INDEX": index, "UV_CACHE_DIR": str(tmp_path / "cache")},
        )
        server.shutdown()
    assert result.returncode == 2, result.stdout
    assert "package not found: patchbay-filesystem is not on the package index" in result.stderr
    assert not (home / ".cursor").exists()


def test_index_is_only_for_pypi(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    result = patchbay(
        "install",
        "filesystem",
        "--client",
        "cursor",
        "--source",
        str(ROOT),
        "--index",
        "http://x/",
        cwd=project,
        home=home,
    )
    assert result.returncode == 2
    assert "--index applies to --source pypi" in result.stderr
    assert not (home / ".cursor").exists()


def test_the_default_source_is_this_checkout(dirs: tuple[Path, Path]) -> None:
    """Run from a checkout (`uv run patchbay`), entries start the connector from the same checkout."""
    project, home = dirs
    result = patchbay("install", "filesystem", "--client", "cursor", "--dry-run", "--no-verify", cwd=project, home=home)
    assert result.returncode == 0, result.stderr
    assert f'"{ROOT / "servers" / "filesystem"}"' in result.stdout


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
        "--no-verify",
        cwd=project,
        home=home,
    )
    assert dry.returncode == 0, dry.stderr
    assert "not written (--dry-run)" in dry.stdout
    assert "patchbay-filesystem" in dry.stdout
