"""The official MCP conformance suite against the example connector over Streamable HTTP.

`tools/ensure-node22.sh` installs Node 22 and `@modelcontextprotocol/conformance` (pinned)
with npm into a cache folder. The example connector runs as a subprocess on a free
127.0.0.1 port, with the suite's own fixtures (`test_*` tools and prompts, `test://`
resources: suite_fixtures.py, registered through the base's public API and served by
fixture_server.py) added to its own tools, once stateless (the default) and once
`--stateful`. The suite runs against it with `expected-failures.yml` as its baseline and
must exit 0: every scenario passes but those listed, and none of those passes unexpectedly.
What the baseline lists is only what stateless HTTP cannot do for the suite's handshake-era
client (no session, so no back-channel and no per-session state); the `--stateful` run
drops those entries (NEEDS_SESSION), so there every scenario must pass.

Without node/npm the test is skipped with a how-to, except under CI=true, where it fails.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ENSURE_SCRIPT = REPO / "tools" / "ensure-node22.sh"
BASELINE = HERE / "expected-failures.yml"
FIXTURE_SERVER = HERE / "fixture_server.py"  # the example connector plus the suite's fixtures

# Baseline entries that fail only because stateless HTTP has no session; the --stateful run drops them.
# Without a session a handshake-era client has no back-channel (elicitation, sampling), its
# logging/setLevel lasts one request, resources/subscribe is not offered (no stream could
# deliver an update) and there is no Mcp-Session-Id for multiple streams.
NEEDS_SESSION = frozenset(
    {
        "server-sse-multiple-streams",
        "resources-subscribe",
        "resources-unsubscribe",
        "tools-call-with-logging",
        "tools-call-elicitation",
        "elicitation-sep1034-defaults",
        "elicitation-sep1330-enums",
        "tools-call-sampling",
    }
)

INSTALL_TIMEOUT = 900.0  # a cold npm install downloads about 30 MB
START_TIMEOUT = 60.0
SUITE_TIMEOUT = 600.0  # the suite itself takes about a second here
STOP_TIMEOUT = 10.0

ANSI = re.compile(r"\x1b\[[0-9;]*m")
TOTAL = re.compile(r"^Total: (\d+) passed, (\d+) failed(?:, (\d+) warnings)?\s*$", re.MULTILINE)
SUITE_SIZE = re.compile(r"^Running \w+ suite \((\d+) scenarios\)", re.MULTILINE)
RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")
HOW_TO = (
    "The MCP conformance suite needs npm (any Node >= 18): on Debian `apt-get install -y nodejs npm`, "
    "then `bash tools/ensure-node22.sh` (installs Node 22 and the suite from the npm registry into "
    "${PATCHBAY_TOOLS_DIR:-~/.cache/patchbay-tools})."
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> NoReturn:
    """Skip locally; under CI=true a missing tool is a failure, never a silent skip."""
    message = f"{reason}\n{HOW_TO}"
    if _in_ci():
        pytest.fail(f"{message}\n(CI=true: failing instead of skipping)", pytrace=False)
    pytest.skip(message)


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def conformance_bin() -> Path:
    """The bin/ folder holding Node 22's `node` and `conformance`, installed on first use."""
    try:
        done = subprocess.run(
            ["bash", str(ENSURE_SCRIPT)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        _unavailable("bash is not installed.")
    except subprocess.TimeoutExpired:
        _unavailable(f"tools/ensure-node22.sh did not finish within {INSTALL_TIMEOUT:.0f} s.")
    if done.returncode != 0:
        _unavailable(f"tools/ensure-node22.sh failed (exit {done.returncode}):\n{_tail(done.stderr)}")
    bin_dir = Path(done.stdout.strip().splitlines()[-1])
    if not (bin_dir / "conformance").exists() or not (bin_dir / "node").exists():
        _unavailable(f"tools/ensure-node22.sh printed {bin_dir}, which lacks node or conformance.")
    return bin_dir


@dataclass
class RunningServer:
    url: str
    log: Path
    stateful: bool


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _healthy(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT first (uvicorn may ignore SIGTERM while an SSE stream is open), then SIGKILL."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(params=[False, True], ids=["stateless", "stateful"])
def example_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    """The example connector over Streamable HTTP on a free 127.0.0.1 port, ready when /healthz answers."""
    stateful = bool(request.param)
    port = _free_port()
    command = [sys.executable, str(FIXTURE_SERVER), "--transport", "http", "--host", "127.0.0.1"]
    command += ["--port", str(port)] + (["--stateful"] if stateful else [])
    # The connector's own settings come from the command line alone, not from this shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHBAY_EXAMPLE_")}
    env["PYTHONUNBUFFERED"] = "1"
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path
        )
    try:
        health = f"http://127.0.0.1:{port}/healthz"
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(health):
            if process.poll() is not None:
                pytest.fail(
                    f"the example connector exited with {process.returncode} before serving:\n"
                    f"{' '.join(command)}\n{_tail(log.read_text(errors='replace'))}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{health} did not answer 200 within {START_TIMEOUT:.0f} s:\n"
                    f"{_tail(log.read_text(errors='replace'))}",
                    pytrace=False,
                )
            time.sleep(0.1)
        yield RunningServer(url=f"http://127.0.0.1:{port}/mcp", log=log, stateful=stateful)
    finally:
        _stop(process)


def _baseline_entries(text: str) -> list[str]:
    """The `server:` list of the suite's YAML baseline (a flat list of names; comments allowed)."""
    entries: list[str] = []
    section = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not line[0].isspace():
            section = line.rstrip(":").strip()
            continue
        item = re.fullmatch(r"\s+-\s+['\"]?([\w./-]+)['\"]?", line)
        if section == "server" and item:
            entries.append(item.group(1))
    return entries


def _write_baseline(path: Path, names: list[str]) -> None:
    """A baseline in the suite's format; an empty list must be `[]` (the suite rejects `server:` alone)."""
    path.write_text("server:" + "".join(f"\n  - {name}" for name in names) + ("\n" if names else " []\n"))


def _scenario_checks(results: Path) -> dict[str, list[dict[str, object]]]:
    """Scenario name -> its checks, read from the suite's --output-dir."""
    checks: dict[str, list[dict[str, object]]] = {}
    for folder in sorted(results.iterdir()):
        match = RESULT_DIR.match(folder.name)
        if match and (folder / "checks.json").is_file():
            checks[match["scenario"]] = json.loads((folder / "checks.json").read_text())
    return checks


def _explain(checks: dict[str, list[dict[str, object]]], expected: set[str]) -> str:
    """Why the baseline check failed, scenario by scenario, with the checks' own messages."""
    lines = []
    for scenario, items in checks.items():
        bad = [c for c in items if c.get("status") in {"FAILURE", "WARNING"}]
        if bad and scenario not in expected:
            lines.append(f"  unexpected failure: {scenario}")
            for check in bad:
                why = check.get("errorMessage") or json.dumps(check.get("details"))[:300]
                lines.append(f"      {check.get('status')} {check.get('id')}: {why}")
        elif not bad and scenario in expected:
            lines.append(f"  passes but is listed in the baseline (remove it): {scenario}")
    return "\n".join(lines)


@pytest.mark.integration
@pytest.mark.timeout(INSTALL_TIMEOUT + START_TIMEOUT + SUITE_TIMEOUT + 60)
def test_conformance_suite(
    conformance_bin: Path,
    example_server: RunningServer,
    tmp_path: Path,
    record_testsuite_property: pytest.RecordTestsuiteProperty,
) -> None:
    mode = "stateful" if example_server.stateful else "stateless"
    expected = _baseline_entries(BASELINE.read_text())
    assert expected, f"{BASELINE} lists no scenario: is it still in the suite's format?"
    stale = sorted(NEEDS_SESSION - set(expected))
    assert not stale, f"NEEDS_SESSION names scenarios {BASELINE.name} does not list (remove them): {stale}"
    baseline = BASELINE
    if example_server.stateful:
        expected = [name for name in expected if name not in NEEDS_SESSION]
        baseline = tmp_path / "expected-failures-stateful.yml"
        _write_baseline(baseline, expected)

    results = tmp_path / "results"
    env = dict(os.environ)
    env["PATH"] = f"{conformance_bin}{os.pathsep}{env.get('PATH', '')}"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    command = [str(conformance_bin / "conformance"), "server", "--url", example_server.url]
    command += ["--expected-failures", str(baseline), "--output-dir", str(results)]
    started = time.monotonic()
    try:
        run = subprocess.run(
            command,
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=SUITE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the conformance suite did not finish within {SUITE_TIMEOUT:.0f} s: {exc}", pytrace=False)
    elapsed = time.monotonic() - started
    output = ANSI.sub("", run.stdout + run.stderr)

    total = TOTAL.search(output)
    assert total, f"no 'Total: N passed, M failed' line in the suite's output:\n{_tail(output, 80)}"
    size = SUITE_SIZE.search(output)
    scenarios = int(size[1]) if size else 0
    checks = _scenario_checks(results) if results.is_dir() else {}
    # Not a bare 'N passed, M failed' line: CI reads such lines as the run's own test count.
    summary = (
        f"MCP conformance ({mode}) against {example_server.url}: {scenarios} scenarios in {elapsed:.1f} s, "
        f"{len(expected)} expected to fail; suite says Total: {total[1]} passed, {total[2]} failed (checks)"
    )
    print(f"\n{summary}")
    record_testsuite_property(f"conformance_{mode}", summary)  # in the JUnit XML (record_property is not xunit2)
    record_testsuite_property(f"conformance_{mode}_exit_code", run.returncode)

    unknown = sorted(set(expected) - set(checks)) if checks else []
    assert not unknown, f"baseline names scenarios the suite did not run (renamed or retired?): {unknown}"
    if run.returncode != 0:
        # Indented, so that no bare 'Total: N passed, M failed' line reaches CI's log.
        report = "\n".join(f"  | {line}" for line in output[total.start() :].strip().splitlines())
        pytest.fail(
            f"{summary}\nconformance exited {run.returncode}. Scenario by scenario:\n"
            f"{_explain(checks, set(expected)) or '  (no result files)'}\n"
            f"--- the suite's baseline report ---\n{report}\n"
            f"--- server log (tail) ---\n{_tail(example_server.log.read_text(errors='replace'), 15)}",
            pytrace=False,
        )
