"""Write and destructive tools: what changed on the fake, what the user was asked, and that a
declined, moved or mismatched operation changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from tools_matrix import APP, REPO_TOOLS

from fake_github import FakeGitHub, blob_sha, settings_for
from patchbay.testing import Answer, connect
from patchbay_github.server import connector

pytestmark = pytest.mark.anyio


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if hasattr(block, "text"))


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    """The tool's result; for a tool that may ask first, what it did once done (else the outcome)."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text(result)
    data = result.structured_content
    assert data is not None
    if "outcome" in data and data["outcome"] == "done" and data["result"] is not None:
        return data["result"]
    return data


async def test_read_only_by_default_offers_no_write_tool(client: Client, fake: FakeGitHub) -> None:
    names = {t.name for t in (await client.list_tools()).tools}
    assert "create_issue" not in names and "merge_pull_request" not in names
    fake.clear()
    result = await client.call_tool("create_issue", {**APP, "title": "x"})
    assert result.is_error
    assert fake.journal == []


async def test_issue_writes(writer: Client, fake: FakeGitHub) -> None:
    created = await call(writer, "create_issue", **APP, title="New bug", body="Steps", labels=["bug"])
    await call(writer, "update_issue", **APP, number=created["number"], title="Renamed")
    await call(writer, "add_issue_comment", **APP, number=1, body="Looking")
    app = fake.repos["octo-org/app"]
    number = created["number"]
    assert (app.items[number].title, app.items[number].body, app.items[number].labels) == ("Renamed", "Steps", ["bug"])
    assert [c["body"] for c in app.items[1].comments] == ["Confirmed.", "Looking"]


async def test_branch_and_file_writes(writer: Client, fake: FakeGitHub) -> None:
    app = fake.repos["octo-org/app"]
    await call(writer, "create_branch", **APP, branch="topic")
    assert app.branches["topic"] == app.branches["main"]
    written = await call(
        writer, "create_or_update_file", **APP, path="notes/a.md", content="one\n", message="Add", branch="topic"
    )
    assert written["what"] == "notes/a.md written and verified"
    assert app.head("topic").files["notes/a.md"] == b"one\n"  # type: ignore[union-attr]
    await call(
        writer,
        "create_or_update_file",
        **APP,
        path="notes/a.md",
        content="two\n",
        message="Edit",
        branch="topic",
        sha=blob_sha(b"one\n"),
    )
    assert app.head("topic").files["notes/a.md"] == b"two\n"  # type: ignore[union-attr]
    before = app.branches["topic"]
    pushed = await call(
        writer,
        "push_files",
        **APP,
        branch="topic",
        message="Two files",
        files=[{"path": "x/1.txt", "content": "1"}, {"path": "x/2.txt", "content": "2"}],
    )
    head = app.head("topic")
    assert head is not None and pushed["sha"] == head.sha
    assert head.parents == [before] and head.message == "Two files"
    assert (head.files["x/1.txt"], head.files["x/2.txt"], head.files["notes/a.md"]) == (b"1", b"2", b"two\n")


async def test_a_file_that_reads_back_differently_is_reported(writer: Client, fake: FakeGitHub) -> None:
    fake.mangle_writes = True
    result = await writer.call_tool(
        "create_or_update_file", {**APP, "path": "a.txt", "content": "exact", "message": "m", "branch": "main"}
    )
    assert result.is_error
    assert text(result) == "a.txt was written, but reading it back from main gave other bytes."


async def test_pull_request_writes(writer: Client, fake: FakeGitHub) -> None:
    app = fake.repos["octo-org/app"]
    app.branches["topic"] = app.branches["feature"]
    opened = await call(writer, "create_pull_request", **APP, title="Topic", head="topic", base="main", body="Why")
    number = opened["number"]
    await call(writer, "update_pull_request", **APP, number=number, title="Topic 2")
    await call(writer, "create_pull_request_review", **APP, number=number, event="APPROVE", body="LGTM")
    await call(writer, "request_reviewers", **APP, number=number, reviewers=["octocat"])
    item = app.items[number]
    assert (item.title, item.head, item.base, item.body) == ("Topic 2", "topic", "main", "Why")
    assert [(r["state"], r["body"]) for r in item.reviews] == [("APPROVED", "LGTM")]
    assert item.reviewers == ["octocat"]


async def test_rerun_workflow(fake: FakeGitHub, era: str) -> None:
    async with connect(connector, settings_for(fake, allow_writes=True, toolsets="actions"), era=era) as client:
        await call(client, "rerun_workflow", **APP, run_id=1)
    assert fake.repos["octo-org/app"].runs[1]["attempt"] == 2


async def test_merge_asks_method_source_and_target_then_merges(fake: FakeGitHub, era: str) -> None:
    answer = Answer("accept")
    head = fake.repos["octo-org/app"].branches["feature"]
    async with connect(connector, settings_for(fake, allow_writes=True), era=era, elicit=answer) as client:
        result = await call(client, "merge_pull_request", **APP, number=2, method="squash")
    (question,) = answer.questions
    assert question.startswith(
        f"Merge pull request #2 of octo-org/app by squash: octo-org:feature (at {head[:7]}) into main? (ref "
    )
    assert result["what"] == "pull request merged (squash)"
    item = fake.repos["octo-org/app"].items[2]
    assert item.merged
    merge = fake.requests("PUT", "/repos/{owner}/{repo}/pulls/{number}/merge")[0].json()
    assert merge == {"merge_method": "squash", "sha": head}


@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_a_declined_merge_changes_nothing(fake: FakeGitHub, era: str, action: str) -> None:
    async with connect(connector, settings_for(fake, allow_writes=True), era=era, elicit=Answer(action)) as client:  # type: ignore[arg-type]
        result = await call(client, "merge_pull_request", **APP, number=2)
    assert result["outcome"] in ("declined", "cancelled")
    assert not fake.repos["octo-org/app"].items[2].merged
    assert fake.requests("PUT") == []


