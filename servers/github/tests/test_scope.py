"""The repository allowlist holds on every tool, search and resource: out-of-scope names are
refused before any request reaches GitHub, and results from elsewhere are withheld."""

from __future__ import annotations

from typing import Any

import pytest
from tools_matrix import ALL_TOOLS, OTHER_TOOLS, REPO_TOOLS, SEARCH_TOOLS

from fake_github import FakeGitHub, settings_for
from patchbay.testing import Answer, connect
from patchbay_github.server import connector

pytestmark = pytest.mark.anyio

DENIED = "Access denied: '{}' is outside the allowed repositories (PATCHBAY_GITHUB_REPOS)."
ALL = {"allow_writes": True, "toolsets": "all"}


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if hasattr(block, "text"))


def test_the_matrix_covers_every_tool() -> None:
    offered = set(connector.tools)
    assert set(ALL_TOOLS) == offered


@pytest.mark.parametrize("name", ["octo-org/secret", "octo-org/app2", "octo-org/app/../secret", "other/lib"])
async def test_every_repository_tool_refuses_names_outside_the_allowlist(fake: FakeGitHub, era: str, name: str) -> None:
    owner, _, repo = name.partition("/")
    wrong = {}
    async with connect(connector, settings_for(fake, **ALL), era=era, elicit=Answer("accept")) as client:
        fake.clear()
        for tool, arguments in sorted(REPO_TOOLS.items()):
            result = await client.call_tool(tool, {**arguments, "owner": owner, "repo": repo})
            expected = "Invalid argument 'repo'" if ".." in name else DENIED.format(name)
            if not (result.is_error and text(result).startswith(expected)):
                wrong[tool] = text(result)
    assert wrong == {}
    assert fake.journal == []  # nothing reached GitHub


@pytest.mark.parametrize("query", ["repo:octo-org/secret key", "org:other key", "user:octo-org -repo:x key"])
@pytest.mark.parametrize("tool", SEARCH_TOOLS)
async def test_searches_naming_repositories_outside_the_allowlist_are_refused(
    fake: FakeGitHub, era: str, tool: str, query: str
) -> None:
    async with connect(connector, settings_for(fake), era=era) as client:
        fake.clear()
        result = await client.call_tool(tool, {"query": query})
    assert result.is_error
    assert fake.journal == []


@pytest.mark.parametrize("tool", SEARCH_TOOLS)
async def test_searches_are_narrowed_to_the_allowlist(fake: FakeGitHub, era: str, tool: str) -> None:
    async with connect(connector, settings_for(fake, repos="octo-org/app,other/*"), era=era) as client:
        fake.clear()
        result = await client.call_tool(tool, {"query": "key"})
    assert not result.is_error, text(result)
    (sent,) = fake.journal
    qualifiers = (sent.arg("q") or "").split()
    assert qualifiers[:3] == ["key", "repo:octo-org/app", "user:other"]


async def test_search_results_from_other_repositories_are_withheld(
    fake: FakeGitHub, era: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GitHub answering with repositories outside the query (as a widened query would): filtered anyway.
    fake.add_file("octo-org/secret", "notes.txt", "hello from secret")
    original = fake._query

    def ignore_scope(q: str) -> Any:
        _, words = original(q)
        return {}, words

    monkeypatch.setattr(fake, "_query", ignore_scope)
    async with connect(connector, settings_for(fake, repos="octo-org/app"), era=era) as client:
        result = await client.call_tool("search_code", {"query": "hello"})
    assert result.structured_content is not None
    assert [m["repo"] for m in result.structured_content["items"]] == ["octo-org/app"]
    assert result.structured_content["withheld"] == "1 result outside the allowed repositories was withheld."
    assert "secret" not in text(result)


async def test_an_empty_allowlist_refuses_everything_and_says_what_to_set(fake: FakeGitHub, era: str) -> None:
    async with connect(connector, settings_for(fake, repos=""), era=era) as client:
        fake.clear()
        read = await client.call_tool("get_repository", {"owner": "octo-org", "repo": "app"})
        search = await client.call_tool("search_code", {"query": "hello"})
    assert read.is_error and search.is_error
    assert "none are allowed: set PATCHBAY_GITHUB_REPOS" in text(read)
    assert "--all-repos" in text(read)
    assert "No repositories are allowed" in text(search)
    assert fake.journal == []


def test_an_empty_allowlist_is_announced_at_start_up() -> None:
    settings = connector.load_settings({"repos": ""})
    assert settings.scope_notices() == [
        "No repositories are allowed, so every call that names one is refused: set PATCHBAY_GITHUB_REPOS "
        "(comma-separated, e.g. octo-org/*,octo-org/app), or start with --all-repos to allow every one."
    ]


async def test_all_repos_opts_out(fake: FakeGitHub, era: str) -> None:
    async with connect(connector, settings_for(fake, repos="", all_repos=True), era=era) as client:
        result = await client.call_tool(
            "get_file_contents", {"owner": "octo-org", "repo": "secret", "path": "keys.txt"}
        )
    assert text(result) == "SECRET-KEY-123\n"


async def test_owner_wildcards_match_whole_owners_only(fake: FakeGitHub, era: str) -> None:
    async with connect(connector, settings_for(fake, repos="octo-org/*"), era=era) as client:
        inside = await client.call_tool("get_repository", {"owner": "Octo-Org", "repo": "App"})
        outside = await client.call_tool("get_repository", {"owner": "octo-org-evil", "repo": "app"})
    assert not inside.is_error
    assert text(outside) == DENIED.format("octo-org-evil/app")


@pytest.mark.parametrize(
    "uri",
    ["repo://octo-org/secret/contents/keys.txt", "repo://octo-org/secret/refs/main/contents/keys.txt"],
)
async def test_resources_outside_the_allowlist_are_denied(fake: FakeGitHub, era: str, uri: str) -> None:
    from mcp.shared.exceptions import MCPError

    async with connect(connector, settings_for(fake), era=era) as client:
        fake.clear()
        with pytest.raises(MCPError) as raised:
            await client.read_resource(uri)
    assert "outside the allowed repositories" in str(raised.value)
    assert fake.journal == []


async def test_resources_inside_the_allowlist_read_files(fake: FakeGitHub, era: str) -> None:
    async with connect(connector, settings_for(fake), era=era) as client:
        head = await client.read_resource("repo://octo-org/app/contents/src/app.py")
        feature = await client.read_resource("repo://octo-org/app/refs/feature/contents/src/app.py")
        templates = await client.list_resource_templates()
    assert head.contents[0].text == "print('hello')\n"
    assert feature.contents[0].text == "print('hello, world')\n"
    assert sorted(t.uri_template for t in templates.resource_templates) == [
        "repo://{owner}/{repo}/contents/{+path}",
        "repo://{owner}/{repo}/refs/{ref}/contents/{+path}",
    ]


def test_get_me_is_the_only_tool_without_a_repository() -> None:
    assert OTHER_TOOLS == ("get_me",)
