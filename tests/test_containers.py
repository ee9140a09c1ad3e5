"""Container images: docker/Dockerfile builds each connector, and the image runs as documented.

With a working engine (podman, else docker; PATCHBAY_CONTAINER_ENGINE picks one):

1. the base image comes from tools/build-base-image.sh: $PATCHBAY_BASE_IMAGE, the official
   python:3.11-slim-bookworm when it is present or can be pulled, else a local Debian image made
   with debootstrap (about a minute the first time, then cached in the engine's store and as a
   tarball under ~/.cache/patchbay-tools);
2. the filesystem and PostgreSQL images are built from docker/Dockerfile on that base (the
   engine's layer cache makes a warm rebuild take seconds);
3. each image runs the way docker/compose.yaml runs it (read-only root, no capabilities,
   no-new-privileges, published on 127.0.0.1 only): /healthz answers, the image's HEALTHCHECK
   passes, the process runs as a non-root user, /mcp without a token (or a wrong one) is 401,
   and the MCP client with the bearer token lists the tools and calls a real one, in both
   protocol eras: filesystem reads a file from a read-only mount, postgres queries a table in a
   PostgreSQL server the test starts on the host (reached through slirp4netns's
   host-loopback address with podman);
4. without auth the default command exits 2 and says to set AUTH_TOKENS;
5. an image holds exactly the locked runtime dependencies of its connector (`uv export
   --no-dev`): no pytest, ruff, mypy, pip or uv, no sources or tests of ours, no /src.

Timings and image sizes are printed. Without podman or docker the tests skip, saying how to
install podman (tools/ensure-podman.sh); under CI=true the root conftest turns that into a failure.
The podman settings this kind of machine needs (design/TESTING.md: runtime runc, ulimits at most
20000, the host CA bundle in builds) are passed as flags, so no containers.conf is required.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from patchbay.testing import ERAS, free_port

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"
BASE_SCRIPT = ROOT / "tools" / "build-base-image.sh"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BUILT = ("filesystem", "postgres", "s3", "drive", "slack", "github")  # the connectors built and run here
CONTAINER_PORT = 8000
NON_ROOT_UID = 10001
DEV_ONLY = ("pytest", "pytest-timeout", "pytest-docker", "ruff", "mypy", "pip", "uv", "setuptools", "wheel")
TEST_LABEL = "io.patchbay.test=test_containers"

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

sys.path.insert(0, str(ROOT / "servers" / "postgres" / "tests"))
sys.path.insert(0, str(ROOT / "servers" / "slack" / "tests"))
from pgserver import PostgresServer, find_bin_dir, has_pg_stat_statements  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# Reporting --------------------------------------------------------------------------------


def report(config: pytest.Config, line: str) -> None:
    """Print past pytest's output capture, so timings and sizes show in `make test` too."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(line, flush=True)
        return
    with capture.global_and_fixture_disabled():
        sys.stdout.write(f"\ncontainers: {line}")
        sys.stdout.flush()


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


# The engine -------------------------------------------------------------------------------


@dataclass
class Engine:
    name: str  # podman or docker
    argv: list[str]  # the command with global flags, e.g. ["podman", "--runtime", "runc"]
    version: str
    run_flags: list[str] = field(default_factory=list)  # flags every `run` and `build` needs here

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120, **options: Any
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*self.argv, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **options
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"`{' '.join([*self.argv, *args])}` exited with {done.returncode}:\n{done.stdout[-4000:]}\n"
                f"{done.stderr[-4000:]}"
            )
        return done

    @property
    def podman(self) -> bool:
        return self.name == "podman"

    def env(self) -> dict[str, str]:
        """The environment for our tools/ scripts, naming this engine."""
        env = {**os.environ, "PATCHBAY_CONTAINER_ENGINE": self.name}
        if self.podman and "--runtime" in self.argv:
            env["PATCHBAY_PODMAN_RUNTIME"] = self.argv[self.argv.index("--runtime") + 1]
        return env


def _ulimit() -> int:
    """nofile/nproc for containers: at most 20000 and no more than this process may have."""
    limits = [20000]
    for kind in (resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC):
        hard = resource.getrlimit(kind)[1]
        if hard != resource.RLIM_INFINITY:
            limits.append(hard)
    return min(limits)


