"""Fixtures: one fake Slack for the module, reset for each test; a client of the connector pointed at it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so tests can `from fake_slack import ...`

from fake_slack import FakeSlack
from slack_testing import settings

from patchbay.testing import Answer, connect
from patchbay_slack.server import connector


@pytest.fixture(scope="session")
def slack_service() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake(slack_service: FakeSlack) -> FakeSlack:
    slack_service.clear()
    slack_service.reset()
    return slack_service


@pytest.fixture
def answer() -> Answer:
    return Answer("accept")


@pytest.fixture
async def client(fake: FakeSlack, era: str, answer: Answer) -> AsyncIterator[Client]:
    async with connect(connector, settings(fake), era=era, elicit=answer) as client:
        yield client


@pytest.fixture
async def writer(fake: FakeSlack, era: str, answer: Answer) -> AsyncIterator[Client]:
    async with connect(connector, settings(fake, allow_writes=True), era=era, elicit=answer) as client:
        yield client
