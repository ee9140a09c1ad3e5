"""Packaging: every connector installs and starts the ways the README promises.

For each connector found as `servers/<id>/pyproject.toml`:

- `uvx --from ./servers/<id> patchbay-<id> --help` works from an unrelated working
  directory with a clean uv cache, and the shared base comes from this workspace;
- `uvx --from 'git+file://<repo>#subdirectory=servers/<id>' patchbay-<id> --help` works,
  with the shared base built from the same commit;
- an edit to the connector's source shows on the next `uvx --from ./servers/<id>` run
  (the members' `[tool.uv] cache-keys`), and so does an edit to the shared base;
- `uv build --all-packages` builds a wheel for the base and every connector, each connector
  names the base with a version range, and the connector wheel plus the base wheel install
  with plain pip into a fresh virtual environment where the console script starts;
- `patchbay` run from git writes entries that take the connector from the same commit;
- publication rehearsed: every wheel and sdist has complete PyPI metadata and passes
  `twine check --strict`; served from a PEP 503 index on 127.0.0.1 (the first index, so
  no patchbay* package can come from PyPI; the request log proves where each came from),
  `uvx patchbay-<id>` runs by name and lists its tools over stdio, and a `patchbay`
  installed from that index writes `--source pypi` entries that install and doctor start.

The git and edit tests work on a snapshot of the working tree (tracked and untracked,
non-ignored files, committed into a temporary repository), so they test what is on disk
(on a CI clone that is HEAD) and never touch the repository itself. Everything uses one
temporary UV_CACHE_DIR per module: clean relative to the user's cache, shared between the
tests so dependencies download once.

Needs uv, git and a package index (PyPI); skipped locally when one is missing, failed
under CI=true (see the root conftest.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parents[1]
COMMAND_TIMEOUT = 600  # seconds for any single uv/pip/git command


@dataclass(frozen=True)
class Member:
    directory: Path  # relative to the repository root
    name: str
    version: str
    scripts: dict[str, str]
    dependencies: tuple[str, ...]


def _member(directory: Path) -> Member:
    project = tomllib.loads((REPO / directory / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return Member(
        directory=directory,
        name=project["name"],
        version=project["version"],
        scripts=dict(project.get("scripts", {})),
        dependencies=tuple(project.get("dependencies", ())),
    )


BASE = _member(Path("shared"))
CONNECTORS = {
    path.parent.name: _member(path.parent.relative_to(REPO)) for path in sorted(REPO.glob("servers/*/pyproject.toml"))
}
CONNECTOR_IDS = sorted(CONNECTORS)


def _script(connector_id: str) -> str:
    return f"patchbay-{connector_id}"


def _entry_module(connector_id: str) -> Path:
    """The source file of the console script's module (e.g. `src/patchbay_x/__main__.py`)."""
    member = CONNECTORS[connector_id]
    module = member.scripts[_script(connector_id)].partition(":")[0]
    return Path("src", *module.split(".")).with_suffix(".py")


# ---------------------------------------------------------------------------- helpers