def _try(argv: Sequence[str]) -> str | None:
    """None if the command succeeds, else a short reason."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][:300]
    return None


def find_engine() -> Engine | str:
    """The engine to use, or why there is none."""
    wanted = os.environ.get("PATCHBAY_CONTAINER_ENGINE")
    reasons = []
    for name in ("podman", "docker"):
        if wanted and name != wanted:
            continue
        if shutil.which(name) is None:
            reasons.append(f"no {name}")
            continue
        if name == "podman":
            runtime = os.environ.get("PATCHBAY_PODMAN_RUNTIME") or (
                "runc" if shutil.which("runc") or Path("/usr/sbin/runc").exists() else ""
            )
            argv = ["podman", "--runtime", runtime] if runtime else ["podman"]
            limit = _ulimit()
            run_flags = ["--ulimit", f"nofile={limit}:{limit}", "--ulimit", f"nproc={limit}:{limit}"]
        else:
            argv, run_flags = ["docker"], []
        why = _try([*argv, "info"])
        if why is not None:
            reasons.append(f"`{name} info` fails: {why}")
            continue
        version = subprocess.run([*argv, "--version"], capture_output=True, text=True, check=False).stdout.strip()
        return Engine(name, argv, version, run_flags)
    return "; ".join(reasons)


@pytest.fixture(scope="module")
def engine() -> Engine:
    found = find_engine()
    if isinstance(found, str):
        pytest.skip(
            f"No container engine can run containers here ({found}). Install podman: "
            "`bash tools/ensure-podman.sh` (apt-get install podman buildah runc debootstrap), or run a Docker engine."
        )
    return found


# Images -----------------------------------------------------------------------------------


@dataclass
class Image:
    connector: str
    id: str
    tag: str
    seconds: float
    size: int


def member_version(connector: str) -> str:
    data = tomllib.loads((ROOT / "servers" / connector / "pyproject.toml").read_text())
    return str(data["project"]["version"])


def server_name(connector: str) -> str:
    return str(json.loads((ROOT / "servers" / connector / "server.json").read_text())["name"])


def image_size(engine: Engine, image: str) -> int:
    return int(engine("image", "inspect", "--format", "{{.Size}}", image).stdout.strip())


def build_image(engine: Engine, connector: str, base: str, scratch: Path) -> Image:
    iidfile = scratch / f"{connector}.iid"
    tag = f"localhost/patchbay-{connector}:test"
    flags = [
        "-f", str(DOCKERFILE),
        "--build-arg", f"BASE_IMAGE={base}",
        "--build-arg", f"CONNECTOR={connector}",
        "--build-arg", f"VERSION={member_version(connector)}",
        "--iidfile", str(iidfile),
        "-t", tag,
    ]  # fmt: skip
    if engine.podman:
        flags += ["--format", "docker", *engine.run_flags]  # the OCI format drops HEALTHCHECK
        if CA_BUNDLE.is_file():  # a TLS-intercepting proxy's CA, for pip and uv in the build
            flags += ["-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"]
    began = time.monotonic()
    engine("build", *flags, str(ROOT), timeout=1200)
    seconds = time.monotonic() - began
    image_id = iidfile.read_text().strip()
    return Image(connector, image_id, tag, seconds, image_size(engine, image_id))


@dataclass
class Images:
    base: str
    base_seconds: float
    base_size: int
    built: dict[str, Image]


@pytest.fixture(scope="module")
def images(engine: Engine, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Images:
    """The base image and the connector images, built once for the module."""
    began = time.monotonic()
    made = subprocess.run(
        ["bash", str(BASE_SCRIPT)], capture_output=True, text=True, timeout=1200, env=engine.env(), check=False
    )
    assert made.returncode == 0, f"tools/build-base-image.sh failed:\n{made.stderr[-6000:]}"
    base = made.stdout.strip().splitlines()[-1]
    base_seconds = time.monotonic() - began
    how = (
        "made with debootstrap" if "root file system ready" in made.stderr
        else "imported from the cached root file system" if "imported" in made.stderr
        else "pulled" if "pulled" in made.stderr
        else "already in the store"
    )  # fmt: skip
    base_size = image_size(engine, base)
    report(request.config, f"{engine.version}, argv {' '.join(engine.argv)}")
    report(request.config, f"base {base} ready in {base_seconds:.1f} s ({how}), {megabytes(base_size)}")

    scratch = tmp_path_factory.mktemp("images")
    built = {}
    for connector in BUILT:
        image = build_image(engine, connector, base, scratch)
        built[connector] = image
        short_id = image.id.removeprefix("sha256:")[:12]
        report(
            request.config,
            f"built {image.tag} ({short_id}) in {image.seconds:.1f} s: {megabytes(image.size)} "
            f"(base + {megabytes(image.size - base_size)})",
        )
    report(request.config, f"base and images ready in {time.monotonic() - began:.1f} s")
    return Images(base, base_seconds, base_size, built)


# Running containers ------------------------------------------------------------------------


@dataclass
class Running:
    id: str
    url: str  # http://127.0.0.1:PORT on the host
    engine: Engine

    def logs(self) -> str:
        done = self.engine("logs", self.id, check=False)
        return done.stdout + done.stderr

    def stop(self) -> float:
        """`stop` (SIGTERM, SIGKILL after 10 s): the connector must exit cleanly, well before the KILL."""
        began = time.monotonic()
        self.engine("stop", "-t", "10", self.id, timeout=60)
        seconds = time.monotonic() - began
        code = self.engine("inspect", "--format", "{{.State.ExitCode}}", self.id).stdout.strip()
        assert code == "0" and seconds < 8, f"exit code {code} after {seconds:.1f} s:\n{self.logs()}"
        return seconds


@contextmanager
def container(
    engine: Engine,
    image: str,
    *args: str,
    env: dict[str, str] | None = None,
    options: Sequence[str] = (),
) -> Iterator[Running]:
    """Run `image` detached, hardened as docker/compose.yaml runs it, on a random 127.0.0.1 port."""
    name = f"patchbay-test-{uuid.uuid4().hex[:12]}"
    argv = [
        "run", "-d", "--name", name, "--label", TEST_LABEL,
        "-p", f"127.0.0.1::{CONTAINER_PORT}",
        "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        *engine.run_flags,
    ]  # fmt: skip
    if not engine.podman:
        argv += ["--health-interval", "1s"]  # docker runs the first check only after one interval
    for key, value in (env or {}).items():
        argv += ["-e", f"{key}={value}"]
    engine(*argv, *options, image, *args)
    running: Running | None = None
    try:
        port_line = engine("port", name, f"{CONTAINER_PORT}/tcp").stdout.strip().splitlines()[0]
        running = Running(name, f"http://127.0.0.1:{port_line.rsplit(':', 1)[1]}", engine)
        wait_healthz(running)
        yield running
    finally:
        if running is not None:
            engine("stop", "-t", "10", name, check=False, timeout=60)
        engine("rm", "-f", name, check=False, timeout=60)


def wait_healthz(running: Running, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = running.engine("inspect", "--format", "{{.State.Status}}", running.id, check=False).stdout.strip()
        if state in ("exited", "dead", "stopped"):
            raise AssertionError(f"the container {state} before /healthz answered:\n{running.logs()}")
        try:
            if httpx2.get(f"{running.url}/healthz", timeout=2, trust_env=False).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"/healthz did not answer within {timeout} s:\n{running.logs()}")


def assert_healthcheck_passes(running: Running) -> None:
    """The image's own HEALTHCHECK (python -c urllib against /healthz) passes inside the container."""
    if running.engine.podman:
        done = running.engine("healthcheck", "run", running.id, check=False, timeout=60)
        assert done.returncode == 0, f"podman healthcheck run: {done.stdout}{done.stderr}\n{running.logs()}"
        return
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        status = running.engine("inspect", "--format", "{{.State.Health.Status}}", running.id).stdout.strip()
        if status == "healthy":
            return
        time.sleep(0.5)
    raise AssertionError(f"docker health status {status!r}:\n{running.logs()}")


