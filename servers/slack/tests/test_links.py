"""Finding links in every form Slack reads, and mentions that notify many people."""

from __future__ import annotations

import pytest

from patchbay_slack.links import find_links, host_of, mass_mentions, may_unfurl, on_domains

EVIL = "attacker.example"


@pytest.mark.parametrize(
    ("text", "blocks"),
    [
        ("<https://attacker.example/?d=SECRET|the docs>", None),
        ("see <https://attacker.example/?d=SECRET>", None),
        ("see https://attacker.example/?d=SECRET now", None),
        ("see attacker.example/?d=SECRET", None),
        ("see [the docs](https://attacker.example/?d=SECRET)", None),
        ("&lt;https://attacker.example/?d=SECRET&gt;", None),
        ("HTTPS://ATTACKER.EXAMPLE/?d=SECRET", None),
        (None, [{"type": "section", "text": {"type": "mrkdwn", "text": "<https://attacker.example/?d=S|x>"}}]),
        (None, [{"type": "image", "image_url": "https://attacker.example/p.png?d=S", "alt_text": "a"}]),
        (
            None,
            [
                {
                    "type": "rich_text",
                    "elements": [
                        {
                            "type": "rich_text_section",
                            "elements": [{"type": "link", "url": "https://attacker.example/?d=S"}],
                        }
                    ],
                }
            ],
        ),
        (None, [{"type": "actions", "elements": [{"type": "button", "url": "https://attacker.example/?d=S"}]}]),
    ],
)
def test_a_link_in_every_form_is_found(text: str | None, blocks: list[dict[str, object]] | None) -> None:
    hosts = {host_of(link) for link in find_links(text, blocks)}
    assert EVIL in hosts
    assert not may_unfurl(text, blocks, ["docs.example.com"])
    assert not may_unfurl(text, blocks, [])


@pytest.mark.parametrize(
    "text",
    [
        "https://docs.example.com/a and https://attacker.example/?d=S",
        "https://docs.example.com.attacker.example/?d=S",
        "https://docs.example.com@attacker.example/?d=S",
        "<https://attacker.example/?d=S|https://docs.example.com/>",
        "https://docs.example.com/a attacker.example",
        "https://xn--dcs-example-com.attacker.example/",
        "https://evildocs.example.com.example/",
        "https://docs.example.com/a and \u0430ttacker.com/?d=S",  # a Cyrillic a: an internationalised name
        "https://docs.example.com/a and 203.0.113.9/?d=S",
        "https://docs.example.com/a and //attacker.example/?d=S",
    ],
)
def test_one_link_off_the_allowed_domains_turns_unfurling_off(text: str) -> None:
    assert not may_unfurl(text, None, ["docs.example.com"])


def test_links_all_on_allowed_domains_may_unfurl() -> None:
    assert may_unfurl("<https://docs.example.com/a|a> and https://api.docs.example.com/b", None, ["docs.example.com"])
    assert not may_unfurl("no links at all", None, ["docs.example.com"])  # nothing to unfurl: stays off


def test_hosts_match_on_label_boundaries_only() -> None:
    assert on_domains("docs.example.com", ["example.com"])
    assert not on_domains("badexample.com", ["example.com"])
    assert not on_domains("ex\u0430mple.com", ["example.com"])  # a Cyrillic a
    assert host_of("mailto:a@example.com") is None


def test_user_and_channel_mentions_are_not_links() -> None:
    assert find_links("hi <@U001> in <#C0GENERAL|general> <!here>", None) == []


@pytest.mark.parametrize(
    ("text", "blocks", "expected"),
    [
        ("<!here> deploy", None, ["@here"]),
        ("<!channel|channel> deploy", None, ["@channel"]),
        ("<!everyone>", None, ["@everyone"]),
        ("<!subteam^S0ONCALL|@oncall> look", None, ["user group S0ONCALL"]),
        ("hey @here", None, ["@here"]),
        (None, [{"type": "rich_text", "elements": [{"type": "broadcast", "range": "channel"}]}], ["@channel"]),
        (None, [{"type": "rich_text", "elements": [{"type": "usergroup", "usergroup_id": "S1"}]}], ["user group S1"]),
        ("hi <@U001>, mail me at a@here.example", None, []),
    ],
)
def test_mass_mentions_are_found(text: str | None, blocks: list[dict[str, object]] | None, expected: list[str]) -> None:
    assert mass_mentions(text, blocks) == expected
