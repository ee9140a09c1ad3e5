"""Fixtures: a real PostgreSQL server for the session, the anyio backend, the two protocol eras.

`postgres` comes from the first of these that is available:

1. PATCHBAY_TEST_POSTGRES_DSN: an outside server (a superuser's DSN, pg_stat_statements in
   shared_preload_libraries). The suite never stops it; restart() skips.
2. Local server binaries (tools/ensure-postgres.sh installs them): a cluster of our own in a
   temp dir on a free 127.0.0.1 port, run as the `postgres` user when we are root.
3. Docker: pytest-docker brings up docker/compose.yaml (needs a running engine, `docker compose`
   and the pytest-docker package).

With none of them the tests skip, saying how to provide one; under CI=true the root
conftest turns that skip into a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so tests can `from pgserver import ...`

from pgserver import (
    DATABASE,
    SUPERUSER,
    ExternalPostgres,
    PostgresServer,
    _uri,
    find_bin_dir,
    free_port,
    has_pg_stat_statements,
)

COMPOSE_FILE = Path(__file__).resolve().parents[3] / "docker" / "compose.yaml"

HOW_TO_PROVIDE = (
    "Provide one: install the server and its contrib modules (`bash tools/ensure-postgres.sh`, i.e. "
    "`apt-get install postgresql postgresql-contrib` on Debian), or set "
    "PATCHBAY_TEST_POSTGRES_DSN=postgresql://USER:PASSWORD@127.0.0.1:PORT/DB (a superuser, with "
    "pg_stat_statements in shared_preload_libraries), or run a Docker engine with `docker compose` "
    "and the pytest-docker package."
)

_summary: list[str] = []


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    """pytest-docker: our compose file (the plugin's default is tests/docker-compose.yml)."""
    return str(COMPOSE_FILE)


@pytest.fixture(scope="session")
def postgres(request: pytest.FixtureRequest) -> Iterator[PostgresServer | ExternalPostgres]:
    """A real PostgreSQL with pg_stat_statements: see the module docstring for where it comes from.

    `.dsn()` is the superuser `patchbay` on database `app`; `.dsn(user=..., password=...)` for
    other roles; `.create_role(...)`, `.execute(sql)`, `.restart()`, `.password` (a canary)."""
    dsn = os.environ.get("PATCHBAY_TEST_POSTGRES_DSN")
    if dsn:
        _summary.append("PostgreSQL for tests: PATCHBAY_TEST_POSTGRES_DSN")
        yield ExternalPostgres(dsn)
        return

    bin_dir = find_bin_dir()
    if bin_dir is not None and has_pg_stat_statements(bin_dir):
        with PostgresServer(bin_dir) as server:
            timings = ", ".join(f"{step} {seconds:.2f}" for step, seconds in server.timings.items())
            _summary.append(
                f"PostgreSQL for tests: {bin_dir} on 127.0.0.1:{server.port}, "
                f"ready in {server.startup_seconds:.2f} s ({timings})"
            )
            yield server
        return

    why_not_docker = _docker_unusable()
    if why_not_docker is None:
        yield from _docker_postgres(request)
        return

    found = (
        f"server binaries in {bin_dir} but no pg_stat_statements (postgresql-contrib)"
        if bin_dir is not None
        else "no server binaries (initdb, pg_ctl, postgres)"
    )
    pytest.skip(f"No PostgreSQL to test against: {found}; Docker: {why_not_docker}. {HOW_TO_PROVIDE}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _summary:
        terminalreporter.write_line(line)


def _docker_unusable() -> str | None:
    """None if pytest-docker can bring up docker/compose.yaml here, else why not."""
    if shutil.which("docker") is None:
        return "no docker CLI"
    for argv, what in ((["docker", "info"], "no engine answers `docker info`"),
                       (["docker", "compose", "version"], "no `docker compose` plugin")):  # fmt: skip
        try:
            subprocess.run(argv, capture_output=True, timeout=20, check=True)
        except (OSError, subprocess.SubprocessError):
            return what
    if importlib.util.find_spec("pytest_docker") is None:
        return "the pytest-docker package is not installed"
    return None


def _docker_postgres(request: pytest.FixtureRequest) -> Iterator[ExternalPostgres]:
    """docker/compose.yaml's `postgres` service through pytest-docker, on a free 127.0.0.1 port."""
    port = free_port()
    password = f"canary-pw-{os.urandom(12).hex()}"
    saved = {key: os.environ.get(key) for key in ("PATCHBAY_POSTGRES_PORT", "PATCHBAY_POSTGRES_PASSWORD")}
    os.environ["PATCHBAY_POSTGRES_PORT"] = str(port)  # read by compose.yaml when pytest-docker runs `up`
    os.environ["PATCHBAY_POSTGRES_PASSWORD"] = password
    try:
        request.getfixturevalue("docker_services")  # `docker compose up --build --wait`; `down -v` at session end
        compose = [
            *str(request.getfixturevalue("docker_compose_command")).split(),
            "-f",
            str(COMPOSE_FILE),
            "-p",
            str(request.getfixturevalue("docker_compose_project_name")),
        ]

        def restart() -> None:
            subprocess.run([*compose, "restart", "-t", "10", "postgres"], capture_output=True, check=True, timeout=120)

        server = ExternalPostgres(
            _uri("127.0.0.1", port, DATABASE, SUPERUSER, password), restart_hook=restart, prepare=False
        )
        server.wait_ready()
        server.prepare(template=True)  # our own container: template1 too
        _summary.append(f"PostgreSQL for tests: docker compose ({COMPOSE_FILE}) on 127.0.0.1:{port}")
        yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