def assert_non_root(running: Running) -> None:
    """PID 1, the connector itself, runs as the image's non-root user with no capabilities."""
    status = running.engine("exec", running.id, "cat", "/proc/1/status").stdout
    uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)", status, re.MULTILINE)
    assert uids is not None and uids.groups() == (str(NON_ROOT_UID), str(NON_ROOT_UID)), status
    assert re.search(r"^CapEff:\s+0+$", status, re.MULTILINE), status
    cmdline = running.engine("exec", running.id, "cat", "/proc/1/cmdline").stdout.replace("\0", " ")
    assert "patchbay-connector --transport http --host 0.0.0.0 --port 8000" in cmdline, cmdline


def assert_needs_token(running: Running, token: str) -> None:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    for extra in ({}, {"Authorization": f"Bearer {token}x"}, {"Authorization": f"Basic {token}"}):
        answer = httpx2.post(
            f"{running.url}/mcp", json=message, headers={**headers, **extra}, timeout=10, trust_env=False
        )
        assert answer.status_code == 401, (extra, answer.status_code, answer.text)


@asynccontextmanager
async def bearer_client(url: str, token: str, era: str) -> AsyncIterator[Client]:
    """An MCP client that sends `Authorization: Bearer <token>` on every request."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30, trust_env=False) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=era) as client,
    ):
        yield client


def text_of(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))


def new_token() -> str:
    return f"container-token-{uuid.uuid4().hex}"


# The tests ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_filesystem_container_serves_a_read_only_mount(
    engine: Engine, images: Images, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello.txt").write_text("hello from the host\n")
    data.chmod(0o755)  # pytest's tmp dirs are 0700; the container's user must get in
    token = new_token()
    secret = tmp_path / "tokens"
    secret.write_text(f"# bearer tokens, one a line\n{token}\n")  # as compose `secrets:` mounts it
    secret.chmod(0o444)
    began = time.monotonic()
    with container(
        engine,
        images.built["filesystem"].id,
        "/data",
        env={"PATCHBAY_FILESYSTEM_AUTH_TOKEN_FILE": "/run/secrets/patchbay_auth_tokens"},
        options=["-v", f"{data}:/data:ro", "-v", f"{secret}:/run/secrets/patchbay_auth_tokens:ro"],
    ) as running:
        started = time.monotonic() - began
        assert_healthcheck_passes(running)
        assert_non_root(running)
        assert_needs_token(running, token)
        for era in ERAS:
            async with bearer_client(running.url, token, era) as client:
                tools = {tool.name for tool in (await client.list_tools()).tools}
                assert {"read_text_file", "list_directory", "search_files"} <= tools, tools
                assert "write_file" not in tools  # read-only unless --allow-writes
                read = await client.call_tool("read_text_file", {"path": "/data/hello.txt"})
                assert not read.is_error, text_of(read)
                assert "hello from the host" in json.dumps(read.structured_content or text_of(read))
        # The mount itself is read-only (as compose mounts it), whatever the connector's settings.
        done = engine("exec", running.id, "sh", "-c", "touch /data/x", check=False)
        assert done.returncode != 0
        stopped = running.stop()
    report(request.config, f"filesystem container healthy in {started:.1f} s, stopped in {stopped:.1f} s")


@pytest.mark.anyio
async def test_postgres_container_queries_a_server_on_the_host(
    engine: Engine, images: Images, request: pytest.FixtureRequest
) -> None:
    bin_dir = find_bin_dir()
    if bin_dir is None or not has_pg_stat_statements(bin_dir):
        pytest.skip("No PostgreSQL server binaries with pg_stat_statements: run `bash tools/ensure-postgres.sh`")
    # podman: slirp4netns lets the container reach the host's loopback at 10.0.2.2, and the server
    # sees 127.0.0.1, which is all the test server listens on and trusts. docker (not tried here):
    # the bridge's gateway, let in by one more pg_hba line.
    with PostgresServer(bin_dir, settings=None if engine.podman else {"listen_addresses": "'*'"}) as server:
        if engine.podman:
            db_host, network = "10.0.2.2", ["--network", "slirp4netns:allow_host_loopback=true"]
        else:
            subnet = engine("network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Subnet}}")
            with (server.data_dir / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {subnet.stdout.strip()} scram-sha-256\n")
            server.execute("select pg_reload_conf()")
            db_host, network = "host.docker.internal", ["--add-host", "host.docker.internal:host-gateway"]
        server.execute("create table container_probe (answer int); insert into container_probe values (42)")
        token = new_token()
        began = time.monotonic()
        with container(
            engine,
            images.built["postgres"].id,
            env={
                "PATCHBAY_POSTGRES_DSN": server.dsn().replace("@127.0.0.1:", f"@{db_host}:"),
                "PATCHBAY_POSTGRES_AUTH_TOKENS": token,
            },
            options=network,
        ) as running:
            started = time.monotonic() - began
            assert_healthcheck_passes(running)
            assert_non_root(running)
            assert_needs_token(running, token)
            for era in ERAS:
                async with bearer_client(running.url, token, era) as client:
                    tools = {tool.name for tool in (await client.list_tools()).tools}
                    assert {"execute_sql", "list_schemas", "describe_object"} <= tools, tools
                    assert "execute_write" not in tools  # read-only unless --allow-writes
                    result = await client.call_tool("execute_sql", {"sql": "select answer from container_probe"})
                    assert not result.is_error, text_of(result)
                    assert result.structured_content is not None
                    assert result.structured_content["rows"] == [[42]], result.structured_content
                    refused = await client.call_tool("execute_sql", {"sql": "delete from container_probe"})
                    assert refused.is_error
            assert server.execute("select count(*) from container_probe") == [(1,)]
            stopped = running.stop()
            assert server.password not in running.logs()  # the DSN's password never reaches the logs
    report(request.config, f"postgres container healthy in {started:.1f} s, stopped in {stopped:.1f} s")


@pytest.mark.anyio
async def test_slack_container_reads_the_fake_slack_on_the_host(
    engine: Engine, images: Images, request: pytest.FixtureRequest
) -> None:
    from fake_slack import BOT_TOKEN, FakeSlack

    if not engine.podman:
        pytest.skip("The fake Slack listens on 127.0.0.1 only; the container reaches it through podman's slirp4netns")
    with FakeSlack() as fake:
        fake.add_message("C0GENERAL", "hello from the host")
        fake.add_message("C0SECRET", "not for the container")
        token = new_token()
        began = time.monotonic()
        with container(
            engine,
            images.built["slack"].id,
            env={
                "PATCHBAY_SLACK_BOT_TOKEN": BOT_TOKEN,
                "PATCHBAY_SLACK_API_URL": f"http://10.0.2.2:{fake.port}/api/",
                "PATCHBAY_SLACK_READ_CHANNELS": "#general",
                "PATCHBAY_SLACK_AUTH_TOKENS": token,
            },
            options=["--network", "slirp4netns:allow_host_loopback=true"],
        ) as running:
            started = time.monotonic() - began
            assert_healthcheck_passes(running)
            assert_non_root(running)
            assert_needs_token(running, token)
            for era in ERAS:
                async with bearer_client(running.url, token, era) as client:
                    tools = {tool.name for tool in (await client.list_tools()).tools}
                    assert {"get_channel_history", "search_messages", "list_channels"} <= tools, tools
                    assert "post_message" not in tools  # read-only unless --allow-writes
                    history = await client.call_tool("get_channel_history", {"channel": "#general"})
                    assert not history.is_error, text_of(history)
                    assert "hello from the host" in text_of(history)
                    refused = await client.call_tool("get_channel_history", {"channel": "C0SECRET"})
                    assert refused.is_error
            stopped = running.stop()
            assert BOT_TOKEN not in running.logs()  # the Slack token never reaches the logs
        assert {c["channel"] for c in fake.calls("conversations.history")} == {"C0GENERAL"}
    report(request.config, f"slack container healthy in {started:.1f} s, stopped in {stopped:.1f} s")


# The README's own steps ---------------------------------------------------------------------

README = ROOT / "README.md"
STEPS_MARKER = "<!-- container-steps:"


def readme_container_steps() -> str:
    """The shell block that follows the container-steps marker in README.md, as written there."""
    text = README.read_text()
    assert STEPS_MARKER in text, f"README.md lost its {STEPS_MARKER} marker: tests/test_containers.py runs that block"
    block = re.search(r"```sh\n(.*?)```", text[text.index(STEPS_MARKER) :], re.DOTALL)
    assert block is not None, "no ```sh block after the container-steps marker in README.md"
    return block.group(1)


def substitute(steps: str, old: str, new: str) -> str:
    """Replace what only this machine may change (a port, a name, the image): it must be there."""
    assert old in steps, f"README's container steps no longer contain {old!r}: update tests/test_containers.py"
    return steps.replace(old, new)


def docker_shim(engine: Engine) -> str:
    """A shell function `docker` that runs the engine with the flags this machine needs (and our test label)."""
    command = " ".join(["command", *map(shlex.quote, engine.argv)])
    extra = " ".join(map(shlex.quote, ["--label", TEST_LABEL, *engine.run_flags]))
    return f'docker() {{ if [ "$1" = run ]; then shift; set -- run {extra} "$@"; fi; {command} "$@"; }}\n'


def run_steps(engine: Engine, steps: str, cwd: Path, home: Path) -> None:
    """Run `steps` with bash (-euo pipefail) in `cwd`, HOME=`home`, `docker` being the engine."""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", docker_shim(engine) + steps],
        cwd=cwd, env={**os.environ, "HOME": str(home)}, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"README's container steps failed:\n{steps}\n{done.stdout}\n{done.stderr}"


@pytest.mark.anyio
async def test_the_readme_container_steps_work_as_written(engine: Engine, images: Images, tmp_path: Path) -> None:
    """README.md's container steps, run by bash as they are written (`docker` is the engine here): the
    token stays in a 0600 file of the user's, the non-root container serves, and it prints a host
    config that names the published port and the Authorization header."""
    home, work = tmp_path / "home", tmp_path / "work"
    (home / "notes").mkdir(parents=True)
    (home / "notes" / "todo.txt").write_text("water the plants\n")
    (home / "notes").chmod(0o755)
    work.mkdir()
    port, name = free_port(), f"patchbay-test-{uuid.uuid4().hex[:12]}"
    steps = substitute(readme_container_steps(), "127.0.0.1:8001", f"127.0.0.1:{port}")
    steps = substitute(steps, "--name patchbay-filesystem", f"--name {name}")
    steps = substitute(steps, "patchbay-filesystem /data", f"{images.built['filesystem'].id} /data")
    try:
        run_steps(engine, steps, work, home)
        running = Running(name, f"http://127.0.0.1:{port}", engine)
        wait_healthz(running)
        env_file = work / "patchbay.env"
        assert env_file.stat().st_mode & 0o777 == 0o600
        token = env_file.read_text().strip().split("=", 1)[1]
        assert_non_root(running)
        assert_needs_token(running, token)
        async with bearer_client(running.url, token, "legacy") as client:
            read = await client.call_tool("read_text_file", {"path": "/data/todo.txt"})
        assert "water the plants" in json.dumps(read.structured_content), text_of(read)
        config = next(line for line in running.logs().splitlines() if "to add it to an MCP host's config" in line)
        entry = json.loads(config.split("config: ", 1)[1])["mcpServers"]["patchbay-filesystem"]
        assert entry == {
            "type": "http",
            "url": f"http://127.0.0.1:{port}/mcp",
            "headers": {"Authorization": "Bearer <token>"},
        }
        assert token not in running.logs()
    finally:
        engine("rm", "-f", name, check=False, timeout=60)


REQUIRED_SETTINGS = {
    # Everything a connector needs except auth: directories for filesystem, a DSN for postgres.
    "filesystem": ([], ["/tmp"]),
    "postgres": (["-e", "PATCHBAY_POSTGRES_DSN=postgresql://u:p@192.0.2.1:5432/app"], []),
    "s3": (["-e", "PATCHBAY_S3_BUCKETS=example", "-e", "AWS_EC2_METADATA_DISABLED=true"], []),
    "drive": (["-e", "PATCHBAY_DRIVE_FOLDERS=0AbCdEf123"], []),
    "slack": (["-e", "PATCHBAY_SLACK_BOT_TOKEN=xoxb-container"], []),
    "github": (["-e", "PATCHBAY_GITHUB_REPOS=octo-org/app"], []),
}


@pytest.mark.parametrize("connector", BUILT)
def test_default_command_refuses_to_serve_without_auth(engine: Engine, images: Images, connector: str) -> None:
    options, args = REQUIRED_SETTINGS[connector]
    done = engine(
        "run", "--rm", "--label", TEST_LABEL, *engine.run_flags, *options, images.built[connector].id, *args,
        check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert f"PATCHBAY_{connector.upper()}_AUTH_TOKENS" in done.stderr, done.stderr
    assert "refusing to listen on 0.0.0.0 without authentication" in done.stderr, done.stderr


INSPECT_IMAGE = r"""
import importlib.metadata as md, json, os, shutil, sys
ours = {}
for package in ("patchbay", "patchbay_" + os.environ["CONNECTOR"]):
    module = __import__(package)
    top = os.path.dirname(module.__file__)
    ours[package] = {
        "dir": top,
        "test_files": sorted(
            os.path.relpath(os.path.join(d, f), top)
            for d, dirs, files in os.walk(top)
            for f in files + dirs
            if f in ("tests", "conftest.py") or (f.startswith("test_") and f.endswith(".py"))
        ),
    }
