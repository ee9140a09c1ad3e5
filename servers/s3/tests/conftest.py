"""Fixtures: moto's S3 in server mode for the session, behind a recording front; reset for each test.

Tests talk to moto over loopback with the real boto3 (the connector's, and a `boto`
client of their own to arrange and check state). The front (s3front.S3Front) records what
the connector sent and injects the faults moto never gives.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so tests can `from s3front import ...`

from s3front import CREDENTIALS, MotoS3, S3Front


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoS3]:
    """moto's S3 on a free 127.0.0.1 port, with test credentials in the environment."""
    saved = {name: os.environ.get(name) for name in [*CREDENTIALS, "AWS_PROFILE", "AWS_SESSION_TOKEN"]}
    os.environ.update(CREDENTIALS)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    with MotoS3() as server:
        yield server
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def session_front(moto: MotoS3) -> Iterator[S3Front]:
    with S3Front(moto.url) as front:
        yield front


@pytest.fixture
def front(moto: MotoS3, session_front: S3Front, monkeypatch: pytest.MonkeyPatch) -> S3Front:
    """The front, its journal and faults cleared, moto emptied."""
    for name in list(os.environ):
        if name.startswith("PATCHBAY_S3_"):
            monkeypatch.delenv(name)
    moto.reset()
    session_front.clear()
    return session_front


@pytest.fixture
def boto(moto: MotoS3, front: S3Front) -> Any:
    """A boto3 client straight to moto (not through the front), to arrange and check state."""
    import boto3

    return boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