def _run(command: Sequence[str | Path], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(map(str, command))}` (in {cwd}) exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}",
            pytrace=False,
        )
    return result


# What `uv run` or the developer's shell sets that would point uv or Python at another
# project, environment or cache.
_SCRUBBED = {
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "UV_PROJECT_ENVIRONMENT",
    "UV_PROJECT",
    "UV_WORKING_DIRECTORY",
    "UV_NO_CACHE",
    "UV_OFFLINE",
    "UV_FROZEN",
    "UV_LOCKED",
    "UV_NO_SYNC",
    "UV_RUN_RECURSION_DEPTH",
    "PIP_REQUIRE_VIRTUALENV",
}


def _index_url() -> str:
    for variable in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if os.environ.get(variable):
            return os.environ[variable]
    return "https://pypi.org/simple/"


def _index_reachable(url: str) -> str | None:
    """None when the package index answers, else why not."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/pip/", timeout=15) as response:
            response.read(1)
    except Exception as exc:  # any failure means: no index, skip
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass(frozen=True)
class Tools:
    uv: str
    uvx: list[str]
    git: str
    env: dict[str, str] = field(repr=False)  # scrubbed, with the module's clean UV_CACHE_DIR; never in reports
    cwd: Path  # an unrelated working directory


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Tools:
    uv = shutil.which("uv") or os.environ.get("UV")
    if not uv or not Path(uv).exists():
        pytest.skip("uv is not installed (see tools/ensure-uv.sh, or `make uv`)")
    uvx_path = shutil.which("uvx") or shutil.which("uvx", path=str(Path(uv).parent))
    uvx = [uvx_path] if uvx_path else [uv, "tool", "run"]
    git = shutil.which("git")
    if not git:
        pytest.skip("git is not installed")
    index = _index_url()
    problem = _index_reachable(index)
    if problem is not None:
        pytest.skip(f"the package index {index} is unreachable ({problem}); these tests install from it")
    root = tmp_path_factory.mktemp("packaging")
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED}
    env["UV_CACHE_DIR"] = str(root / "uv-cache")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    cwd = root / "elsewhere"
    cwd.mkdir()
    return Tools(uv=uv, uvx=uvx, git=git, env=env, cwd=cwd)


def _working_tree_files() -> list[str]:
    """Tracked and untracked, non-ignored files of the repository that exist on disk."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=COMMAND_TIMEOUT,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (REPO / name).is_file()})


def _copy_working_tree(destination: Path, files: Sequence[str]) -> None:
    for name in files:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target, follow_symlinks=False)


@dataclass(frozen=True)
class Snapshot:
    path: Path
    commit: str
    files: tuple[str, ...] = field(repr=False)


@pytest.fixture(scope="module")
def snapshot(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """The working tree committed into a temporary git repository."""
    if not (REPO / ".git").exists():
        pytest.skip(f"{REPO} is not a git checkout")
    files = _working_tree_files()
    path = tmp_path_factory.mktemp("snapshot") / "repo"
    path.mkdir()
    _copy_working_tree(path, files)
    git = [tools.git, "-c", "init.defaultBranch=main", "-c", "user.name=patchbay-tests"]
    git += ["-c", "user.email=tests@patchbay.invalid", "-c", "commit.gpgsign=false"]
    _run([*git, "init", "-q"], cwd=path, env=tools.env)
    _run([*git, "add", "-A"], cwd=path, env=tools.env)
    _run([*git, "commit", "-q", "--no-verify", "-m", "working tree snapshot"], cwd=path, env=tools.env)
    commit = _run([*git, "rev-parse", "HEAD"], cwd=path, env=tools.env).stdout.strip()
    return Snapshot(path=path, commit=commit, files=tuple(files))


_DIRECT_URLS = (
    "import importlib.metadata as m, json, sys\n"
    "print(json.dumps({n: json.loads(m.distribution(n).read_text('direct_url.json') or 'null') for n in sys.argv[1:]}))"
)


def _direct_urls(tools: Tools, source: str, *names: str) -> dict[str, dict[str, object]]:
    """PEP 610 origins of `names` as installed in the environment `uvx --from source` runs in."""
    result = _run([*tools.uvx, "--from", source, "python", "-c", _DIRECT_URLS, *names], cwd=tools.cwd, env=tools.env)
    urls: dict[str, dict[str, object]] = json.loads(result.stdout.strip().splitlines()[-1])
    return urls


def _check_help(result: subprocess.CompletedProcess[str], connector_id: str) -> None:
    assert result.stdout.startswith(f"usage: {_script(connector_id)}"), result.stdout


# ---------------------------------------------------------------------------- tests


def test_connectors_are_discovered() -> None:
    assert CONNECTOR_IDS, "no servers/*/pyproject.toml found"
    for connector_id, member in CONNECTORS.items():
        assert member.name == f"patchbay-{connector_id}", f"servers/{connector_id}: distribution is {member.name}"
        assert _script(connector_id) in member.scripts, f"servers/{connector_id}: no `{_script(connector_id)}` script"
        assert (REPO / member.directory / _entry_module(connector_id)).is_file()


# ------------------------------------------------------------------- wheels


@dataclass(frozen=True)
class Wheels:
    directory: Path
    by_name: dict[str, Path]  # canonical distribution name -> wheel


@pytest.fixture(scope="module")
def wheels(tools: Tools, snapshot: Snapshot, tmp_path_factory: pytest.TempPathFactory) -> Wheels:
    """`uv build --all-packages` of the snapshot (so nothing is written into the repository)."""
    out = tmp_path_factory.mktemp("dist")
    _run([tools.uv, "build", "--all-packages", "--out-dir", out], cwd=snapshot.path, env=tools.env)
    by_name: dict[str, Path] = {}
    for wheel in sorted(out.glob("*.whl")):
        name = canonicalize_name(wheel.name.split("-")[0])
        assert name not in by_name, f"two wheels for {name}: {by_name[name].name}, {wheel.name}"
        by_name[name] = wheel
    return Wheels(directory=out, by_name=by_name)


def _metadata(wheel: Path) -> list[tuple[str, str]]:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(name).decode()
    headers = text.split("\n\n", 1)[0]
    return [(key, value.strip()) for key, _, value in (line.partition(":") for line in headers.splitlines()) if value]


def test_build_all_packages(wheels: Wheels, pip_venvs: dict[str, Future[Path]]) -> None:
    # Requesting `pip_venvs` here starts the pip installs in the background while the uvx tests run;
    # test_pip_installs_wheels, last in the module, collects them.
    expected = {canonicalize_name(BASE.name)} | {canonicalize_name(m.name) for m in CONNECTORS.values()}
    assert expected <= set(wheels.by_name), f"built {sorted(wheels.by_name)}, expected {sorted(expected)}"
    base_metadata = dict(_metadata(wheels.by_name[canonicalize_name(BASE.name)]))
    assert base_metadata["Version"] == BASE.version


@pytest.mark.parametrize("connector_id", CONNECTOR_IDS)
def test_connector_wheel_pins_base_range(wheels: Wheels, connector_id: str) -> None:
    member = CONNECTORS[connector_id]
    metadata = _metadata(wheels.by_name[canonicalize_name(member.name)])
    assert dict(metadata)["Version"] == member.version
    requirements = [Requirement(value) for key, value in metadata if key == "Requires-Dist"]
    [base] = [r for r in requirements if canonicalize_name(r.name) == canonicalize_name(BASE.name)]
    operators = {spec.operator for spec in base.specifier}
    assert operators & {">=", ">", "~="} and operators & {"<", "<=", "~="}, (
        f"{member.name} wheel requires `{base}`: declare a range with a lower and an upper bound"
    )
    assert Version(BASE.version) in base.specifier, f"`{base}` excludes this base, {BASE.version}"
    [declared] = [
        Requirement(d)
        for d in member.dependencies
        if canonicalize_name(Requirement(d).name) == canonicalize_name(BASE.name)
    ]
    assert base.specifier == declared.specifier


@pytest.fixture(scope="module")
def pip_venvs(
    tools: Tools, wheels: Wheels, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[Path]]]:
    """Per connector, a fresh venv with only its wheel and the base wheel installed by plain pip.

    Built concurrently: pip's downloads dominate the module's runtime.
    """
    root = tmp_path_factory.mktemp("venvs")

    def install(connector_id: str) -> Path:
        venv = root / connector_id
        _run([sys.executable, "-m", "venv", venv], cwd=tools.cwd, env=tools.env)
        connector_wheel = wheels.by_name[canonicalize_name(CONNECTORS[connector_id].name)]
        base_wheel = wheels.by_name[canonicalize_name(BASE.name)]
        python = venv / "bin" / "python"
        _run([python, "-m", "pip", "install", "-q", base_wheel, connector_wheel], cwd=tools.cwd, env=tools.env)
        return venv

    with ThreadPoolExecutor(max_workers=len(CONNECTOR_IDS) or 1) as pool:
        futures = {connector_id: pool.submit(install, connector_id) for connector_id in CONNECTOR_IDS}
        # A failed install is reported by the test of that connector, not here.
        yield futures


# ---------------------------------------------------------------------------- uvx


@pytest.mark.parametrize("connector_id", CONNECTOR_IDS)
def test_uvx_from_path(tools: Tools, connector_id: str) -> None:
    """`uvx --from ./servers/<id>`, given as a relative path from an unrelated directory."""
    member = CONNECTORS[connector_id]
    source = str(REPO / member.directory)
    with contextlib.suppress(ValueError):  # on another drive, keep it absolute
        source = os.path.relpath(source, tools.cwd)
    _check_help(
        _run([*tools.uvx, "--from", source, _script(connector_id), "--help"], cwd=tools.cwd, env=tools.env),
        connector_id,
    )
    version = _run([*tools.uvx, "--from", source, _script(connector_id), "--version"], cwd=tools.cwd, env=tools.env)
    assert version.stdout.strip() == f"{_script(connector_id)} {member.version}"
    # The base is this workspace's `shared/`, not something of the same name from the index.
    urls = _direct_urls(tools, source, BASE.name, member.name)
    assert urls[BASE.name]["url"] == (REPO / BASE.directory).as_uri(), urls
    assert urls[member.name]["url"] == (REPO / member.directory).as_uri(), urls


@pytest.mark.parametrize("connector_id", CONNECTOR_IDS)
def test_uvx_from_git(tools: Tools, snapshot: Snapshot, connector_id: str) -> None:
    member = CONNECTORS[connector_id]
    source = f"git+{snapshot.path.as_uri()}#subdirectory={member.directory.as_posix()}"
    _check_help(
        _run([*tools.uvx, "--from", source, _script(connector_id), "--help"], cwd=tools.cwd, env=tools.env),
        connector_id,
    )
    # Both the connector and the base were built from the same commit of the same repository.
    urls = _direct_urls(tools, source, BASE.name, member.name)
    for name, directory in ((BASE.name, BASE.directory), (member.name, member.directory)):
        origin = urls[name]
        assert origin["url"] == snapshot.path.as_uri(), urls
        assert origin["vcs_info"] == {"vcs": "git", "commit_id": snapshot.commit}, urls
        assert origin["subdirectory"] == directory.as_posix(), urls


@pytest.mark.parametrize("connector_id", CONNECTOR_IDS)
def test_uvx_from_path_picks_up_edits(tools: Tools, snapshot: Snapshot, tmp_path: Path, connector_id: str) -> None:
    """No stale build: the next `uvx --from ./servers/<id>` runs the edited connector and base."""
    member = CONNECTORS[connector_id]
    copy = tmp_path / "repo"
    _copy_working_tree(copy, snapshot.files)
    source = str(copy / member.directory)
    command = [*tools.uvx, "--from", source, _script(connector_id), "--help"]

    def run() -> subprocess.CompletedProcess[str]:
        result = _run(command, cwd=tools.cwd, env=tools.env)
        _check_help(result, connector_id)
        return result

    connector_marker = f"EDITED-CONNECTOR-{connector_id}-{tmp_path.name}"
    base_marker = f"EDITED-BASE-{connector_id}-{tmp_path.name}"
    before = run()
    assert connector_marker not in before.stderr
    assert base_marker not in before.stderr

    # Code appended to the console script's module runs when the script imports it.
    entry = copy / member.directory / _entry_module(connector_id)
    with entry.open("a", encoding="utf-8") as file:
        file.write(f"\nimport sys as _sys\n\n_sys.stderr.write({connector_marker!r} + '\\n')\n")
    after = run()
    assert connector_marker in after.stderr, f"stale build served after editing {entry}:\n{after.stderr}"

    # Same for the shared base: a new module imported from its package's __init__.
    package = copy / BASE.directory / "src" / BASE.name.replace("-", "_")
    (package / "_edited_marker.py").write_text(f"import sys\n\nsys.stderr.write({base_marker!r} + '\\n')\n")
    with (package / "__init__.py").open("a", encoding="utf-8") as file:
        file.write("\nfrom . import _edited_marker  # noqa: F401\n")
    edited = run()
    assert base_marker in edited.stderr, f"stale base served after editing {package}:\n{edited.stderr}"
    assert connector_marker in edited.stderr


def test_patchbay_from_git_writes_entries_from_the_same_commit(
    tools: Tools, snapshot: Snapshot, tmp_path: Path
) -> None:
    """`patchbay` installed from git defaults `--source` to that repository at that commit, and the entry starts."""
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    patchbay = [*tools.uvx, "--from", f"git+{snapshot.path.as_uri()}#subdirectory=shared", "patchbay"]
    env = tools.env | {"HOME": str(home)}
    result = _run([*patchbay, "install", "filesystem", tmp_path, "--client", "cursor"], cwd=project, env=env)
    assert "filesystem: starts (" in result.stdout, result.stdout
    entry = json.loads((home / ".cursor" / "mcp.json").read_text())["mcpServers"]["filesystem"]
    source = f"git+{snapshot.path.as_uri()}@{snapshot.commit}#subdirectory=servers/filesystem"
    assert entry["args"] == ["--from", source, "patchbay-filesystem", str(tmp_path)]


# ---------------------------------------------------------------- publication rehearsal


def _long_description(wheel: Path) -> tuple[dict[str, list[str]], str]:
    """The wheel's METADATA headers (each name to all its values) and its body (the long description)."""
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(name).decode()
    headers: dict[str, list[str]] = {}
    for key, value in _metadata(wheel):
        headers.setdefault(key, []).append(value)
    return headers, text.split("\n\n", 1)[1] if "\n\n" in text else ""


MEMBERS = [BASE, *CONNECTORS.values()]


@pytest.mark.parametrize("member", MEMBERS, ids=[m.name for m in MEMBERS])
def test_metadata_is_complete_for_pypi(wheels: Wheels, member: Member) -> None:
    headers, body = _long_description(wheels.by_name[canonicalize_name(member.name)])
    for key in ("Summary", "License-Expression", "License-File", "Author", "Keywords", "Requires-Python"):
        assert headers.get(key), f"{member.name}: no {key} in the wheel's metadata"
    assert headers["License-Expression"] == ["MIT"]
    urls = dict(url.split(", ", 1) for url in headers.get("Project-URL", []))
    assert {"Homepage", "Repository", "Issues", "Documentation"} <= set(urls), urls
    assert all(url.startswith("https://") for url in urls.values()), urls
    classifiers = headers.get("Classifier", [])
    assert "Programming Language :: Python :: 3" in classifiers
    assert any(c.startswith("Development Status ::") for c in classifiers), classifiers
    assert headers["Description-Content-Type"] == ["text/markdown"]
    readme = (REPO / member.directory / "README.md").read_text(encoding="utf-8")
    assert body.strip() == readme.strip(), f"{member.name}: the long description is not its README"
    if member is not BASE:  # the official MCP registry checks this line in the PyPI README
        registry_name = json.loads((REPO / member.directory / "server.json").read_text())["name"]
        assert f"<!-- mcp-name: {registry_name} -->" in body


def test_every_dist_passes_twine_check(tools: Tools, wheels: Wheels) -> None:
    dists = sorted(wheels.directory.glob("*.whl")) + sorted(wheels.directory.glob("*.tar.gz"))
    sdists = {canonicalize_name(d.name.rsplit("-", 1)[0]) for d in dists if d.name.endswith(".tar.gz")}
    assert sdists == {canonicalize_name(m.name) for m in MEMBERS}, f"sdists built: {sorted(sdists)}"
    result = _run([sys.executable, "-m", "twine", "check", "--strict", *dists], cwd=tools.cwd, env=tools.env)
    assert result.stdout.count("PASSED") == len(dists), result.stdout


@dataclass(frozen=True)
class Index:
    url: str
    """The local index's simple API, e.g. http://127.0.0.1:PORT/simple/."""
    requests: list[str] = field(repr=False)
    """The paths it served, in order."""
    env: dict[str, str] = field(repr=False)
    """The tools' environment for uv with this index: first-index, no other extra index."""

    def served(self, dist: Path) -> bool:
        return f"/files/{dist.name}" in self.requests


def _write_simple_index(root: Path, dists: Sequence[Path]) -> None:
    """A PEP 503 index of `dists`: /simple/<project>/ pages linking to /files/<file>#sha256=..."""
    files = root / "files"
    files.mkdir(parents=True)
    projects: dict[str, list[str]] = {}
    for dist in dists:
        shutil.copy2(dist, files / dist.name)
        digest = hashlib.sha256(dist.read_bytes()).hexdigest()
        project = canonicalize_name(dist.name.removesuffix(".tar.gz").rsplit("-", 1)[0].split("-")[0])
        projects.setdefault(project, []).append(f'<a href="/files/{dist.name}#sha256={digest}">{dist.name}</a><br>')
    for project, links in projects.items():
        page = root / "simple" / project / "index.html"
        page.parent.mkdir(parents=True)
        page.write_text("<!DOCTYPE html>\n<html><body>\n" + "\n".join(links) + "\n</body></html>\n")
    listing = "\n".join(f'<a href="/simple/{p}/">{p}</a><br>' for p in sorted(projects))
    (root / "simple" / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{listing}\n</body></html>\n")


@pytest.fixture(scope="module")
def index(tools: Tools, wheels: Wheels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    """Every built wheel and sdist, served as a package index by a stdlib HTTP server on 127.0.0.1."""
    root = tmp_path_factory.mktemp("index")
    _write_simple_index(root, sorted(wheels.directory.glob("*.whl")) + sorted(wheels.directory.glob("*.tar.gz")))
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        wbufsize = -1  # no Nagle stalls on keep-alive (see TESTING.md)

        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def do_GET(self) -> None:
            requests.append(self.path.split("?")[0])
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
    # The local index is named first on every command line (`--index`); with uv's default first-index
    # strategy a package it holds (every patchbay*) is never taken from another index, and everything
    # else (mcp, pydantic, psycopg, ...) comes from the default index (PyPI).
    env = {k: v for k, v in tools.env.items() if k not in ("UV_INDEX", "UV_EXTRA_INDEX_URL", "PIP_EXTRA_INDEX_URL")}
    env["UV_INDEX_STRATEGY"] = "first-index"
    try:
        yield Index(url=url, requests=requests, env=env)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _tool_names(connector_id: str) -> set[str]:
    from patchbay import catalog

    meta = catalog.entries(catalog.load())[connector_id]["_meta"][catalog.META_KEY]
    return {tool["name"] for tool in meta["tools"]["read_only"]}


def _launch_arguments(connector_id: str, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """What a connector needs on its command line and in its environment to start here."""
    if connector_id == "filesystem":
        return [str(tmp_path)], {}
    if connector_id == "postgres":  # no server on that port: it starts, warns, and still lists its tools
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return [], {"PATCHBAY_POSTGRES_DSN": f"postgresql://app@127.0.0.1:{port}/app"}
    if connector_id == "s3":  # boto3 is not even imported before the first call: no store needed to list tools
        return ["--buckets", "example", "--endpoint-url", "http://127.0.0.1:9"], {"AWS_EC2_METADATA_DISABLED": "true"}
    if connector_id == "drive":  # no credentials needed to list tools; no token file of the developer's read
        return ["--folders", "0AbCdEf123"], {"PATCHBAY_DRIVE_TOKEN_FILE": str(tmp_path / "no-token.json")}
    if connector_id == "slack":  # a token, and an API URL nobody answers: Slack is first asked at a tool call
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return [], {
            "PATCHBAY_SLACK_BOT_TOKEN": "xoxb-packaging",
            "PATCHBAY_SLACK_API_URL": f"http://127.0.0.1:{port}/api/",
        }
    if connector_id == "github":  # nothing listens there: the scope check fails, it warns and lists every tool
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return ["--toolsets", "all", "--repos", "octo-org/app"], {
            "PATCHBAY_GITHUB_API_URL": f"http://127.0.0.1:{port}",
            "PATCHBAY_GITHUB_TOKEN": "ghp_packaging_test",
        }
    return [], {}


async def _list_tools(command: str, args: list[str], env: dict[str, str], cwd: Path) -> set[str]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    with anyio.fail_after(COMMAND_TIMEOUT):
        async with Client(StdioServerParameters(command=command, args=args, env=env, cwd=str(cwd))) as client:
            return {tool.name for tool in (await client.list_tools()).tools}


@pytest.mark.parametrize("connector_id", CONNECTOR_IDS)
def test_uvx_by_name_from_the_local_index(
    tools: Tools, wheels: Wheels, index: Index, tmp_path: Path, connector_id: str
) -> None:
    """`uvx patchbay-<id>` as the README promises once published: by name, no version, no path."""
    member = CONNECTORS[connector_id]
    uvx = [*tools.uvx, "--index", index.url]
    version = _run([*uvx, _script(connector_id), "--version"], cwd=tools.cwd, env=index.env)
    assert version.stdout.strip() == f"{_script(connector_id)} {member.version}"
    for name in (member.name, BASE.name):
        assert index.served(wheels.by_name[canonicalize_name(name)]), f"{name} did not come from the local index"
    args, extra = _launch_arguments(connector_id, tmp_path)
    command, *rest = uvx
    listed = anyio.run(_list_tools, command, [*rest, _script(connector_id), *args], index.env | extra, tools.cwd)
    assert listed == _tool_names(connector_id)


def test_install_from_the_index_writes_an_entry_that_doctor_starts(
    tools: Tools, wheels: Wheels, index: Index, tmp_path: Path
) -> None:
    """A `patchbay` installed from an index writes `--source pypi` entries by default, and they start."""
    project, home, notes = tmp_path / "project", tmp_path / "home", tmp_path / "notes"
    for folder in (project, home, notes):
        folder.mkdir()
    patchbay = [*tools.uvx, "--index", index.url, "--from", f"{BASE.name}=={BASE.version}", "patchbay"]
    env = index.env | {"HOME": str(home)}
    env.pop("PATCHBAY_POSTGRES_DSN", None)
    scope = ["--client", "claude-code", "--scope", "project", "--index", index.url]
    installed = _run([*patchbay, "install", "filesystem", notes, *scope], cwd=project, env=env)
    assert "filesystem: starts (" in installed.stdout, installed.stdout
    entry = json.loads((project / ".mcp.json").read_text())["mcpServers"]["filesystem"]
    member = CONNECTORS["filesystem"]
    assert entry["command"] == "uvx"
    assert entry["args"] == ["--index", index.url, f"{member.name}=={member.version}", str(notes)]
    assert index.served(wheels.by_name[canonicalize_name(member.name)])

    doctor = _run([*patchbay, "doctor", "--client", "claude-code"], cwd=project, env=env)
    assert re.search(r"^ok  claude-code project \(.*\) filesystem: starts \(\d+ tools", doctor.stdout, re.M), (
        doctor.stdout
    )
    assert doctor.stdout.rstrip().endswith("no problems found")

    # The postgres connector needs its DSN: install says so and writes nothing.
    refused = subprocess.run(
        [*patchbay, "install", "postgres", "--source", "pypi", *scope],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "postgres does not start" in refused.stderr and "PATCHBAY_POSTGRES_DSN is unset" in refused.stderr
    assert "postgres" not in json.loads((project / ".mcp.json").read_text())["mcpServers"]


# ------------------------------------ plain pip (last, so the venvs build in the background meanwhile)


@pytest.mark.parametrize("connector_id", CONNECTOR_IDS)
def test_pip_installs_wheels(
    tools: Tools, wheels: Wheels, pip_venvs: dict[str, Future[Path]], connector_id: str
) -> None:
    venv = pip_venvs[connector_id].result()
    member = CONNECTORS[connector_id]
    env = {**tools.env, "PATH": f"{venv / 'bin'}{os.pathsep}{tools.env.get('PATH', '')}"}
    script = venv / "bin" / _script(connector_id)
    _check_help(_run([script, "--help"], cwd=tools.cwd, env=env), connector_id)
    version = _run([script, "--version"], cwd=tools.cwd, env=env)
    assert version.stdout.strip() == f"{_script(connector_id)} {member.version}"
    _run([venv / "bin" / "python", "-m", "pip", "check"], cwd=tools.cwd, env=env)
    # The base came from our wheel, not from the index under the same name.
    urls = json.loads(
        _run([venv / "bin" / "python", "-c", _DIRECT_URLS, BASE.name, member.name], cwd=tools.cwd, env=env).stdout
    )
    assert urls[BASE.name]["url"] == wheels.by_name[canonicalize_name(BASE.name)].as_uri(), urls
    assert urls[member.name]["url"] == wheels.by_name[canonicalize_name(member.name)].as_uri(), urls
