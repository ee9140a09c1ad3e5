"""Fixtures: the fake Drive and Google token endpoint (started once), reset per test, and a token file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so tests can `from fake_drive import ...`

from drive_world import populate, token_file
from fake_drive import FakeDrive, FakeGoogleAuth


@pytest.fixture(autouse=True)
def no_drive_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the tests, never from the developer's environment."""
    import os

    for name in list(os.environ):
        if name.startswith("PATCHBAY_DRIVE_") or name == "GOOGLE_APPLICATION_CREDENTIALS":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def drive_service() -> Iterator[FakeDrive]:
    with FakeDrive() as fake:
        yield fake


@pytest.fixture(scope="session")
def auth_service(drive_service: FakeDrive) -> Iterator[FakeGoogleAuth]:
    with FakeGoogleAuth(drive_service) as fake:
        yield fake


@pytest.fixture
def drive(drive_service: FakeDrive, auth_service: FakeGoogleAuth) -> Iterator[FakeDrive]:
    drive_service.clear()
    auth_service.clear()
    auth_service.refresh_tokens = {"1//refresh-good"}
    drive_service.ids = populate(drive_service)  # type: ignore[attr-defined]
    yield drive_service
    drive_service.assert_valid()


@pytest.fixture
def token(tmp_path: Path, auth_service: FakeGoogleAuth) -> Path:
    return token_file(tmp_path, auth_service)