print(json.dumps({
    "prefix": sys.prefix,
    "python": sys.version.split()[0],
    "uid": os.getuid(),
    "dists": sorted({(d.metadata["Name"], d.version) for d in md.distributions()}),
    "ours": ours,
    "exists": {p: os.path.exists(p) for p in ("/src", "/opt/uv", "/app/.venv/bin/pip", "/root/.cache/uv")},
    "which": {tool: shutil.which(tool) for tool in ("uv", "pip", "pip3", "pytest", "ruff", "mypy", "curl")},
    "app": sorted(os.listdir("/app")),
}))
"""


def locked_runtime(connector: str) -> dict[str, str]:
    """name -> version of every third-party distribution uv.lock gives the connector without dev deps."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH (bash tools/ensure-uv.sh)")
    exported = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-header", "--no-annotate",
         "--no-emit-workspace", "--package", f"patchbay-{connector}"],
        capture_output=True, text=True, check=True, cwd=ROOT, timeout=120,
    ).stdout  # fmt: skip
    wanted: dict[str, str] = {}
    for line in exported.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            wanted[canonicalize_name(requirement.name)] = str(requirement.specifier).removeprefix("==")
    return wanted


@pytest.mark.parametrize("connector", BUILT)
def test_image_holds_only_the_connector_and_its_locked_runtime_dependencies(
    engine: Engine, images: Images, connector: str
) -> None:
    image = images.built[connector]
    done = engine(
        "run", "--rm", "--label", TEST_LABEL, *engine.run_flags, "-e", f"CONNECTOR={connector}",
        "--entrypoint", "/app/.venv/bin/python", image.id, "-c", INSPECT_IMAGE,
    )  # fmt: skip
    found = json.loads(done.stdout)
    assert found["prefix"] == "/app/.venv"
    assert found["uid"] == NON_ROOT_UID
    assert found["python"].startswith("3.11."), found["python"]
    installed = {canonicalize_name(name): version for name, version in found["dists"]}
    expected = {
        **locked_runtime(connector),
        "patchbay": str(tomllib.loads((ROOT / "shared" / "pyproject.toml").read_text())["project"]["version"]),
        f"patchbay-{connector}": member_version(connector),
    }
    assert installed == expected, {
        "extra": sorted(set(installed) - set(expected)),
        "missing": sorted(set(expected) - set(installed)),
        "version differs": sorted(n for n in set(installed) & set(expected) if installed[n] != expected[n]),
    }
    assert not set(DEV_ONLY) & set(installed)
    for package, where in found["ours"].items():
        assert where["dir"].startswith("/app/.venv/lib/"), (package, where)  # installed, not editable
        assert where["test_files"] == [], (package, where)
    assert found["exists"] == dict.fromkeys(found["exists"], False), found["exists"]
    assert found["which"] == dict.fromkeys(found["which"]), found["which"]
    assert found["app"] == [".venv"], found["app"]

    inspected = json.loads(engine("image", "inspect", image.id).stdout)[0]
    config = inspected["Config"]
    labels = config["Labels"]
    assert labels["io.modelcontextprotocol.server.name"] == server_name(connector)
    assert labels["org.opencontainers.image.version"] == member_version(connector)
    assert labels["org.opencontainers.image.title"] == f"patchbay-{connector}"
    assert config["User"] == f"{NON_ROOT_UID}:{NON_ROOT_UID}"
    assert f"{CONTAINER_PORT}/tcp" in config["ExposedPorts"]
    healthcheck = config.get("Healthcheck") or inspected.get("Healthcheck")  # docker; podman keeps it outside
    assert healthcheck is not None and healthcheck["Test"][0] == "CMD", inspected
    assert "http://127.0.0.1:8000/healthz" in " ".join(healthcheck["Test"]), healthcheck
    assert config["Entrypoint"] == [
        "/app/.venv/bin/patchbay-connector", "--transport", "http", "--host", "0.0.0.0", "--port", "8000",
    ]  # fmt: skip


