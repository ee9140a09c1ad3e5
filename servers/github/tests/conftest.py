"""Fixtures: a fresh fake GitHub per test (checked against the official OpenAPI description),
the connector's settings pointed at it, and an in-memory client in each protocol era."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so tests can `from fake_github import ...`

from fake_github import FakeGitHub, GitHubContract, seed
from patchbay.fake_contracts import github_contract_or_skip
from patchbay.testing import Answer, connect
from patchbay_github.server import connector


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    """The seeded fake; leaving the block raises if anything broke the official description."""
    with FakeGitHub(contract=GitHubContract(github_contract_or_skip())) as running:
        seed(running)
        yield running


def settings_for(fake: FakeGitHub, **more: Any) -> dict[str, Any]:
    return {
        "api_url": fake.url,
        "token": "ghp_test",
        "repos": "octo-org/app,octo-org/site",
        "seconds_between_writes": 0,
        "retry_max_wait_seconds": 2,
        **more,
    }


@pytest.fixture
async def client(fake: FakeGitHub, era: str) -> AsyncIterator[Client]:
    async with connect(connector, settings_for(fake), era=era) as running:
        yield running


@pytest.fixture
async def writer(fake: FakeGitHub, era: str) -> AsyncIterator[Client]:
    async with connect(connector, settings_for(fake, allow_writes=True), era=era, elicit=Answer("accept")) as running:
        yield running
