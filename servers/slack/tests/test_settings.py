"""Settings: the unfurl domains, a token required, and slack-sdk left unloaded until the first call."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from patchbay_slack.settings import SlackSettings


def test_unfurl_domains_are_plain_domains_in_lower_case() -> None:
    settings = SlackSettings(bot_token="xoxb-x", unfurl_domains="Docs.Example.com, .api.example.org.")
    assert settings.unfurl_domains == ["docs.example.com", "api.example.org"]
    for bad in ("https://example.com", "*.example.com", "localhost", "example.com/path"):
        with pytest.raises(ValueError, match="is not a domain"):
            SlackSettings(bot_token="xoxb-x", unfurl_domains=bad)


def test_without_a_bot_token_it_refuses_to_start_and_says_what_to_set() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHBAY_SLACK_")}
    script = Path(sys.executable).with_name("patchbay-slack")
    done = subprocess.run([str(script)], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "no Slack token: set PATCHBAY_SLACK_BOT_TOKEN=xoxb-..." in done.stderr


def test_slack_sdk_is_loaded_at_the_first_call_not_at_start_up() -> None:
    code = "import sys, patchbay_slack.server; print('slack_sdk' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_read_only_server_does_not_warn_about_its_empty_write_allowlist() -> None:
    read_only = SlackSettings(bot_token="xoxb-x", read_channels="#general")
    writing = SlackSettings(bot_token="xoxb-x", read_channels="#general", allow_writes=True)
    assert read_only.scope_notices() == []
    assert [n.split(":")[0] for n in writing.scope_notices()] == [
        "No channels are allowed, so every call that names one is refused"
    ]
    assert "PATCHBAY_SLACK_WRITE_CHANNELS" in writing.scope_notices()[0]


def test_tokens_come_from_slacks_own_variables_when_ours_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-conventional")
    monkeypatch.setenv("SLACK_USER_TOKEN", "xoxp-conventional")
    settings = SlackSettings.load()
    assert settings.bot_token is not None and settings.bot_token.get_secret_value() == "xoxb-conventional"
    assert settings.user_token is not None and settings.user_token.get_secret_value() == "xoxp-conventional"
    monkeypatch.setenv("PATCHBAY_SLACK_BOT_TOKEN", "xoxb-ours")
    assert SlackSettings.load().bot_token.get_secret_value() == "xoxb-ours"  # type: ignore[union-attr]
