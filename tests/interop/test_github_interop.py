"""The GitHub connector driven by the MCP Inspector CLI and the TypeScript SDK client.

Over stdio, stateless HTTP and stateful HTTP, against the in-repo fake GitHub (checked against
the official OpenAPI description): tools, resource templates, resources and prompts listed and
used; the Inspector's --strict schema check finds nothing; a branch deletion (destructive)
declined and then confirmed through the TypeScript client's elicitation handler.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_clients import Clients, Servers, Target, console_script, serve, text_of

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "servers" / "github" / "tests"))

from fake_github import FakeGitHub, GitHubContract
from patchbay.fake_contracts import github_contract_or_skip

pytestmark = pytest.mark.integration

APP = {"owner": "octo-org", "repo": "app"}
FILE = "repo://octo-org/app/contents/src/app.py"
READS = {
    "get_me", "search_repositories", "get_repository", "get_file_contents", "get_repository_tree", "list_branches",
    "list_tags", "list_commits", "get_commit", "compare_refs", "search_code", "list_issues", "search_issues",
    "get_issue", "list_pull_requests", "search_pull_requests", "get_pull_request",
}  # fmt: skip
WRITES = {
    "create_branch", "create_or_update_file", "push_files", "delete_branch", "create_issue", "update_issue",
    "add_issue_comment", "close_issues", "create_pull_request", "update_pull_request", "create_pull_request_review",
    "request_reviewers", "merge_pull_request",
}  # fmt: skip


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(contract=GitHubContract(github_contract_or_skip()), seeded=True) as running:
        running.clear()
        yield running


@pytest.fixture(scope="module")
def servers(fake: FakeGitHub) -> Iterator[Servers]:
    env = {
        "PATCHBAY_GITHUB_API_URL": fake.url,
        "PATCHBAY_GITHUB_TOKEN": "ghp_test",
        "PATCHBAY_GITHUB_SECONDS_BETWEEN_WRITES": "0",
    }
    yield from serve([console_script("patchbay-github"), "--allow-writes", "--repos", "octo-org/app"], env)


def test_inspector_lists_and_calls_with_a_clean_strict_schema_check(clients: Clients, target: Target) -> None:
    entry = target.inspector_entry()
    listed = clients.inspector(entry, "--method", "tools/list", "--strict")
    assert listed.code == 0, listed.stderr
    assert {tool["name"] for tool in listed.result["tools"]} == READS | WRITES
    assert "schemaFindings" not in listed.answer, listed.answer.get("schemaFindings")

    arguments = ("--tool-arg", "owner=octo-org", "--tool-arg", "repo=app", "--tool-arg", "number=1")
    issue = clients.inspector(entry, "--method", "tools/call", "--tool-name", "get_issue", *arguments)
    assert issue.code == 0, (issue.answer, issue.stderr)
    assert issue.result["structuredContent"]["issue"]["title"] == "Crash on start"

    denied = clients.inspector(entry, "--method", "tools/call", "--tool-name", "get_repository",
                               "--tool-arg", "owner=octo-org", "--tool-arg", "repo=secret")  # fmt: skip
    assert denied.result["isError"] is True
    assert "outside the allowed repositories" in text_of(denied.result)

    templates = clients.inspector(entry, "--method", "resources/templates/list")
    assert "repo://{owner}/{repo}/contents/{+path}" in [t["uriTemplate"] for t in templates.result["resourceTemplates"]]
    read = clients.inspector(entry, "--method", "resources/read", "--uri", FILE)
    assert read.result["contents"][0]["text"] == "print('hello')\n"

    prompts = clients.inspector(entry, "--method", "prompts/list")
    assert sorted(p["name"] for p in prompts.result["prompts"]) == ["summarize_pull_request", "triage_issue"]


def test_typescript_client_lists_calls_and_confirms(clients: Clients, target: Target, fake: FakeGitHub) -> None:
    branch = f"gone-{target.transport}"
    app = fake.repos["octo-org/app"]
    app.branches[branch] = app.branches["main"]
    delete = {"op": "callTool", "name": "delete_branch", "arguments": {**APP, "branch": branch}}
    report = clients.typescript(
        {
            "server": target.ts_server(),
            "elicit": ["decline", "accept"],
            "steps": [
                {"op": "listTools"},
                {"op": "listResourceTemplates"},
                {"op": "callTool", "name": "get_pull_request", "arguments": {**APP, "number": 2}},
                {"op": "readResource", "uri": FILE},
                {"op": "getPrompt", "name": "triage_issue", "arguments": {**APP, "number": "1"}},
                delete,
                delete,
            ],
        }
    )
    steps = [step.get("result", step) for step in report["steps"]]
    tools, templates, pull, resource, prompt, first, second = steps
    assert report["server"]["name"] == "patchbay-github"
    assert {tool["name"] for tool in tools["tools"]} == READS | WRITES
    assert len(templates["resourceTemplates"]) == 2
    assert pull["structuredContent"]["pull_request"]["head"] == "octo-org:feature"
    assert resource["contents"][0]["text"] == "print('hello')\n"
    assert "get_issue" in prompt["messages"][0]["content"]["text"]
    if target.stateless:  # no channel to ask on: refused, and nothing done
        assert first["isError"] and "--stateful" in text_of(first), first
        assert branch in app.branches
        return
    assert first["structuredContent"]["outcome"] == "declined", first
    assert second["structuredContent"]["outcome"] == "done", second
    assert branch not in app.branches
    assert len(report["questions"]) == 2
    assert report["questions"][0].startswith(f"Delete branch {branch} of octo-org/app")
