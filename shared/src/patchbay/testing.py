"""Test helpers: talk to a connector in memory (either protocol era), over stdio, over HTTP.

    async with connect(connector, {"allow_writes": True}, era="legacy", elicit=Answer("accept")) as client:
        result = await client.call_tool("delete_note", {"key": "a"})

`http_server` starts the real console script on a free 127.0.0.1 port and stops it
afterwards; `stdio_server` gives the parameters to launch it over stdio.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import mcp_types as types
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.stdio import StdioServerParameters

from patchbay.connector import Connector

ERAS = ("legacy", "2026-07-28")
"""The two protocol eras every behaviour is tested in: the handshake era and 2026-07-28."""


@dataclass
class Answer:
    """An elicitation callback that gives the same answer every time and records the questions."""

    action: Literal["accept", "decline", "cancel"] = "accept"
    content: dict[str, Any] = field(default_factory=lambda: {"confirm": True})
    questions: list[str] = field(default_factory=list)

    async def __call__(self, context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        """Record the question, then answer it."""
        self.questions.append(params.message)
        content = self.content if self.action == "accept" else None
        return types.ElicitResult(action=self.action, content=content)


@asynccontextmanager
async def connect(
    connector: Connector[Any, Any],
    settings: Mapping[str, Any] | None = None,
    *,
    era: str = "2026-07-28",
    elicit: Answer | None = None,
    **client_options: Any,
) -> AsyncIterator[Client]:
    """An in-memory client of `connector` built with `settings`, speaking `era`."""
    server = connector.build(connector.load_settings(dict(settings or {})))
    async with Client(server, mode=era, elicitation_callback=elicit, **client_options) as client:
        yield client


def stdio_server(command: Sequence[str], env: Mapping[str, str] | None = None) -> StdioServerParameters:
    """Parameters to launch `command` (a connector's console script) as a stdio server."""
    return StdioServerParameters(command=command[0], args=list(command[1:]), env={**os.environ, **(env or {})})


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    """A connector process serving Streamable HTTP."""

    base_url: str
    process: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def url(self) -> str:
        """The MCP endpoint."""
        return f"{self.base_url}/mcp"

    def stderr(self) -> str:
        """Everything the server wrote to stderr so far (its log and, by default, the audit log)."""
        return self.stderr_path.read_text(errors="replace")


@contextmanager
def http_server(
    command: Sequence[str], *args: str, env: Mapping[str, str] | None = None, timeout: float = 30.0
) -> Iterator[RunningServer]:
    """Run `command` over HTTP on a free 127.0.0.1 port until the block ends."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="patchbay-http-") as scratch:
        stderr_path = Path(scratch) / "stderr.log"
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                [*command, "--transport", "http", "--host", "127.0.0.1", "--port", str(port), *args],
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        server = RunningServer(f"http://127.0.0.1:{port}", process, stderr_path)
        try:
            _wait_healthy(server, timeout)
            yield server
        finally:
            stop(process)


def _wait_healthy(server: RunningServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.stderr()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise TimeoutError(f"server not healthy after {timeout}s:\n{server.stderr()}")


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGINT (uvicorn ignores SIGTERM while a stream is open), then SIGKILL."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