async def test_a_head_that_moved_after_the_question_is_not_merged_unseen(fake: FakeGitHub, era: str) -> None:
    """Legacy era: refused, nothing merged. 2026-07-28: the user is asked again about the new head."""
    app = fake.repos["octo-org/app"]

    async def push_once(_: str) -> None:
        if "late.txt" not in app.head("feature").files:  # type: ignore[union-attr]
            fake.commit(app, "feature", {"late.txt": b"surprise"}, "Late push")

    answer = Answer("accept", before_answer=push_once)
    async with connect(connector, settings_for(fake, allow_writes=True), era=era, elicit=answer) as client:
        result = await client.call_tool("merge_pull_request", {**APP, "number": 2})
    if era == "legacy":
        assert result.is_error
        assert "changed after you confirmed" in text(result)
        assert not app.items[2].merged
        assert fake.requests("PUT") == []
    else:
        first, second = (q.split(" (at ")[1][:7] for q in answer.questions)
        assert first != second and second == app.branches["feature"][:7]
        assert app.items[2].merged
        assert fake.requests("PUT")[0].json()["sha"] == app.branches["feature"]


async def test_delete_branch_is_confirmed(fake: FakeGitHub, era: str) -> None:
    sha = fake.repos["octo-org/app"].branches["feature"]
    answer = Answer("accept")
    async with connect(connector, settings_for(fake, allow_writes=True), era=era, elicit=answer) as client:
        await call(client, "delete_branch", **APP, branch="feature")
    assert answer.questions[0].startswith(f"Delete branch feature of octo-org/app (at {sha[:7]})?")
    assert "feature" not in fake.repos["octo-org/app"].branches
    declined = Answer("decline")
    async with connect(connector, settings_for(fake, allow_writes=True), era=era, elicit=declined) as client:
        await call(client, "delete_branch", **APP, branch="main")
    assert "main" in fake.repos["octo-org/app"].branches


async def test_closing_several_issues_is_confirmed_with_the_list(fake: FakeGitHub, era: str) -> None:
    fake.add_issue("octo-org/app", "Another", "b")
    answer = Answer("accept")
    async with connect(connector, settings_for(fake, allow_writes=True), era=era, elicit=answer) as client:
        result = await call(client, "close_issues", **APP, numbers=[1, 3])
    assert answer.questions[0].startswith("Close 2 issues/pull requests in octo-org/app: #1, #3?")
    assert result == {"repo": "octo-org/app", "numbers": [1, 3]}
    app = fake.repos["octo-org/app"]
    assert (app.items[1].state, app.items[2].state, app.items[3].state) == ("closed", "open", "closed")


async def test_destructive_tools_are_refused_without_a_way_to_ask(fake: FakeGitHub, era: str) -> None:
    async with connect(connector, settings_for(fake, allow_writes=True), era=era) as client:
        fake.clear()
        result = await client.call_tool("delete_branch", {**APP, "branch": "feature"})
    assert result.is_error
    assert "Nothing was done" in text(result)
    assert "feature" in fake.repos["octo-org/app"].branches


async def test_writes_to_a_public_repository_after_reading_a_private_one_ask_first(fake: FakeGitHub, era: str) -> None:
    declined = Answer("decline")
    options = settings_for(fake, allow_writes=True, repos="", all_repos=True)
    async with connect(connector, options, era=era, elicit=declined) as client:
        before = await call(client, "create_issue", owner="octo-org", repo="site", title="Fine")
        read = await client.call_tool("get_file_contents", {"owner": "octo-org", "repo": "secret", "path": "keys.txt"})
        assert text(read) == "SECRET-KEY-123\n"
        after = await call(client, "create_issue", owner="octo-org", repo="site", title="Leak", body="SECRET-KEY-123")
        private = await call(client, "create_issue", owner="octo-org", repo="secret", title="Fine too")
    assert before["number"] == 1 and private["number"] == 1
    assert declined.questions == [
        "Write to the PUBLIC repository octo-org/site? Private repository content was read in this session, "
        "and this write could make it public."
    ]
    assert after["outcome"] == "declined"
    assert [i.title for i in fake.repos["octo-org/site"].items.values()] == ["Fine"]


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("search_issues", {"query": "leak repo:octo-org/secret"}),
        ("search_code", {"query": "SECRET repo:octo-org/secret"}),
        ("list_issues", {"owner": "octo-org", "repo": "secret"}),
        ("get_repository_tree", {"owner": "octo-org", "repo": "secret"}),
    ],
)
async def test_any_private_read_makes_public_writes_ask(
    fake: FakeGitHub, era: str, tool: str, arguments: dict[str, Any]
) -> None:
    fake.add_issue("octo-org/secret", "Private leak plan", "internal", author="octocat")
    declined = Answer("decline")
    options = settings_for(fake, allow_writes=True, repos="octo-org/*")
    async with connect(connector, options, era=era, elicit=declined) as client:
        read = await client.call_tool(tool, arguments)
        assert not read.is_error, text(read)
        after = await call(client, "add_issue_comment", owner="octo-org", repo="site", number=1, body="copy")
    assert after["outcome"] == "declined"
    assert len(declined.questions) == 1


def test_every_write_tool_is_in_the_matrix() -> None:
    writes = {name for name, spec in connector.tools.items() if spec.safety != "read"}
    assert writes <= set(REPO_TOOLS)
    assert {name for name, spec in connector.tools.items() if spec.safety == "destructive"} == {
        "close_issues",
        "delete_branch",
        "merge_pull_request",
    }
