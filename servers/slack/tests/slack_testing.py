"""Helpers of the Slack tests: the connector's settings pointed at a fake, and a result's text.

(A module of its own, not conftest.py: a test importing `conftest` could get another folder's.)
"""

from __future__ import annotations

from typing import Any

from fake_slack import BOT_TOKEN, USER_TOKEN, FakeSlack


def settings(fake: FakeSlack, **more: Any) -> dict[str, Any]:
    """Reads of #general and #random, writes to #general; retries fast."""
    return {
        "bot_token": BOT_TOKEN,
        "user_token": USER_TOKEN,
        "api_url": fake.url + "/api/",
        "read_channels": "#general,C0RANDOM",
        "write_channels": "#general",
        "retry_max_wait_seconds": 2,
        "directory_ttl_seconds": 0,
        **more,
    }


def text(result: Any) -> str:
    """The text blocks of a tool result, joined."""
    return "\n".join(block.text for block in result.content if hasattr(block, "text"))