def test_build_context_holds_only_what_the_build_needs(engine: Engine, images: Images, tmp_path: Path) -> None:
    """.dockerignore: the context is the workspace's pyproject.toml and uv.lock, and per member its
    pyproject.toml, README.md and src/ (no .git, .venv, caches, tests, bench or secrets)."""
    probe = tmp_path / "Dockerfile"
    probe.write_text(f"FROM {images.base}\nCOPY . /ctx\n")
    iidfile = tmp_path / "iid"
    engine("build", "-q", "-f", str(probe), "--iidfile", str(iidfile), *engine.run_flags, str(ROOT), timeout=300)
    image = iidfile.read_text().strip()
    try:
        listed = engine("run", "--rm", *engine.run_flags, image, "find", "/ctx", "-type", "f").stdout.split()
    finally:
        engine("rmi", image, check=False)
    files = sorted(path.removeprefix("/ctx/") for path in listed)
    members = ["shared", *(f"servers/{p.parent.name}" for p in (ROOT / "servers").glob("*/pyproject.toml"))]
    allowed = (
        "pyproject.toml",
        "uv.lock",
        *(f"{m}/{name}" for m in members for name in ("pyproject.toml", "README.md")),
    )
    strays = [f for f in files if f not in allowed and not any(f.startswith(f"{m}/src/") for m in members)]
    assert strays == [], strays
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc") or "/tests/" in f]
    for needed in ("pyproject.toml", "uv.lock", *(f"{m}/pyproject.toml" for m in members)):
        assert needed in files, needed
    assert any(f.startswith("shared/src/patchbay/") for f in files)


def test_compose_file_has_a_service_for_every_connector() -> None:
    """docker/compose.yaml builds every servers/<id> (a text check: no YAML parser in the dev group)."""
    compose = COMPOSE.read_text()
    connectors = sorted(p.parent.name for p in (ROOT / "servers").glob("*/pyproject.toml"))
    assert connectors, "no connectors found"
    for connector in connectors:
        assert re.search(rf"^  patchbay-{re.escape(connector)}:\n", compose, re.MULTILINE), f"no patchbay-{connector}"
        assert re.search(rf"^\s+CONNECTOR: {re.escape(connector)}$", compose, re.MULTILINE), connector
        assert f"PATCHBAY_{connector.upper()}_AUTH_TOKEN_FILE: /run/secrets/" in compose, connector
    # pytest-docker's test database (servers/postgres/tests/conftest.py) keeps its interface.
    for needle in (
        "${PATCHBAY_POSTGRES_PASSWORD:-patchbay}",
        '"127.0.0.1:${PATCHBAY_POSTGRES_PORT:-}:5432"',
        "POSTGRES_USER: patchbay",
        "POSTGRES_DB: app",
        "shared_preload_libraries=pg_stat_statements",
    ):
        assert needle in compose, needle
