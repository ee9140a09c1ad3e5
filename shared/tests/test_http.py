"""The example connector served over Streamable HTTP, as a real process on 127.0.0.1.

Each server is the real `python -m patchbay.example` on a free port, started by
`patchbay.testing.http_server` and stopped when its fixture ends. Servers that tests
do not disturb for each other are shared per module (tests use their own note keys).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import jwt
import mcp_types as types
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from patchbay.auth import ResourceMetadata, verifier_for
from patchbay.example.settings import ExampleSettings
from patchbay.settings import SettingsError
from patchbay.testing import ERAS, Answer, RunningServer, free_port, http_server

from .example_tools import ALL_TOOLS, READ_TOOLS

pytestmark = pytest.mark.anyio

CMD = [sys.executable, "-m", "patchbay.example"]
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
PRM_PATH = "/.well-known/oauth-protected-resource/mcp"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# Helpers ------------------------------------------------------------------------------


@contextmanager
def start_servers(*specs: tuple[tuple[str, ...], dict[str, str]]) -> Iterator[list[RunningServer]]:
    """Start (and later stop) several servers at once: each takes a second or so to import the SDK."""
    managers = [http_server(CMD, *args, env=env) for args, env in specs]
    with ThreadPoolExecutor(len(managers)) as pool:
        futures = [pool.submit(m.__enter__) for m in managers]
        wait(futures)
        started = [m for m, f in zip(managers, futures, strict=True) if f.exception() is None]
        try:
            yield [f.result() for f in futures]  # raises the first start-up failure
        finally:
            list(pool.map(lambda m: m.__exit__(None, None, None), started))


def post(url: str, message: dict[str, Any], headers: dict[str, str] | None = None, **options: Any) -> httpx2.Response:
    """One raw JSON-RPC POST to the MCP endpoint."""
    return httpx2.post(url, json=message, headers={**MCP_HEADERS, **(headers or {})}, timeout=10, **options)


def call(name: str, arguments: dict[str, Any], request_id: int = 1) -> dict[str, Any]:
    """A handshake-era `tools/call` message (a stateless server answers it without `initialize`)."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


def initialize() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"},
        },
    }


def sse_messages(response: httpx2.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages in an SSE (or plain JSON) response body."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return [response.json()]
    return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]


def audit_lines(server: RunningServer) -> list[dict[str, Any]]:
    """The audit entries the server wrote to stderr so far."""
    entries = []
    for line in server.stderr().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if "call_id" in entry:
                entries.append(entry)
    return entries


def text_of(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))


