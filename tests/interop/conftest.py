"""Fixtures of the interop suite: independent MCP clients against every connector.

Two clients that share no code with ours: the MCP Inspector CLI (npm
`@modelcontextprotocol/inspector`) and a script on the MCP TypeScript SDK (`client.ts`).
`tools/ensure-interop.sh` installs both, with Node 22, pinned, into a cache folder.

Each connector is reached three ways: over stdio (each client run starts its own server
process), and over Streamable HTTP stateless and `--stateful` (one server process per
mode, shared by the module's tests). The PostgreSQL server is the one the postgres
connector's own tests use (servers/postgres/tests/conftest.py), with a fresh database.

Without npm the suite skips, saying how to install; under CI=true that is a failure.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # so the tests can `from mcp_clients import ...`

from mcp_clients import TRANSPORTS, Clients, Servers, Target, unavailable  # noqa: E402

REPO = HERE.parents[1]
ENSURE = REPO / "tools" / "ensure-interop.sh"
POSTGRES_TESTS = REPO / "servers" / "postgres" / "tests"
INSTALL_TIMEOUT = 900.0


def _load_postgres_fixtures() -> Any:
    """servers/postgres/tests/conftest.py as a module of its own, for its `postgres` fixture."""
    spec = importlib.util.spec_from_file_location("patchbay_postgres_test_fixtures", POSTGRES_TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # it puts its folder on sys.path, so `dbs` imports too
    return module


postgres = _load_postgres_fixtures().postgres
"""A real PostgreSQL for the session (see servers/postgres/tests/conftest.py)."""


@pytest.fixture(scope="session")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Clients:
    """The Inspector CLI and the TypeScript SDK client, installed on first use."""
    try:
        done = subprocess.run(
            ["bash", str(ENSURE)], stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=INSTALL_TIMEOUT, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        unavailable(f"tools/ensure-interop.sh did not finish within {INSTALL_TIMEOUT:.0f} s.")
    if done.returncode != 0:
        unavailable(f"tools/ensure-interop.sh failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    folder = Path(done.stdout.strip().splitlines()[-1])
    scratch = tmp_path_factory.mktemp("interop-home")
    # ESM resolves packages from the script's own folder up: put the script beside the SDK's node_modules.
    (scratch / "client.ts").write_text((HERE / "client.ts").read_text())
    (scratch / "node_modules").symlink_to(folder / "node_modules")
    return Clients(folder, scratch)


@pytest.fixture(params=TRANSPORTS)
def target(request: pytest.FixtureRequest, servers: Servers) -> Target:
    """The module's connector (its `servers` fixture) reached over each transport in turn."""
    return servers.target(str(request.param))
