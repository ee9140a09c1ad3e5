"""A GitHub App: installation tokens made from the App's key through the base's refreshing credential."""

from __future__ import annotations

from typing import Any

import pytest

from fake_github import FakeGitHub, settings_for
from patchbay.testing import connect
from patchbay_github.server import connector

pytestmark = pytest.mark.anyio


def private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode()


async def test_an_app_acts_with_installation_tokens(fake: FakeGitHub, era: str) -> None:
    options: dict[str, Any] = settings_for(fake, token=None, app_id="12345", app_installation_id=42)
    options["app_private_key"] = private_key()
    async with connect(connector, options, era=era) as client:
        first = await client.call_tool("get_repository", {"owner": "octo-org", "repo": "app"})
        second = await client.call_tool("list_issues", {"owner": "octo-org", "repo": "app"})
    assert not first.is_error and not second.is_error
    (minted,) = fake.requests("POST", "/app/installations/{installation_id}/access_tokens")
    assert minted.params == {"installation_id": "42"}
    assert minted.headers["authorization"].startswith("Bearer ey")  # the App's JWT
    (token,) = [t for t, (login, _) in fake.tokens.items() if login == "patchbay-app[bot]"]
    used = {r.headers.get("authorization") for r in fake.requests("GET", "/repos/{owner}/{repo}")}
    assert used == {f"token {token}"}  # minted once, used for every call until it nears expiry


async def test_an_app_without_its_installation_says_what_to_set(fake: FakeGitHub, era: str) -> None:
    options = settings_for(fake, token=None, app_id="12345")
    async with connect(connector, options, era=era) as client:
        result = await client.call_tool("get_repository", {"owner": "octo-org", "repo": "app"})
    assert result.is_error
    assert "APP_INSTALLATION_ID" in result.content[0].text
