"""Fixtures: a fresh fake GitHub per test (checked against the official OpenAPI description),
the connector's settings pointed at it, and an in-memory client in each protocol era."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so tests can `from fake_github import ...`

from fake_github import FakeGitHub, GitHubContract, settings_for
from patchbay.fake_contracts import github_contract_or_skip
from patchbay.testing import Answer, connect
from patchbay_github.server import connector


@pytest.fixture(scope="session")
def running_fake() -> Iterator[FakeGitHub]:
    """One fake server for the session (stopping one takes half a second)."""
    with FakeGitHub(contract=GitHubContract(github_contract_or_skip()), seeded=True) as running:
        yield running


@pytest.fixture
def fake(running_fake: FakeGitHub) -> Iterator[FakeGitHub]:
    """The fake, freshly seeded; afterwards, anything that broke the official description fails the test."""
    running_fake.clear()  # the journal emptied, the world of seed() put back
    yield running_fake
    try:
        running_fake.assert_valid()
    finally:
        running_fake.clear()


@pytest.fixture
async def client(fake: FakeGitHub, era: str) -> AsyncIterator[Client]:
    async with connect(connector, settings_for(fake), era=era) as running:
        yield running


@pytest.fixture
async def writer(fake: FakeGitHub, era: str) -> AsyncIterator[Client]:
    async with connect(connector, settings_for(fake, allow_writes=True), era=era, elicit=Answer("accept")) as running:
        yield running
