"""Test helpers: talk to a connector in memory (either protocol era), over stdio, over HTTP.

    async with connect(connector, {"allow_writes": True}, era="legacy", elicit=Answer("accept")) as client:
        result = await client.call_tool("delete_note", {"key": "a"})

`http_server` starts the real console script on a free 127.0.0.1 port and stops it
afterwards; `stdio_server` gives the parameters to launch it over stdio.
`nginx_round_robin` puts a private nginx in front of several such servers.
`FakeService` (patchbay.fakes) is the loopback HTTP fake base for upstream services, checked
against official API descriptions by the contracts in patchbay.fake_contracts.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import mcp_types as types
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.stdio import StdioServerParameters

from patchbay.connector import Connector
from patchbay.fake_contracts import DescriptionMissing as DescriptionMissing
from patchbay.fake_contracts import DiscoveryContract as DiscoveryContract
from patchbay.fake_contracts import OpenAPIContract as OpenAPIContract
from patchbay.fake_contracts import drive_contract as drive_contract
from patchbay.fake_contracts import drive_discovery_document as drive_discovery_document
from patchbay.fake_contracts import github_contract as github_contract
from patchbay.fake_contracts import github_contract_or_skip as github_contract_or_skip
from patchbay.fake_contracts import github_description_path as github_description_path
from patchbay.fakes import Contract as Contract
from patchbay.fakes import ContractViolation as ContractViolation
from patchbay.fakes import FakeRequest as FakeRequest
from patchbay.fakes import FakeService as FakeService
from patchbay.fakes import Fault as Fault
from patchbay.fakes import Response as Response
from patchbay.fakes import json_response as json_response
from patchbay.fakes import route as route
from patchbay.fakes import text_response as text_response

ERAS = ("legacy", "2026-07-28")
"""The two protocol eras every behaviour is tested in: the handshake era and 2026-07-28."""


@dataclass
class Answer:
    """An elicitation callback that gives the same answer every time and records the questions."""

    action: Literal["accept", "decline", "cancel"] = "accept"
    content: dict[str, Any] = field(default_factory=lambda: {"confirm": True})
    questions: list[str] = field(default_factory=list)
    schemas: list[dict[str, Any]] = field(default_factory=list)
    before_answer: Callable[[str], Awaitable[None]] | None = None
    """Runs with each question before it is answered (e.g. to change what the question described)."""

    async def __call__(self, context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        """Record the question, then answer it."""
        self.questions.append(params.message)
        schema = getattr(params, "requested_schema", None)
        self.schemas.append(dict(schema) if schema is not None else {})
        if self.before_answer is not None:
            await self.before_answer(params.message)
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


def runtime_of_server(server: Any) -> Any:
    """The `Runtime` behind a server built by `Connector.build` (its lifespan's owner), for tests
    that look at or change server-side state directly."""
    return server.settings.lifespan.__self__


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


def stop(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGINT (uvicorn ignores SIGTERM while a stream is open), then SIGKILL."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def raw_stdio(
    command: Sequence[str], lines: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 20.0
) -> tuple[list[dict[str, Any]], str]:
    """Send `lines` (raw JSON-RPC text, one message each, after a handshake-era `initialize`) to
    `command` over stdio, one at a time, and read one reply per line that has an `"id"`.

    For what the SDK client cannot send (a lone surrogate escape, a line that is not JSON).
    Returns the replies to `lines` (not the handshake) and the server's stderr; a reply that
    does not come within `timeout` seconds fails with TimeoutError.
    """
    hello = json.dumps(
        {"jsonrpc": "2.0", "id": 0, "method": "initialize",
         "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}
    )  # fmt: skip
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            list(command), env={**os.environ, **(env or {})}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=stderr, text=True,
        )  # fmt: skip
        try:
            initialized = '{"jsonrpc":"2.0","method":"notifications/initialized"}'
            replies = _exchange(process, [hello, initialized, *lines], timeout)
        finally:
            stop(process, timeout=5)
        stderr.seek(0)
        return replies[1:], stderr.read()


def _exchange(process: subprocess.Popen[str], lines: Sequence[str], timeout: float) -> list[dict[str, Any]]:
    assert process.stdin is not None and process.stdout is not None
    replies = []
    for line in lines:
        process.stdin.write(line + "\n")
        process.stdin.flush()
        if '"id"' in line:
            ready, _, _ = select.select([process.stdout], [], [], timeout)
            if not ready:
                raise TimeoutError(f"no answer within {timeout}s to {line[:200]!r}")
            replies.append(json.loads(process.stdout.readline()))
    return replies


# nginx round-robin ---------------------------------------------------------------------

NGINX_JSON_LOG = (
    '{"upstream":"$upstream_addr","status":"$status","method":"$request_method",'
    '"uri":"$request_uri","body":"$request_body"}'
)
"""The default access log of `nginx_round_robin`: one JSON object per request, with which
upstream served it (a comma-separated list if nginx tried more than one) and the request
body it carried (a JSON-RPC message, as a string; empty when there is none)."""


def nginx_binary() -> str | None:
    """$PATCHBAY_NGINX, /usr/sbin/nginx or nginx on PATH, the first one executable; None without one."""
    for candidate in (os.environ.get("PATCHBAY_NGINX", ""), "/usr/sbin/nginx", shutil.which("nginx") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class Balancer:
    """A private nginx balancing round-robin over some upstreams."""

    base_url: str
    process: subprocess.Popen[bytes]
    prefix: Path
    """nginx's throw-away prefix: config, pid, temp and log files; removed when the block ends."""

    @property
    def url(self) -> str:
        """The MCP endpoint."""
        return f"{self.base_url}/mcp"

    @property
    def access_log_path(self) -> Path:
        """Where requests are logged (nothing is, with `access_log_format=None`)."""
        return self.prefix / "access.log"

    @property
    def error_log_path(self) -> Path:
        return self.prefix / "error.log"

    def access_log(self) -> list[dict[str, Any]]:
        """One entry per request answered so far; for a JSON-object log format such as the default."""
        if not self.access_log_path.exists():
            return []
        entries: list[dict[str, Any]] = [json.loads(line) for line in self.access_log_path.read_text().splitlines()]
        return entries

    def error_log(self) -> str:
        """nginx's error log (warnings and worse) so far."""
        path = self.error_log_path
        return path.read_text(errors="replace") if path.exists() else ""


def _nginx_config(prefix: Path, port: int, upstreams: Sequence[str], access_log_format: str | None) -> str:
    """Round-robin over `upstreams` (host:port) on 127.0.0.1:`port`, every file under `prefix`."""
    servers = "\n".join(f"        server {upstream} max_fails=0;" for upstream in upstreams)
    # As root, nginx's workers would switch to `nobody`, who cannot write the 0700 temp prefix.
    user = "user root;" if os.geteuid() == 0 else ""
    if access_log_format is None:
        access_log = "access_log off;"
    else:
        access_log = (
            f"log_format patchbay escape=json '{access_log_format}';\n    access_log {prefix}/access.log patchbay;"
        )
    return f"""
{user}
daemon off;
worker_processes 1;  # one worker: round-robin is then exact across all requests
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    {access_log}
    keepalive_requests 100000;  # never close a busy client connection (the default closes after 1000 requests)
    upstream upstreams {{
{servers}
        keepalive 64;
        keepalive_timeout 4s;  # below uvicorn's 5 s, so nginx never reuses a connection uvicorn closed
        keepalive_requests 100000;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://upstreams;
            proxy_http_version 1.1;
            proxy_set_header Connection "";    # keepalive to the upstreams
            proxy_set_header Host $http_host;  # 127.0.0.1:<port>: passes DNS-rebinding protection
            proxy_buffering off;               # Streamable HTTP answers as a stream (SSE)
            proxy_read_timeout 60s;
            # The default: never resend a POST that reached an upstream (it could run twice).
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


@contextmanager
def nginx_round_robin(
    upstreams: Sequence[str],
    *,
    nginx: str | None = None,
    access_log_format: str | None = NGINX_JSON_LOG,
    timeout: float = 15.0,
) -> Iterator[Balancer]:
    """Run a private nginx balancing round-robin over `upstreams` ("host:port") until the block ends.

    nginx runs in the foreground on a free 127.0.0.1 port with a throw-away config, prefix,
    pid and logs: one worker, HTTP/1.1 keepalive to the upstreams, response buffering off
    (Streamable HTTP answers as a stream), the client's Host passed on (which DNS-rebinding
    protection accepts) and never a request resent to a second upstream. It is ready when
    `/healthz` answers 200 through it. Afterwards SIGQUIT (graceful), then SIGKILL.

    `nginx` is the binary (default: `nginx_binary()`; FileNotFoundError without one).
    `access_log_format` is an nginx `log_format` string with `escape=json` (no single
    quotes); None turns the access log off, as a benchmark wants.
    """
    if not upstreams:
        raise ValueError("nginx_round_robin needs at least one upstream")
    nginx = nginx or nginx_binary()
    if nginx is None:
        raise FileNotFoundError("nginx not found: set PATCHBAY_NGINX or install it (`bash tools/ensure-nginx.sh`)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="patchbay-nginx-") as scratch:
        prefix = Path(scratch)
        conf = prefix / "nginx.conf"
        conf.write_text(_nginx_config(prefix, port, upstreams, access_log_format))
        with (prefix / "stderr.log").open("wb") as stderr:
            # -e: the error log before the config is read (the default is /var/log/nginx).
            process = subprocess.Popen(
                [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        balancer = Balancer(f"http://127.0.0.1:{port}", process, prefix)
        try:
            try:
                # nginx writes start-up errors to stderr, later ones (an upstream down) to its error log.
                _wait_healthy(RunningServer(balancer.base_url, process, prefix / "stderr.log"), timeout)
            except (RuntimeError, TimeoutError) as exc:
                raise type(exc)(f"nginx: {exc}\n{balancer.error_log()}") from None
            yield balancer
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGQUIT)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
