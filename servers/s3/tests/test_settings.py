"""Settings and the command line: flags, the allowlist's opt-out, addressing, profiles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from patchbay.settings import SettingsError
from patchbay.testing import connect
from patchbay_s3.server import connector
from patchbay_s3.settings import S3Settings
from s3front import S3Front, settings

SCRIPT = str(Path(sys.executable).with_name("patchbay-s3"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60, check=False)


def test_flags_reach_the_settings() -> None:
    done = run("--print-config", "--buckets", "reports,logs/app/", "--region", "eu-west-1",
               "--endpoint-url", "http://127.0.0.1:9000", "--profile", "ro", "--no-path-style")  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["buckets"] == ["reports", "logs/app"]
    assert (printed["region"], printed["endpoint_url"], printed["profile"]) == (
        "eu-west-1",
        "http://127.0.0.1:9000",
        "ro",
    )
    assert printed["path_style"] is False and printed["allow_writes"] is False


def test_a_list_and_the_opt_out_together_are_refused() -> None:
    done = run("--print-config", "--buckets", "reports", "--all-buckets")
    assert done.returncode == 2
    assert "--all-buckets allows every one of the buckets and prefixes" in done.stderr


def test_a_malformed_entry_is_refused_at_start() -> None:
    done = run("--print-config", "--buckets", "reports/../secret")
    assert done.returncode == 2 and "contains a '..' segment" in done.stderr


def test_presign_default_may_not_exceed_the_maximum() -> None:
    with pytest.raises(SettingsError, match="PRESIGN_DEFAULT_SECONDS"):
        S3Settings.load({"presign_default_seconds": 7200, "presign_max_seconds": 3600})


@pytest.mark.parametrize(
    ("endpoint", "path_style", "expected"),
    [
        (None, None, "auto"),
        ("http://127.0.0.1:9000", None, "path"),
        ("http://minio:9000", False, "auto"),
        (None, True, "path"),
    ],
)
def test_path_style_follows_the_endpoint_unless_told(
    endpoint: str | None, path_style: bool | None, expected: str
) -> None:
    loaded = S3Settings.load({"endpoint_url": endpoint, "path_style": path_style})
    assert isinstance(loaded, S3Settings) and loaded.addressing_style == expected


@pytest.mark.anyio
async def test_a_named_profile_supplies_the_credentials(
    front: S3Front, boto: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto.create_bucket(Bucket="data")
    config = tmp_path / "config"
    config.write_text(
        "[profile readonly]\n"
        "aws_access_key_id = AKIAPROFILEREADONLY1\n"
        "aws_secret_access_key = profile-secret-0123456789\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    async with connect(connector, settings(front, profile="readonly")) as client:
        result = await client.call_tool("list_objects", {"bucket": "data"})
    assert not result.is_error
    assert "Credential=AKIAPROFILEREADONLY1/" in front.journal[0].headers["authorization"]


def test_a_request_has_room_for_the_largest_upload_unless_its_limit_is_set() -> None:
    """A stdio line (or HTTP body) carrying put_object's largest body as base64 fits the default
    max_request_bytes; an operator's own limit is kept as given."""
    fitted = S3Settings.load({"buckets": "data"})
    assert fitted.max_put_bytes == 256 << 20
    assert fitted.max_request_bytes == (256 << 20) // 3 * 4 + 4 + 64 * 1024  # base64 of 256 MiB, plus the envelope
    assert S3Settings.load({"buckets": "data", "max_put_bytes": 1000}).max_request_bytes == 4 << 20  # never below
    assert S3Settings.load({"buckets": "data", "max_request_bytes": 8 << 20}).max_request_bytes == 8 << 20
