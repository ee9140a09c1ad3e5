"""Settings: the scope's one notice, the --all-files conflict, and the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from patchbay.settings import SettingsError
from patchbay_drive.server import connector


def test_one_notice_for_folders_and_drives_together() -> None:
    empty = connector.load_settings({})
    assert empty.scope_notices() == [
        "No folders and drives are allowed, so every call that names one is refused: set PATCHBAY_DRIVE_FOLDERS "
        "or PATCHBAY_DRIVE_SHARED_DRIVES (comma-separated, e.g. 0AbCdEf123,1XyZ-folder_id), or start with "
        "--all-files to allow every one."
    ]
    assert connector.load_settings({"shared_drives": "0AbC"}).scope_notices() == []
    assert (
        "--all-files: every one of the folders and drives"
        in connector.load_settings({"all_files": True}).scope_notices()[0]
    )


def test_all_files_with_a_list_is_refused() -> None:
    with pytest.raises(SettingsError, match="--all-files allows every file"):
        connector.load_settings({"all_files": True, "folders": "0AbC"})


def test_a_malformed_folder_id_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="PATCHBAY_DRIVE_FOLDERS"):
        connector.load_settings({"folders": "../etc"})


def test_the_command_line_sets_the_scope_and_gates() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "patchbay_drive", "--folders", "1a,1b", "--shared-drives", "0d", "--allow-sharing",
         "--allow-public-sharing", "--print-config"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert '"folders": [\n    "1a",\n    "1b"\n  ]' in done.stdout
    assert '"allow_sharing": true' in done.stdout and '"allow_public_sharing": true' in done.stdout


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "patchbay_drive", "--folders", "1a"]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=60,
        env={**os.environ, **env},
    )


def test_a_broken_credentials_file_refuses_to_start(tmp_path: Path) -> None:
    token = tmp_path / "token.json"
    token.write_text('{"client_id": "x"}')
    done = _start({"PATCHBAY_DRIVE_TOKEN_FILE": str(token)})
    assert done.returncode == 2
    assert "lacks refresh_token, token_uri; run `patchbay-drive auth` again" in done.stderr
    key = tmp_path / "key.json"
    key.write_text('{"type": "authorized_user"}')
    done = _start({"GOOGLE_APPLICATION_CREDENTIALS": str(key)})
    assert done.returncode == 2
    assert "is not a service account key" in done.stderr
