"""Repository-wide pytest policy: under CI (CI=true) a skipped test is a failed test.

Integration suites skip on a developer's machine that lacks what they need (Node,
PostgreSQL, podman), saying how to provide it; CI installs everything, so a skip there
means something is missing and must not pass silently.
"""

import os
from collections.abc import Iterator

import pytest

from patchbay.testing import ERAS


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (what the MCP SDK and uvicorn use)."""
    return "asyncio"


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    """Run the test once per protocol era (handshake and 2026-07-28)."""
    return str(request.param)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every skip is a failure: {report.longrepr}"
