"""Every read tool against the fake, in both protocol eras: what PyGithub sent and what the model reads."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from tools_matrix import APP

from fake_github import FakeGitHub

pytestmark = pytest.mark.anyio


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if hasattr(block, "text"))


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text(result)
    return result


async def test_get_me_names_the_user_scopes_and_allowlist(client: Client) -> None:
    result = await call(client, "get_me")
    assert result.structured_content == {
        "login": "octocat",
        "name": "Octocat",
        "scopes": ["repo", "read:org", "workflow"],
        "allowed_repos": ["octo-org/app", "octo-org/site"],
        "toolsets": ["context", "repos", "issues", "pull_requests"],
        "lockdown": False,
    }


async def test_get_repository(client: Client) -> None:
    result = await call(client, "get_repository", **APP)
    assert result.structured_content is not None
    assert result.structured_content["full_name"] == "octo-org/app"
    assert result.structured_content["private"] is False
    assert result.structured_content["default_branch"] == "main"


async def test_get_file_contents_reads_text_files(client: Client, fake: FakeGitHub) -> None:
    result = await call(client, "get_file_contents", **APP, path="src/app.py")
    assert text(result) == "print('hello')\n"
    feature = await call(client, "get_file_contents", **APP, path="src/app.py", ref="feature")
    assert text(feature) == "print('hello, world')\n"
    assert [r.arg("ref") for r in fake.requests("GET", "/repos/{owner}/{repo}/contents/{path:path}")] == [
        None,
        "feature",
    ]


async def test_get_file_contents_lists_directories_and_the_root(client: Client) -> None:
    src = await call(client, "get_file_contents", **APP, path="src")
    assert src.structured_content == {"entries": [{"path": "src/app.py", "type": "file", "size": 15}]}
    root = await call(client, "get_file_contents", **APP)
    assert root.structured_content is not None
    assert [(e["path"], e["type"]) for e in root.structured_content["entries"]] == [
        ("README.md", "file"),
        ("docs", "dir"),
        ("src", "dir"),
    ]


async def test_get_file_contents_cuts_long_text_and_refuses_big_binaries(fake: FakeGitHub, era: str) -> None:
    from fake_github import settings_for
    from patchbay.testing import connect
    from patchbay_github.server import connector

    fake.add_file("octo-org/app", "big.txt", "a" * 5000)
    fake.add_file("octo-org/app", "logo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 5000)
    fake.add_file("octo-org/app", "small.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    async with connect(connector, settings_for(fake, max_file_bytes=1024), era=era) as client:
        big = await call(client, "get_file_contents", **APP, path="big.txt")
        png = await client.call_tool("get_file_contents", {**APP, "path": "logo.png"})
        small = await call(client, "get_file_contents", **APP, path="small.png")
    assert big.content[0].text == "a" * 1024
    assert big.content[1].text == "[cut: bytes 0-1023 of 5000]"
    assert png.is_error
    assert "'logo.png' is 5008 bytes, over the 1024-byte cap for binary content" in text(png)
    assert small.content[0].type == "image"
    assert small.content[0].mime_type == "image/png"


async def test_get_repository_tree_is_recursive_and_capped(fake: FakeGitHub, era: str) -> None:
    from fake_github import settings_for
    from patchbay.testing import connect
    from patchbay_github.server import connector

    async with connect(connector, settings_for(fake), era=era) as client:
        whole = await call(client, "get_repository_tree", **APP)
    async with connect(connector, settings_for(fake, max_tree_entries=10), era=era) as client:
        for i in range(12):
            fake.add_file("octo-org/app", f"many/f{i:02d}.txt", "x")
        capped = await call(client, "get_repository_tree", **APP)
    assert whole.structured_content is not None and capped.structured_content is not None
    assert [e["path"] for e in whole.structured_content["entries"]] == [
        "README.md",
        "docs",
        "docs/guide.md",
        "src",
        "src/app.py",
    ]
    assert len(capped.structured_content["entries"]) == 10
    assert capped.structured_content["truncated"] is True
    assert fake.requests("GET", "/repos/{owner}/{repo}/git/trees/{sha}")[-1].arg("recursive") == "1"


async def test_branches_tags_and_commits(client: Client, fake: FakeGitHub) -> None:
    app = fake.repos["octo-org/app"]
    branches = await call(client, "list_branches", **APP)
    tags = await call(client, "list_tags", **APP)
    commits = await call(client, "list_commits", **APP, ref="feature")
    assert branches.structured_content is not None and tags.structured_content is not None
    assert commits.structured_content is not None
    assert branches.structured_content["items"] == [
        {"name": "feature", "sha": app.branches["feature"]},
        {"name": "main", "sha": app.branches["main"]},
    ]
    assert tags.structured_content["items"] == [{"name": "v1.0", "sha": app.branches["main"]}]
    assert [c["message"] for c in commits.structured_content["items"]] == [
        "Greet the world",
        "Add docs/guide.md",
        "Add src/app.py",
        "Initial commit",
    ]


async def test_list_pages_follow_githubs_link_header_through_sealed_cursors(client: Client, fake: FakeGitHub) -> None:
    first = await call(client, "list_commits", **APP, per_page=2)
    assert first.structured_content is not None
    cursor = first.structured_content["next_cursor"]
    assert cursor and "page=" not in cursor  # the Link URL is sealed, never shown
    rest = await call(client, "list_commits", **APP, per_page=2, cursor=cursor)
    assert rest.structured_content is not None
    assert len(first.structured_content["items"]) == 2
    assert len(rest.structured_content["items"]) == 1
    assert rest.structured_content["next_cursor"] is None
    sent = fake.requests("GET", "/repos/{owner}/{repo}/commits")
    assert [(r.arg("per_page"), r.arg("page")) for r in sent] == [("2", None), ("2", "2")]


async def test_a_cursor_from_another_listing_is_refused(client: Client) -> None:
    first = await call(client, "list_commits", **APP, per_page=1)
    assert first.structured_content is not None
    other = await client.call_tool("list_branches", {**APP, "cursor": first.structured_content["next_cursor"]})
    assert other.is_error


async def test_get_commit_and_compare_refs_show_capped_diffs(client: Client) -> None:
    commit = await call(client, "get_commit", **APP, sha="feature")
    compare = await call(client, "compare_refs", **APP, base="main", head="feature")
    assert commit.structured_content is not None and compare.structured_content is not None
    assert commit.structured_content["message"] == "Greet the world"
    assert commit.structured_content["changes"]["files"] == [
        {"filename": "src/app.py", "status": "modified", "additions": 1, "deletions": 1}
    ]
    assert "+print('hello, world')" in commit.structured_content["changes"]["diff"]
    assert compare.structured_content["ahead_by"] == 1
    assert [c["message"] for c in compare.structured_content["commits"]] == ["Greet the world"]


async def test_a_diff_over_the_cap_is_cut_and_says_so(fake: FakeGitHub, era: str) -> None:
    from fake_github import settings_for
    from patchbay.testing import connect
    from patchbay_github.server import connector

    fake.add_file("octo-org/app", "huge.txt", "line\n" * 1000)
    async with connect(connector, settings_for(fake, max_diff_bytes=1024), era=era) as client:
        commit = await call(client, "get_commit", **APP, sha="main")
    assert commit.structured_content is not None
    assert commit.structured_content["changes"]["diff_truncated"] is True
    assert len(commit.structured_content["changes"]["diff"].encode()) == 1024


async def test_issues_and_comments(client: Client) -> None:
    issues = await call(client, "list_issues", **APP)
    issue = await call(client, "get_issue", **APP, number=1)
    assert issues.structured_content is not None and issue.structured_content is not None
    assert [(i["number"], i["title"]) for i in issues.structured_content["items"]] == [(1, "Crash on start")]
    assert issue.structured_content["issue"]["body"] == "It crashes."
    assert issue.structured_content["issue"]["labels"] == ["bug"]
    assert [c["body"] for c in issue.structured_content["items"]] == ["Confirmed."]


async def test_pull_requests(client: Client) -> None:
    pulls = await call(client, "list_pull_requests", **APP)
    detail = await call(client, "get_pull_request", **APP, number=2)
    assert pulls.structured_content is not None and detail.structured_content is not None
    assert [(p["number"], p["head"], p["base"]) for p in pulls.structured_content["items"]] == [
        (2, "octo-org:feature", "main")
    ]
    assert detail.structured_content["changes"]["files"][0]["filename"] == "src/app.py"
    assert detail.structured_content["status"] == "success"
    assert detail.structured_content["checks"] == []
    assert detail.structured_content["pull_request"]["mergeable"] is True


async def test_searches_return_matches_in_scope(client: Client) -> None:
    code = await call(client, "search_code", query="hello")
    repos = await call(client, "search_repositories", query="the")
    issues = await call(client, "search_issues", query="crash")
    pulls = await call(client, "search_pull_requests", query="greet")
    assert code.structured_content is not None and repos.structured_content is not None
    assert issues.structured_content is not None and pulls.structured_content is not None
    assert [(m["repo"], m["path"]) for m in code.structured_content["items"]] == [("octo-org/app", "src/app.py")]
    assert sorted(r["full_name"] for r in repos.structured_content["items"]) == ["octo-org/app", "octo-org/site"]
    assert [i["number"] for i in issues.structured_content["items"]] == [1]
    assert [p["number"] for p in pulls.structured_content["items"]] == [2]


async def test_actions_and_alerts(fake: FakeGitHub, era: str) -> None:
    from fake_github import settings_for
    from patchbay.testing import connect
    from patchbay_github.server import connector

    options = settings_for(fake, toolsets="actions,code_security", max_log_bytes=1024)
    async with connect(connector, options, era=era) as client:
        runs = await call(client, "list_workflow_runs", **APP)
        run = await call(client, "get_workflow_run", **APP, run_id=1)
        jobs = await call(client, "list_workflow_jobs", **APP, run_id=1)
        logs = await call(client, "get_job_logs", **APP, job_id=1)
        code = await call(client, "list_code_scanning_alerts", **APP)
        dependabot = await call(client, "list_dependabot_alerts", **APP)
        secrets = await call(client, "list_secret_scanning_alerts", **APP)
    for result in (runs, run, jobs, logs, code, dependabot, secrets):
        assert result.structured_content is not None
    assert [r["id"] for r in runs.structured_content["items"]] == [1]
    assert run.structured_content["conclusion"] == "failure"
    assert [j["name"] for j in jobs.structured_content["items"]] == ["build"]
    assert logs.structured_content["truncated"] is True
    assert logs.structured_content["log"].endswith("FAILED: test_x\n")
    assert len(logs.structured_content["log"].encode()) == 1024
    (log_request,) = fake.requests("GET", "/_logs/{owner}/{repo}/{job_id}")
    assert "authorization" not in log_request.headers  # the token never goes to the download host
    assert [a["state"] for a in code.structured_content["items"]] == ["open"]
    assert len(dependabot.structured_content["items"]) == 1
    assert "ghp_" not in text(secrets)  # the secret itself is not shown


async def test_paths_with_dot_dot_are_refused_before_any_request(client: Client, fake: FakeGitHub) -> None:
    fake.clear()
    result = await client.call_tool("get_file_contents", {**APP, "path": "src/../../secret/keys.txt"})
    assert result.is_error
    assert text(result) == "Invalid argument 'path': '..' segments are not allowed."
    assert fake.journal == []


async def test_paths_with_spaces_and_unicode_are_encoded(client: Client, fake: FakeGitHub) -> None:
    fake.add_file("octo-org/app", "docs/read me é.md", "spaced")
    result = await call(client, "get_file_contents", **APP, path="docs/read me é.md")
    assert text(result) == "spaced"
    assert fake.requests("GET", "/repos/{owner}/{repo}/contents/{path:path}")[-1].path.endswith(
        "/contents/docs/read%20me%20%C3%A9.md"
    )
