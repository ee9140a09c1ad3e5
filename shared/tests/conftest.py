"""Shared fixtures: the anyio backend and the two protocol eras."""

import pytest

from patchbay.testing import ERAS


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    """Run the test once per protocol era."""
    return str(request.param)