@asynccontextmanager
async def bearer_client(url: str, token: str, era: str, **options: Any) -> AsyncIterator[Client]:
    """An MCP client that sends `Authorization: Bearer <token>` on every request."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10) as http,
        Client(streamable_http_client(url, http_client=http), mode=era, **options) as client,
    ):
        yield client


def fingerprint(token: str) -> str:
    return f"token:{hashlib.sha256(token.encode()).hexdigest()[:8]}"


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    """Audit lines are written as the call finishes; the reply can overtake the flush by a hair."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def clean_env() -> dict[str, str]:
    """The test's environment without any PATCHBAY_EXAMPLE_* the developer may have set."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PATCHBAY_EXAMPLE_")}


# Servers shared by the module --------------------------------------------------------


@dataclass
class Servers:
    default: RunningServer  # no options at all
    writes: RunningServer  # --allow-writes, stateless
    stateful: RunningServer  # --allow-writes --stateful
    small: RunningServer  # PATCHBAY_EXAMPLE_MAX_REQUEST_BYTES=2048


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    with start_servers(
        ((), {}),
        (("--allow-writes",), {}),
        (("--allow-writes", "--stateful"), {}),
        ((), {"PATCHBAY_EXAMPLE_MAX_REQUEST_BYTES": "2048"}),
    ) as running:
        yield Servers(*running)


# Health, default mode ----------------------------------------------------------------


def test_healthz_answers_200_json(servers: Servers) -> None:
    response = httpx2.get(f"{servers.default.base_url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok", "server": "patchbay-example", "version": "0.1.0"}


def test_default_server_is_stateless_and_says_so(servers: Servers) -> None:
    stateless = post(servers.default.url, initialize())
    stateful = post(servers.stateful.url, initialize())
    assert stateless.status_code == stateful.status_code == 200
    assert "mcp-session-id" not in stateless.headers
    assert stateful.headers["mcp-session-id"]
    assert f"serving read-only on {servers.default.url} (stateless)" in servers.default.stderr()
    assert f"serving read-write on {servers.stateful.url} (stateful)" in servers.stateful.stderr()


@pytest.mark.parametrize("era", ERAS)
async def test_default_server_lists_read_tools_and_answers_a_call(servers: Servers, era: str) -> None:
    async with Client(servers.default.url, mode=era) as client:
        tools = await client.list_tools()
        result = await client.call_tool("echo", {"text": f"hello over http ({era})"})
    assert [t.name for t in tools.tools] == READ_TOOLS
    assert not result.is_error
    assert result.structured_content == {"text": f"hello over http ({era})"}
    wait_for(lambda: any(e["arguments"] == {"text": f"hello over http ({era})"} for e in audit_lines(servers.default)))
    [entry] = [e for e in audit_lines(servers.default) if e["arguments"] == {"text": f"hello over http ({era})"}]
    assert entry["tool"] == "echo"
    assert entry["principal"] == "local"
    assert entry["outcome"] == "ok"


@pytest.mark.parametrize("era", ERAS)
async def test_writes_flag_offers_every_tool_over_http(servers: Servers, era: str) -> None:
    async with Client(servers.writes.url, mode=era) as client:
        tools = await client.list_tools()
        put = await client.call_tool("put_note", {"key": f"http-put-{era}", "text": "kept"})
        got = await client.call_tool("get_note", {"key": f"http-put-{era}"})
    assert [t.name for t in tools.tools] == ALL_TOOLS
    assert put.structured_content == {"key": f"http-put-{era}", "text": "kept"}
    assert got.structured_content == {"key": f"http-put-{era}", "text": "kept"}


# Static bearer tokens ----------------------------------------------------------------

TOKEN_1 = "tok1-" + "a1b2c3d4e5f60718293a4b5c6d7e8f90"
TOKEN_2 = "tok2-" + "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
FILE_TOKEN = "tokf-" + "5e5e5e5e7a7a7a7a1c1c1c1c9d9d9d9d"
STATIC_TOKENS = [TOKEN_1, TOKEN_2, FILE_TOKEN]


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    token_file = tmp_path_factory.mktemp("tokens") / "tokens.txt"
    token_file.write_text(f"# accepted tokens\n\n{FILE_TOKEN}\n")
    env = {
        "PATCHBAY_EXAMPLE_AUTH_TOKENS": f"{TOKEN_1},{TOKEN_2}",
        "PATCHBAY_EXAMPLE_AUTH_TOKEN_FILE": str(token_file),
    }
    # DEBUG: the most talkative the server gets, so a leak anywhere in its log shows up.
    with http_server(CMD, "--log-level", "DEBUG", env=env) as server:
        yield server


CHALLENGE = 'Bearer error="invalid_token", error_description="Authentication required"'


def assert_unauthorized(response: httpx2.Response, metadata_url: str | None = None) -> None:
    """A 401 whose challenge names `metadata_url` as its resource metadata, or no metadata at all."""
    assert response.status_code == 401
    expected = CHALLENGE if metadata_url is None else f'{CHALLENGE}, resource_metadata="{metadata_url}"'
    assert response.headers.get_list("www-authenticate") == [expected]


def test_no_token_is_401_with_a_plain_bearer_challenge(token_server: RunningServer) -> None:
    response = post(token_server.url, call("echo", {"text": "no token"}))
    assert_unauthorized(response)  # static tokens: no authorization server to point at
    assert not [e for e in audit_lines(token_server) if e["arguments"] == {"text": "no token"}]


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-configured-token",
        f"Bearer {TOKEN_1}x",  # one character more
        f"Bearer {TOKEN_1[:-1]}",  # one character less
        f"Basic {TOKEN_1}",  # right secret, wrong scheme
    ],
)
def test_wrong_token_is_401(token_server: RunningServer, authorization: str) -> None:
    response = post(token_server.url, call("echo", {"text": "wrong token"}), {"Authorization": authorization})
    assert_unauthorized(response)
    assert not [e for e in audit_lines(token_server) if e["arguments"] == {"text": "wrong token"}]


def test_healthz_needs_no_token(token_server: RunningServer) -> None:
    response = httpx2.get(f"{token_server.base_url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("path", [PRM_PATH, "/.well-known/oauth-protected-resource"])
def test_static_tokens_publish_no_protected_resource_metadata(token_server: RunningServer, path: str) -> None:
    response = httpx2.get(f"{token_server.base_url}{path}", timeout=10)
    assert response.status_code == 404


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("token", STATIC_TOKENS, ids=["env-1", "env-2", "file"])
async def test_right_token_works_and_is_audited_by_fingerprint(
    token_server: RunningServer, token: str, era: str
) -> None:
    text = f"authorized {token[:4]} {era}"
    async with bearer_client(token_server.url, token, era) as client:
        tools = await client.list_tools()
        result = await client.call_tool("echo", {"text": text})
    assert [t.name for t in tools.tools] == READ_TOOLS
    assert result.structured_content == {"text": text}
    wait_for(lambda: any(e["arguments"] == {"text": text} for e in audit_lines(token_server)))
    [entry] = [e for e in audit_lines(token_server) if e["arguments"] == {"text": text}]
    assert entry["principal"] == fingerprint(token)


async def test_token_values_never_reach_the_server_log(token_server: RunningServer) -> None:
    for token in STATIC_TOKENS:
        async with bearer_client(token_server.url, token, "2026-07-28") as client:
            await client.call_tool("echo", {"text": "log check"})
    post(token_server.url, call("echo", {"text": "log check"}), {"Authorization": f"Bearer {TOKEN_1}-typo"})
    wait_for(lambda: len([e for e in audit_lines(token_server) if e["arguments"] == {"text": "log check"}]) == 3)
    log = token_server.stderr()
    assert "DEBUG" in log  # the log really was verbose
    for token in STATIC_TOKENS:
        assert token not in log
        assert token[5:] not in log  # not even the random part
    principals = {e["principal"] for e in audit_lines(token_server) if e["arguments"] == {"text": "log check"}}
    assert principals == {fingerprint(t) for t in STATIC_TOKENS}


# JWT bearer tokens -------------------------------------------------------------------

AUDIENCE = "https://patchbay.test/mcp"
ISSUER = "https://issuer.test"
KID = "test-key-1"
PUBLIC_URL = "https://mcp.patchbay.test/connectors/example/mcp"
PUBLIC_METADATA_URL = "https://mcp.patchbay.test/.well-known/oauth-protected-resource/connectors/example/mcp"


@dataclass
class JWTSetup:
    server: RunningServer
    key: rsa.RSAPrivateKey
    other_key: rsa.RSAPrivateKey
    public: RunningServer  # the same, with --public-url PUBLIC_URL

    def token(self, *, key: rsa.RSAPrivateKey | None = None, kid: str = KID, **claims: Any) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {"sub": "alice@example.test", "aud": AUDIENCE, "iss": ISSUER, "iat": now}
        payload["exp"] = now + 300
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": kid})


@contextmanager
def jwks_endpoint(document: dict[str, Any]) -> Iterator[str]:
    """Serve `document` as JSON from a thread on 127.0.0.1; yields its URL."""
    body = json.dumps(document).encode()

    class Handler(BaseHTTPRequestHandler):
        wbufsize = -1

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/jwks.json"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def jwt_setup() -> Iterator[JWTSetup]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=KID, use="sig", alg="RS256")
    with jwks_endpoint({"keys": [jwk]}) as jwks_url:
        env = {
            "PATCHBAY_EXAMPLE_JWT_JWKS_URL": jwks_url,
            "PATCHBAY_EXAMPLE_JWT_AUDIENCE": AUDIENCE,
            "PATCHBAY_EXAMPLE_JWT_ISSUER": ISSUER,
        }
        with start_servers(((), env), (("--public-url", PUBLIC_URL), env)) as (server, public):
            yield JWTSetup(server, key, other_key, public)


@pytest.mark.parametrize("era", ERAS)
async def test_valid_jwt_works_and_the_audit_names_its_subject(jwt_setup: JWTSetup, era: str) -> None:
    token = jwt_setup.token(sub=f"alice-{era}@example.test")
    async with bearer_client(jwt_setup.server.url, token, era) as client:
        result = await client.call_tool("echo", {"text": f"jwt {era}"})
    assert result.structured_content == {"text": f"jwt {era}"}
    wait_for(lambda: any(e["arguments"] == {"text": f"jwt {era}"} for e in audit_lines(jwt_setup.server)))
    [entry] = [e for e in audit_lines(jwt_setup.server) if e["arguments"] == {"text": f"jwt {era}"}]
    assert entry["principal"] == f"alice-{era}@example.test"
    assert token not in jwt_setup.server.stderr()


def metadata_of(server: RunningServer, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = httpx2.get(f"{server.base_url}{PRM_PATH}", headers=headers, timeout=10)
    assert response.status_code == 200
    metadata: dict[str, Any] = response.json()
    return metadata


def test_jwt_protected_resource_metadata_names_the_issuer(jwt_setup: JWTSetup) -> None:
    metadata = metadata_of(jwt_setup.server)
    assert metadata["resource"] == jwt_setup.server.url
    assert [s.rstrip("/") for s in metadata["authorization_servers"]] == [ISSUER]
    assert metadata["bearer_methods_supported"] == ["header"]
    assert_unauthorized(post(jwt_setup.server.url, call("echo", {})), f"{jwt_setup.server.base_url}{PRM_PATH}")


@pytest.mark.parametrize(
    ("headers", "base"),
    [
        ({"Host": "localhost:{port}"}, "http://localhost:{port}"),
        ({"Host": "mcp.patchbay.test", "X-Forwarded-Proto": "https"}, "https://mcp.patchbay.test"),  # a proxy
    ],
    ids=["other-name", "behind-tls-proxy"],
)
def test_jwt_urls_name_the_address_the_client_reached_not_the_bind_address(
    jwt_setup: JWTSetup, headers: dict[str, str], base: str
) -> None:
    port = jwt_setup.server.base_url.rsplit(":", 1)[1]
    headers = {k: v.format(port=port) for k, v in headers.items()}
    base = base.format(port=port)
    assert metadata_of(jwt_setup.server, headers)["resource"] == f"{base}/mcp"
    assert_unauthorized(post(jwt_setup.server.url, call("echo", {}), headers), f"{base}{PRM_PATH}")


def test_jwt_urls_use_the_public_url_when_set(jwt_setup: JWTSetup) -> None:
    metadata = metadata_of(jwt_setup.public, {"Host": "elsewhere.test"})
    assert metadata["resource"] == PUBLIC_URL
    assert [s.rstrip("/") for s in metadata["authorization_servers"]] == [ISSUER]
    assert_unauthorized(post(jwt_setup.public.url, call("echo", {}), {"Host": "elsewhere.test"}), PUBLIC_METADATA_URL)
    assert f'"url": "{PUBLIC_URL}"' in jwt_setup.public.stderr()  # the snippet for a host's config too


def test_a_host_header_unfit_for_a_url_is_never_echoed(jwt_setup: JWTSetup) -> None:
    metadata = ResourceMetadata(ISSUER, "/mcp", None)
    scope = {"type": "http", "scheme": "http", "headers": [(b"host", b'a.test", error="forged')]}
    assert metadata.resource(scope) is None
    response = post(jwt_setup.server.url, call("echo", {}), {"Host": 'a.test", error="forged'})
    assert "forged" not in response.headers.get("www-authenticate", "")


@pytest.mark.parametrize(
    "case",
    ["wrong audience", "expired", "wrong issuer", "other key", "unknown kid", "no expiry", "no audience"],
)
def test_invalid_jwt_is_401(jwt_setup: JWTSetup, case: str) -> None:
    now = int(time.time())
    token = {
        "wrong audience": lambda: jwt_setup.token(aud="https://someone-else.test/mcp"),
        "expired": lambda: jwt_setup.token(iat=now - 600, exp=now - 120),  # past the 30 s leeway
        "wrong issuer": lambda: jwt_setup.token(iss="https://evil-issuer.test"),
        "other key": lambda: jwt_setup.token(key=jwt_setup.other_key),  # same kid, wrong signature
        "unknown kid": lambda: jwt_setup.token(key=jwt_setup.other_key, kid="not-in-jwks"),
        "no expiry": lambda: jwt_setup.token(exp=None),
        "no audience": lambda: jwt_setup.token(aud=None),
    }[case]()
    response = post(
        jwt_setup.server.url, call("echo", {"text": f"bad jwt: {case}"}), {"Authorization": f"Bearer {token}"}
    )
    assert_unauthorized(response, f"{jwt_setup.server.base_url}{PRM_PATH}")
    assert not [e for e in audit_lines(jwt_setup.server) if e["arguments"] == {"text": f"bad jwt: {case}"}]


def test_a_jwks_url_needs_an_issuer() -> None:
    settings = ExampleSettings(transport="http", jwt_jwks_url="http://127.0.0.1:9/jwks.json", jwt_audience=AUDIENCE)
    with pytest.raises(SettingsError) as caught:
        verifier_for(settings)
    assert str(caught.value) == (
        "PATCHBAY_EXAMPLE_JWT_ISSUER must be set with PATCHBAY_EXAMPLE_JWT_JWKS_URL: tokens are only accepted "
        "from that issuer, and clients are told to get them there"
    )


@pytest.mark.parametrize(
    "url", ["mcp.example.test/mcp", "ftp://mcp.example.test/mcp", "https:///mcp", "https://a.test/mcp?x=1"]
)
def test_public_url_must_be_an_absolute_http_url(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        ExampleSettings.load({"public_url": url})
    assert str(caught.value).startswith("invalid setting PATCHBAY_EXAMPLE_PUBLIC_URL (--public-url): ")
    assert "must be an http:// or https:// URL with a host" in str(caught.value)


# Exposure ----------------------------------------------------------------------------


def test_public_bind_without_auth_refuses_to_start() -> None:
    completed = subprocess.run(
        [*CMD, "--transport", "http", "--host", "0.0.0.0", "--port", str(free_port())],
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "refusing to listen on 0.0.0.0 without authentication" in completed.stderr
    assert "PATCHBAY_EXAMPLE_AUTH_TOKENS" in completed.stderr
    assert "--insecure-no-auth" in completed.stderr


async def test_public_bind_with_insecure_no_auth_starts() -> None:
    # http_server passes --host 127.0.0.1 first; the later --host wins.
    with http_server(CMD, "--host", "0.0.0.0", "--insecure-no-auth", env=clean_env()) as server:
        port = server.base_url.rsplit(":", 1)[1]
        assert f"serving read-only on http://0.0.0.0:{port}/mcp" in server.stderr()
        async with Client(server.url, mode="2026-07-28") as client:
            result = await client.call_tool("echo", {"text": "reachable"})
        assert result.structured_content == {"text": "reachable"}


def _host_config(stderr: str) -> Any:
    line = next(line for line in stderr.splitlines() if "to add it to an MCP host's config: " in line)
    return json.loads(line.split("config: ", 1)[1])


def test_the_printed_host_config_names_the_public_url_and_the_header_it_needs() -> None:
    """A container publishes port 8000 elsewhere: PUBLIC_URL says where; the token is never printed."""
    env = {
        **clean_env(),
        "PATCHBAY_EXAMPLE_AUTH_TOKENS": "canary-token-4f1d",
        "PATCHBAY_EXAMPLE_PUBLIC_URL": "http://127.0.0.1:18001/mcp",
    }
    with http_server(CMD, "--host", "0.0.0.0", env=env) as server:
        stderr = server.stderr()
    entry = {"type": "http", "url": "http://127.0.0.1:18001/mcp", "headers": {"Authorization": "Bearer <token>"}}
    assert _host_config(stderr) == {"mcpServers": {"patchbay-example": entry}}
    assert "canary-token-4f1d" not in stderr
    assert "port 8000 is the port inside" not in stderr


def test_without_a_public_url_a_public_bind_says_how_to_name_the_published_port() -> None:
    env = {**clean_env(), "PATCHBAY_EXAMPLE_AUTH_TOKENS": "canary-token-4f1d"}
    with http_server(CMD, "--host", "0.0.0.0", env=env) as server:
        stderr = server.stderr()
        port = server.base_url.rsplit(":", 1)[1]
    assert _host_config(stderr)["mcpServers"]["patchbay-example"]["url"] == f"http://127.0.0.1:{port}/mcp"
    assert f"port {port} is the port inside" in stderr
    assert "set PATCHBAY_EXAMPLE_PUBLIC_URL to the URL clients use" in stderr


async def test_a_loopback_server_without_auth_prints_a_plain_snippet(servers: Servers) -> None:
    assert _host_config(servers.default.stderr()) == {
        "mcpServers": {"patchbay-example": {"type": "http", "url": servers.default.url}}
    }


# DNS rebinding -----------------------------------------------------------------------


def test_local_post_runs_a_tool_call(servers: Servers) -> None:
    """The control for the rebinding tests: the same raw request with honest headers works."""
    response = post(servers.writes.url, call("put_note", {"key": "rebind-control", "text": "x"}))
    assert response.status_code == 200
    [message] = sse_messages(response)
    assert message["result"]["structuredContent"] == {"key": "rebind-control", "text": "x"}


@pytest.mark.parametrize(
    ("key", "headers", "status", "body"),
    [
        ("rebind-host", {"Host": "evil.example"}, 421, "Invalid Host header"),
        ("rebind-host-port", {"Host": "evil.example:80"}, 421, "Invalid Host header"),
        ("rebind-origin", {"Origin": "http://evil.example"}, 403, "Invalid Origin header"),
        ("rebind-lookalike", {"Origin": "http://127.0.0.1.evil.example"}, 403, "Invalid Origin header"),
    ],
    ids=["host", "host-with-port", "origin", "lookalike-origin"],
)
async def test_dns_rebinding_is_rejected_and_nothing_runs(
    servers: Servers, key: str, headers: dict[str, str], status: int, body: str
) -> None:
    response = post(servers.writes.url, call("put_note", {"key": key, "text": "planted"}), headers)
    assert response.status_code == status
    assert response.text == body
    async with Client(servers.writes.url, mode="2026-07-28") as client:
        after = await client.call_tool("get_note", {"key": key})
    assert after.is_error
    assert f"No note with key {key!r}" in text_of(after)
    assert not [e for e in audit_lines(servers.writes) if e["tool"] == "put_note" and e["arguments"]["key"] == key]


# Request body limit ------------------------------------------------------------------


def test_body_under_the_limit_is_served(servers: Servers) -> None:
    response = post(servers.small.url, call("echo", {"text": "s" * 1000}))
    assert response.status_code == 200
    [message] = sse_messages(response)
    assert message["result"]["structuredContent"] == {"text": "s" * 1000}


def test_body_over_the_limit_is_413(servers: Servers) -> None:
    response = post(servers.small.url, call("echo", {"text": "L" * 4000}))
    assert response.status_code == 413
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": -32600,
            "message": "Request body too large: the limit is 2048 bytes (PATCHBAY_EXAMPLE_MAX_REQUEST_BYTES).",
        },
    }
    assert not [e for e in audit_lines(servers.small) if e["arguments"] == {"text": "L" * 4000}]


def test_streamed_body_over_the_limit_is_413(servers: Servers) -> None:
    """No Content-Length to go by (chunked upload): the server counts the bytes itself."""
    payload = json.dumps(call("echo", {"text": "C" * 4000})).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 512):
            yield payload[start : start + 512]

    response = httpx2.post(servers.small.url, content=chunks(), headers=MCP_HEADERS, timeout=10)
    assert response.status_code == 413
    assert not [e for e in audit_lines(servers.small) if e["arguments"] == {"text": "C" * 4000}]


# Confirmation over HTTP --------------------------------------------------------------


async def test_modern_era_confirms_on_the_stateless_server(servers: Servers) -> None:
    answer = Answer("accept")
    async with Client(servers.writes.url, mode="2026-07-28", elicitation_callback=answer) as client:
        await client.call_tool("put_note", {"key": "confirm-modern", "text": "12345"})
        result = await client.call_tool("delete_note", {"key": "confirm-modern"})
        after = await client.call_tool("get_note", {"key": "confirm-modern"})
    assert answer.questions == ["Delete the note 'confirm-modern' (5 characters)? This cannot be undone."]
    assert not result.is_error
    assert result.structured_content == {
        "outcome": "done",
        "message": "Done.",
        "result": {"key": "confirm-modern", "size": 5},
    }
    assert after.is_error
    assert "No note with key 'confirm-modern'" in text_of(after)
    deletes = [
        e
        for e in audit_lines(servers.writes)
        if e["tool"] == "delete_note" and e["arguments"]["key"] == "confirm-modern"
    ]
    assert [(e["outcome"], e["confirmation"]) for e in deletes] == [("ok", "accepted")]


async def test_modern_era_decline_on_the_stateless_server_keeps_the_note(servers: Servers) -> None:
    answer = Answer("decline")
    async with Client(servers.writes.url, mode="2026-07-28", elicitation_callback=answer) as client:
        await client.call_tool("put_note", {"key": "confirm-decline", "text": "stay"})
        result = await client.call_tool("delete_note", {"key": "confirm-decline"})
        after = await client.call_tool("get_note", {"key": "confirm-decline"})
    assert len(answer.questions) == 1
    assert result.structured_content == {
        "outcome": "declined",
        "message": "Nothing was done: the user declined the operation.",
        "result": None,
    }
    assert after.structured_content == {"key": "confirm-decline", "text": "stay"}


async def test_handshake_era_on_the_stateless_server_is_refused_with_the_fix(servers: Servers) -> None:
    answer = Answer("accept")
    async with Client(servers.writes.url, mode="legacy", elicitation_callback=answer) as client:
        await client.call_tool("put_note", {"key": "confirm-legacy", "text": "stay"})
        result = await client.call_tool("delete_note", {"key": "confirm-legacy"})
        after = await client.call_tool("get_note", {"key": "confirm-legacy"})
    assert answer.questions == []  # never asked: there is no channel to ask on
    assert result.is_error
    message = text_of(result)
    assert "Nothing was done" in message
    assert "--confirm=never" in message
    assert "--stateful" in message  # the client *can* elicit; the stateless server cannot ask it
    assert after.structured_content == {"key": "confirm-legacy", "text": "stay"}


async def test_handshake_era_confirms_on_a_stateful_server(servers: Servers) -> None:
    answer = Answer("accept")
    async with Client(servers.stateful.url, mode="legacy", elicitation_callback=answer) as client:
        await client.call_tool("put_note", {"key": "confirm-stateful", "text": "abc"})
        result = await client.call_tool("delete_note", {"key": "confirm-stateful"})
        after = await client.call_tool("get_note", {"key": "confirm-stateful"})
    assert answer.questions == ["Delete the note 'confirm-stateful' (3 characters)? This cannot be undone."]
    assert result.structured_content == {
        "outcome": "done",
        "message": "Done.",
        "result": {"key": "confirm-stateful", "size": 3},
    }
    assert after.is_error
    assert "No note with key 'confirm-stateful'" in text_of(after)


# Replicas behind a balancer ----------------------------------------------------------


@dataclass
class Replicas:
    a: RunningServer
    b: RunningServer  # same state key as a
    other: RunningServer  # a different state key


@pytest.fixture(scope="module")
def replicas() -> Iterator[Replicas]:
    shared = {"PATCHBAY_EXAMPLE_STATE_KEY": "replica-shared-state-key-0123456789"}
    other = {"PATCHBAY_EXAMPLE_STATE_KEY": "some-other-state-key-9876543210"}
    with start_servers((("--allow-writes",), shared), (("--allow-writes",), shared), (("--allow-writes",), other)) as (
        a,
        b,
        c,
    ):
        yield Replicas(a, b, c)


@pytest.mark.parametrize("era", ERAS)
async def test_cursor_from_one_replica_is_accepted_by_another_with_the_same_key(replicas: Replicas, era: str) -> None:
    async with Client(replicas.a.url, mode=era) as client:
        first = await client.call_tool("list_notes", {"limit": 1})
    assert first.structured_content is not None
    assert first.structured_content["items"] == [{"key": "note-00000", "text": "Seed note number 0."}]
    cursor = first.structured_content["next_cursor"]
    assert isinstance(cursor, str)

    async with Client(replicas.b.url, mode=era) as client:
        second = await client.call_tool("list_notes", {"limit": 1, "cursor": cursor})
    assert not second.is_error
    assert second.structured_content is not None
    assert second.structured_content["items"] == [{"key": "note-00001", "text": "Seed note number 1."}]

    async with Client(replicas.other.url, mode=era) as client:
        refused = await client.call_tool("list_notes", {"limit": 1, "cursor": cursor})
    assert refused.is_error
    assert "Invalid argument 'cursor'" in text_of(refused)
    assert "omit the cursor" in text_of(refused)


async def test_confirmation_rounds_can_land_on_different_replicas(replicas: Replicas) -> None:
    key = "note-00002"
    question = f"Delete the note {key!r} (19 characters)? This cannot be undone."
    modern = "2026-07-28"
    # Round 1 on replica A: the server asks for confirmation instead of answering.
    async with Client(replicas.a.url, mode=modern, elicitation_callback=Answer()) as client:
        asked = await client.session.call_tool("delete_note", {"key": key}, allow_input_required=True)
    assert isinstance(asked, types.InputRequiredResult)
    assert asked.input_requests is not None
    [(request_key, request)] = asked.input_requests.items()
    assert isinstance(request, types.ElicitRequest)
    assert request.params.message == question
    assert asked.request_state
    responses: types.InputResponses = {request_key: types.ElicitResult(action="accept", content={"confirm": True})}

    # A replica with another key cannot open the state: nothing happens there.
    other_answer = Answer()
    async with Client(replicas.other.url, mode=modern, elicitation_callback=other_answer) as client:
        with pytest.raises(MCPError, match="Invalid or expired requestState"):
            await client.call_tool(
                "delete_note", {"key": key}, input_responses=responses, request_state=asked.request_state
            )
        kept_elsewhere = await client.call_tool("get_note", {"key": key})
    assert kept_elsewhere.structured_content == {"key": key, "text": "Seed note number 2."}

    # Round 2 on replica B (same key): the retry carries the answer and the call runs there.
    b_answer = Answer()
    async with Client(replicas.b.url, mode=modern, elicitation_callback=b_answer) as client:
        done = await client.call_tool(
            "delete_note", {"key": key}, input_responses=responses, request_state=asked.request_state
        )
        gone = await client.call_tool("get_note", {"key": key})
    assert b_answer.questions == []  # the answer from round 1 was enough
    assert done.structured_content == {"outcome": "done", "message": "Done.", "result": {"key": key, "size": 19}}
    assert gone.is_error

    wait_for(lambda: any(e["tool"] == "delete_note" for e in audit_lines(replicas.b)))
    b_deletes = [e for e in audit_lines(replicas.b) if e["tool"] == "delete_note"]
    assert [(e["outcome"], e["confirmation"]) for e in b_deletes] == [("ok", "accepted")]
    # The round that only asked wrote no audit line on A.
    assert [e for e in audit_lines(replicas.a) if e["tool"] == "delete_note"] == []


# Edges of /mcp as JSON-RPC errors --------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "headers", "status", "says"),
    [
        ("POST", {"Accept": "text/html"}, 406, "both application/json and text/event-stream"),
        ("PUT", {}, 405, "Method Not Allowed"),
        ("POST", {"Content-Type": "text/plain"}, 400, "Content-Type"),
    ],
)
def test_plain_text_edges_become_json_rpc_errors(
    servers: Servers, method: str, headers: dict[str, str], status: int, says: str
) -> None:
    body = json.dumps(call("echo", {"text": "edge"}))
    response = httpx2.request(method, servers.default.url, content=body, headers={**MCP_HEADERS, **headers}, timeout=10)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    reply = response.json()
    assert reply["jsonrpc"] == "2.0" and reply["id"] is None and reply["error"]["code"] == -32600
    assert says in reply["error"]["message"], reply


def test_a_body_with_a_lone_surrogate_is_answered_naming_the_argument(servers: Servers) -> None:
    arguments = '{"text": "a\\ud800"}'  # a lone surrogate escape, as raw JSON text
    body = (
        f'{{"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {{"name": "echo", "arguments": {arguments}}}}}'
    )
    response = httpx2.post(servers.default.url, content=body, headers=MCP_HEADERS, timeout=10)
    assert response.status_code == 200
    reply = response.json()
    assert reply["id"] == 5 and reply["result"]["isError"] is True
    assert reply["result"]["content"][0]["text"].startswith("Invalid argument 'text': is not valid Unicode text")
