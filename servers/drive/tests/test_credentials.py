"""Credentials: silent refresh, a revoked token, `patchbay-drive auth` (PKCE, 0600 token file),
a service account, no credentials at all; and Drive's retries and rate limits."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from drive_world import settings
from fake_drive import FakeDrive, FakeGoogleAuth
from patchbay.testing import connect
from patchbay_drive.server import connector

pytestmark = pytest.mark.anyio


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if hasattr(block, "text"))


def bearer(drive: FakeDrive) -> set[str]:
    return {r.headers.get("authorization", "") for r in drive.journal}


async def test_the_token_is_refreshed_silently_and_stored_0600(
    drive: FakeDrive, auth_service: FakeGoogleAuth, token: Path
) -> None:
    async with connect(connector, settings(drive, token)) as client:
        first = await client.call_tool("get_file_metadata", {"file_id": "notes"})
        second = await client.call_tool("get_file_metadata", {"file_id": "deep"})
    assert not first.is_error and not second.is_error, text(first)
    assert len(auth_service.requests("POST", "/token")) == 1  # once, then reused
    assert auth_service.requests("POST", "/token")[0].form()["grant_type"] == "refresh_token"
    assert bearer(drive) == {f"Bearer ya29.issued-{auth_service.issued}"}
    stored = json.loads(token.read_text())
    assert stored["token"] == f"ya29.issued-{auth_service.issued}"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600


async def test_an_expiring_token_is_refreshed_before_use(
    drive: FakeDrive, auth_service: FakeGoogleAuth, token: Path
) -> None:
    drive.valid_tokens.add("ya29.old")
    stored = json.loads(token.read_text())
    token.write_text(json.dumps({**stored, "token": "ya29.old", "expires_at": time.time() + 60}))
    async with connect(connector, settings(drive, token)) as client:
        result = await client.call_tool("get_file_metadata", {"file_id": "notes"})
    assert not result.is_error, text(result)
    assert "Bearer ya29.old" not in bearer(drive)  # within the margin: refreshed first
    assert len(auth_service.requests("POST", "/token")) == 1


async def test_a_still_valid_token_is_used_without_refreshing(
    drive: FakeDrive, auth_service: FakeGoogleAuth, token: Path
) -> None:
    drive.valid_tokens.add("ya29.fresh")
    stored = json.loads(token.read_text())
    token.write_text(json.dumps({**stored, "token": "ya29.fresh", "expires_at": time.time() + 3000}))
    async with connect(connector, settings(drive, token)) as client:
        assert not (await client.call_tool("get_file_metadata", {"file_id": "notes"})).is_error
    assert bearer(drive) == {"Bearer ya29.fresh"}
    assert auth_service.requests("POST", "/token") == []


async def test_a_revoked_token_names_the_command_that_signs_in_again(
    drive: FakeDrive, auth_service: FakeGoogleAuth, token: Path
) -> None:
    auth_service.refresh_tokens = set()  # the user revoked the app's access
    async with connect(connector, settings(drive, token)) as client:
        result = await client.call_tool("get_file_metadata", {"file_id": "notes"})
    assert result.is_error
    assert text(result).startswith("The Google token was revoked or expired and could not be refreshed (")
    assert text(result).endswith("run `patchbay-drive auth` to sign in again.")
    assert "1//refresh-good" not in text(result)
    assert drive.journal == []


async def test_a_token_drive_rejects_names_the_command_too(
    drive: FakeDrive, auth_service: FakeGoogleAuth, token: Path
) -> None:
    stored = json.loads(token.read_text())
    token.write_text(json.dumps({**stored, "token": "ya29.unknown", "expires_at": time.time() + 3000}))
    async with connect(connector, settings(drive, token)) as client:
        result = await client.call_tool("get_file_metadata", {"file_id": "notes"})
    assert text(result) == "Google rejected the credentials (HTTP 401); run `patchbay-drive auth` to sign in again."


async def test_without_credentials_the_tools_say_how_to_sign_in(drive: FakeDrive, tmp_path: Path) -> None:
    async with connect(connector, settings(drive, tmp_path / "missing.json")) as client:
        result = await client.call_tool("get_file_metadata", {"file_id": "notes"})
    assert text(result).startswith("No Google credentials are configured: run `patchbay-drive auth`")
    assert drive.journal == []


def test_auth_runs_the_installed_app_flow_and_writes_the_token_0600(
    auth_service: FakeGoogleAuth, tmp_path: Path
) -> None:
    secrets = tmp_path / "client.json"
    app = {"client_id": "cid", "client_secret": "csecret", "auth_uri": f"{auth_service.url}/auth"}
    secrets.write_text(json.dumps({"installed": {**app, "token_uri": f"{auth_service.url}/token"}}))
    target = tmp_path / "conf" / "token.json"
    command = [sys.executable, "-m", "patchbay_drive", "auth", "--client-secrets", str(secrets)]
    command += ["--token-file", str(target), "--no-browser"]
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, umask=0
    )
    try:
        assert process.stderr is not None
        process.stderr.readline()
        url = process.stderr.readline().strip()
        assert "code_challenge_method=S256" in url
        assert "scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fdrive.readonly" in url
        with urllib.request.urlopen(url, timeout=10) as page:  # the "browser": consent, then the redirect
            assert page.status == 200
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # even with umask 0
    stored = json.loads(target.read_text())
    assert stored["refresh_token"].startswith("1//refresh-")
    exchange = auth_service.requests("POST", "/token")[-1].form()
    assert exchange["grant_type"] == "authorization_code"
    assert exchange["code_verifier"]


def test_auth_gives_up_when_no_sign_in_comes_back(auth_service: FakeGoogleAuth, tmp_path: Path) -> None:
    from patchbay_drive.oauth import AuthError, authorize

    secrets = tmp_path / "client.json"
    secrets.write_text(json.dumps({"installed": {"client_id": "cid", "auth_uri": "http://127.0.0.1:9/auth"}}))
    with open(os.devnull, "w") as sink, pytest.raises(AuthError, match="timed out"):
        authorize(secrets, tmp_path / "t.json", ["x"], open_browser=False, timeout=0.5, out=sink)
    assert not (tmp_path / "t.json").exists()


async def test_a_service_account_signs_its_own_tokens(
    drive: FakeDrive, auth_service: FakeGoogleAuth, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    account = {
        "type": "service_account",
        "client_email": "robot@project.iam.gserviceaccount.com",
        "private_key": pem.decode(),
        "private_key_id": "k1",
        "token_uri": f"{auth_service.url}/token",
    }
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(account))
    options = settings(drive, tmp_path / "none.json", service_account_file=str(key_file), subject="ada@example.com")
    async with connect(connector, options) as client:
        result = await client.call_tool("get_file_metadata", {"file_id": "notes"})
    assert not result.is_error, text(result)
    grant = auth_service.requests("POST", "/token")[0].form()
    assert grant["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert auth_service.assertions[-1]["sub"] == "ada@example.com"
    assert auth_service.assertions[-1]["scope"] == "https://www.googleapis.com/auth/drive.readonly"


async def test_rate_limits_and_server_errors_are_retried_by_the_client(drive: FakeDrive, token: Path) -> None:
    drive.fail("GET", "/drive/v3/files/{fileId}", status=503, times=1)
    async with connect(connector, settings(drive, token, retry_max_wait_seconds=2)) as client:
        result = await client.call_tool("get_file_metadata", {"file_id": "notes"})
    assert not result.is_error, text(result)
    assert [r.status for r in drive.requests("GET", "/drive/v3/files/{fileId}")][:2] == [503, 200]


async def test_a_rate_limit_that_outlasts_the_policy_is_reported(drive: FakeDrive, token: Path) -> None:
    drive.fail("GET", "/drive/v3/files/{fileId}", status=403, times=None)  # userRateLimitExceeded
    async with connect(connector, settings(drive, token)) as client:
        result = await client.call_tool("get_file_metadata", {"file_id": "notes"})
    assert result.is_error
    assert text(result).startswith("Google Drive's rate limit is exhausted")
    assert len(drive.requests("GET", "/drive/v3/files/{fileId}")) == 1  # retry_max_wait 1 s: no retry fits


async def test_a_create_is_never_retried(drive: FakeDrive, token: Path) -> None:
    drive.fail("POST", "/upload/drive/v3/files", status=503, times=1)
    options = settings(drive, token, allow_writes=True, retry_max_wait_seconds=2)
    async with connect(connector, options) as client:
        result = await client.call_tool("create_file", {"parent_id": "A", "name": "x.txt", "text": "x"})
    assert text(result) == "Google Drive could not answer (HTTP 503); try again later."
    assert len(drive.requests("POST", "/upload/drive/v3/files")) == 1
