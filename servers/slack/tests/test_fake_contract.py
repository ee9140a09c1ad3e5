"""The fake serves Slack's methods with Slack's argument names, as Slack's published descriptions give them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fake_slack import BOT_TOKEN, METHODS, METHODS_FILE, FakeSlack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

SOURCE = Path(__file__).resolve().parents[1] / "src" / "patchbay_slack"


def test_the_method_list_names_where_it_comes_from() -> None:
    data = json.loads(METHODS_FILE.read_text())
    assert "slackapi/slack-api-specs" in data["source"]
    assert re.search(r"commit [0-9a-f]{40}", data["source"])
    undescribed = {name for name, method in METHODS.items() if "from" in method}
    # newer than the description, or missing from it
    assert undescribed == {"files.getUploadURLExternal", "files.completeUploadExternal", "search.all"}


def test_the_fake_answers_every_described_method_and_no_other(fake: FakeSlack) -> None:
    routed = {r.pattern.text.removeprefix("/api/") for r in fake._routes if r.pattern.text.startswith("/api/")}
    assert routed == set(METHODS)


def test_every_method_the_connector_calls_is_described() -> None:
    called = set()
    for path in SOURCE.glob("*.py"):
        called |= set(re.findall(r'call\(\s*"([a-z]+\.[A-Za-z.]+)"', path.read_text()))
        called |= set(re.findall(r'"(reactions\.(?:add|remove))"', path.read_text()))
    assert called
    assert called <= set(METHODS), called - set(METHODS)


def test_an_argument_slack_does_not_describe_is_refused(fake: FakeSlack) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=fake.url + "/api/")
    with pytest.raises(SlackApiError) as caught:
        client.conversations_history(channel="C0GENERAL", include_everything=True)
    assert caught.value.response["error"] == "invalid_arguments"
    assert caught.value.response["unknown"] == ["include_everything"]


def test_a_wrong_token_is_refused_as_slack_does(fake: FakeSlack) -> None:
    client = WebClient(token="xoxb-wrong", base_url=fake.url + "/api/")
    with pytest.raises(SlackApiError) as caught:
        client.auth_test()
    assert caught.value.response["error"] == "invalid_auth"
