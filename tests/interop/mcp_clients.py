"""The two independent MCP clients of the interop suite, and the connectors they reach.

`Clients` runs the MCP Inspector CLI and `client.ts` (a script on the MCP TypeScript SDK)
as subprocesses; `Servers` gives a connector's `Target` for each transport: a command that
each client run starts itself (stdio), or one Streamable HTTP server process per mode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from patchbay.testing import RunningServer, http_server

TRANSPORTS = ("stdio", "http-stateless", "http-stateful")
CLIENT_TIMEOUT = 120.0
HOW_TO = (
    "The interop suite needs npm (any Node >= 18): on Debian `apt-get install -y nodejs npm`, then "
    "`bash tools/ensure-interop.sh` (installs Node 22, the MCP Inspector and the TypeScript SDK from the npm "
    "registry into ${PATCHBAY_TOOLS_DIR:-~/.cache/patchbay-tools})."
)


def unavailable(reason: str) -> NoReturn:
    """Skip locally; under CI=true a missing tool is a failure, never a silent skip."""
    message = f"{reason}\n{HOW_TO}"
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message}\n(CI=true: failing instead of skipping)", pytrace=False)
    pytest.skip(message)


@dataclass
class Inspected:
    """One run of the Inspector CLI: its exit code, its JSON answer (or None) and its stderr."""

    code: int
    answer: Any
    stderr: str

    @property
    def result(self) -> Any:
        """The MCP result it printed (--format json puts it under "result")."""
        assert isinstance(self.answer, dict) and "result" in self.answer, (self.code, self.answer, self.stderr)
        return self.answer["result"]


@dataclass
class Clients:
    """The two independent clients, run as subprocesses with a scratch HOME."""

    folder: Path
    """What tools/ensure-interop.sh installed: bin/ (node, inspector) and node_modules/."""
    scratch: Path

    def inspector(self, server: dict[str, Any], *method: str) -> Inspected:
        """Run `inspector --cli --config FILE --server s METHOD...` with `server` as the config entry."""
        config = self.scratch / f"inspector-{os.urandom(4).hex()}.json"
        config.write_text(json.dumps({"mcpServers": {"s": server}}))
        return self.inspector_args("--config", str(config), "--server", "s", *method)

    def inspector_args(self, *args: str) -> Inspected:
        """Run `inspector --cli ARGS... --format json` as it is."""
        done = self._run([str(self.folder / "bin" / "inspector"), "--cli", *args, "--format", "json"])
        try:
            answer = json.loads(done.stdout) if done.stdout.strip() else None
        except json.JSONDecodeError:
            answer = done.stdout
        return Inspected(done.returncode, answer, done.stderr)

    def typescript(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Run client.ts with `plan`; its report (see client.ts)."""
        path = self.scratch / f"plan-{os.urandom(4).hex()}.json"
        path.write_text(json.dumps(plan))
        done = self._run([str(self.folder / "bin" / "node"), str(self.scratch / "client.ts"), str(path)])
        assert done.returncode == 0, f"client.ts exited {done.returncode}:\n{done.stderr[-3000:]}"
        report: dict[str, Any] = json.loads(done.stdout)
        return report

    def _run(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "HOME": str(self.scratch), "NO_PROXY": "127.0.0.1,localhost"}
        env["PATH"] = f"{self.folder / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return subprocess.run(
            argv, env=env, cwd=self.scratch, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=CLIENT_TIMEOUT, check=False,
        )  # fmt: skip


def console_script(name: str) -> str:
    """The installed console script `name` of this environment."""
    return str(Path(sys.executable).with_name(name))


@dataclass
class Target:
    """A connector to reach over one transport: a command to start (stdio) or a running server."""

    transport: str
    command: list[str]
    env: dict[str, str]
    server: RunningServer | None = None

    @property
    def stateless(self) -> bool:
        """A handshake-era client gets no back-channel here: no roots, no confirmation."""
        return self.transport == "http-stateless"

    def inspector_entry(self, roots: Sequence[str] | None = None, args: Sequence[str] = ()) -> dict[str, Any]:
        """The Inspector config entry for this target; `roots` are file paths it answers roots/list with."""
        entry: dict[str, Any]
        if self.server is not None:
            entry = {"type": "streamable-http", "url": self.server.url}
        else:
            entry = {"command": self.command[0], "args": [*self.command[1:], *args], "env": self.env}
        if roots is not None:
            entry["roots"] = [{"uri": f"file://{root}", "name": Path(root).name} for root in roots]
        return entry

    def ts_server(self) -> dict[str, Any]:
        """The `server` of a client.ts plan for this target."""
        if self.server is not None:
            return {"url": self.server.url}
        return {"command": self.command[0], "args": self.command[1:], "env": self.env}


@dataclass
class Servers:
    """One HTTP server process per mode for a connector, started when first asked for."""

    command: list[str]
    env: dict[str, str]
    stack: list[Any]
    running: dict[str, RunningServer]

    def target(self, transport: str) -> Target:
        """The target for `transport`, starting its HTTP server on first use."""
        if transport == "stdio":
            return Target(transport, self.command, self.env)
        if transport not in self.running:
            extra = ["--stateful"] if transport == "http-stateful" else []
            context = http_server(self.command, *extra, env=self.env)
            self.running[transport] = context.__enter__()
            self.stack.append(context)
        return Target(transport, self.command, self.env, self.running[transport])


def serve(command: list[str], env: dict[str, str]) -> Iterator[Servers]:
    """Servers for a module-scoped fixture; every HTTP server it started is stopped at the end."""
    servers = Servers(command, env, [], {})
    try:
        yield servers
    finally:
        for context in reversed(servers.stack):
            context.__exit__(None, None, None)


def text_of(result: dict[str, Any]) -> str:
    """The text blocks of an MCP result, joined."""
    return "\n".join(block.get("text", "") for block in result.get("content", []))


def strict_tool_names(clients: Clients, entry: dict[str, Any]) -> set[str]:
    """The tools Inspector lists with `--strict`, once it exited 0 and found nothing in the schemas."""
    listed = clients.inspector(entry, "--method", "tools/list", "--strict")
    assert listed.code == 0, listed.stderr
    assert "schemaFindings" not in listed.answer, listed.answer.get("schemaFindings")
    return {tool["name"] for tool in listed.result["tools"]}
