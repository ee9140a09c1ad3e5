"""Credentials come from boto3's chain; a session token (STS) is masked everywhere and never signed into a URL."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from patchbay.testing import runtime_of_server
from patchbay_s3.server import connector
from s3front import S3Front, settings

pytestmark = pytest.mark.anyio

TOKEN = "IQoJb3JpZ2luX2VjEPatchbayCanarySessionToken0123456789"


async def test_a_session_token_is_registered_and_never_leaks(
    front: S3Front, boto: Any, era: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto.create_bucket(Bucket="data")
    boto.put_object(Bucket="data", Key="a.txt", Body=b"x")
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    audit = tmp_path / "audit.log"
    server = connector.build(connector.load_settings(settings(front, audit_log=str(audit))))
    async with Client(server, mode=era) as client:
        listed = await client.call_tool("list_objects", {"bucket": "data"})
        presigned = await client.call_tool("presign_url", {"bucket": "data", "key": "a.txt"})
        echoed = await client.call_tool("get_object", {"bucket": "data", "key": f"a{TOKEN}.txt"})
    redactor = runtime_of_server(server).redactor
    assert not listed.is_error
    assert redactor.text(f"token={TOKEN}") == "token=[REDACTED]"
    assert redactor.text(os.environ["AWS_SECRET_ACCESS_KEY"]) == "[REDACTED]"
    assert presigned.is_error and "temporary AWS credentials" in presigned.content[0].text
    assert "Nothing was signed" in presigned.content[0].text
    everything = json.dumps([r.model_dump(mode="json") for r in (listed, presigned, echoed)]) + audit.read_text()
    assert TOKEN not in everything
    assert [r.headers.get("x-amz-security-token") for r in front.journal][:1] == [TOKEN]  # it was used upstream


async def test_long_term_credentials_presign(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    server = connector.build(connector.load_settings(settings(front)))
    async with Client(server, mode=era) as client:
        result = await client.call_tool("presign_url", {"bucket": "data", "key": "a.txt"})
    assert not result.is_error and "X-Amz-Credential=AKIAPATCHBAYTEST0001" in result.structured_content["url"]
    assert "X-Amz-Security-Token" not in result.structured_content["url"]


async def test_missing_credentials_say_what_to_set(front: S3Front, era: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    server = connector.build(connector.load_settings(settings(front, retry_attempts=1)))
    async with Client(server, mode=era) as client:
        result = await client.call_tool("list_objects", {"bucket": "data"})
    assert result.is_error and result.content[0].text.startswith("No AWS credentials were found")
