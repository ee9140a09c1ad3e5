"""GitHub Enterprise Server: the API under /api/v3 (`--api-url`), paging and downloads included."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fake_github import FakeGitHub, GitHubContract, settings_for
from patchbay.fake_contracts import github_contract_or_skip
from patchbay.testing import connect
from patchbay_github.server import connector

pytestmark = pytest.mark.anyio
APP = {"owner": "octo-org", "repo": "app"}


@pytest.fixture(scope="module")
def enterprise() -> Iterator[FakeGitHub]:
    contract = GitHubContract(github_contract_or_skip(prefix="/api/v3"))
    with FakeGitHub(contract=contract, seeded=True, prefix="/api/v3") as fake:
        fake.clear()
        yield fake
        fake.assert_valid()


async def test_every_call_goes_under_the_enterprise_root(enterprise: FakeGitHub, era: str) -> None:
    enterprise.clear()
    options = settings_for(enterprise, api_url=enterprise.api_url, toolsets="all")
    async with connect(connector, options, era=era) as client:
        me = await client.call_tool("get_me", {})
        first = await client.call_tool("list_commits", {**APP, "per_page": 2})
        assert first.structured_content is not None
        rest = await client.call_tool(
            "list_commits", {**APP, "per_page": 2, "cursor": first.structured_content["next_cursor"]}
        )
        text = await client.call_tool("get_file_contents", {**APP, "path": "src/app.py"})
        log = await client.call_tool("get_job_logs", {**APP, "job_id": 1})
    for result in (me, rest, text, log):
        assert not result.is_error, result.content
    assert me.structured_content is not None and me.structured_content["scopes"] == ["repo", "read:org", "workflow"]
    assert rest.structured_content is not None and len(rest.structured_content["items"]) == 1
    assert text.content[0].text == "print('hello')\n"
    assert all(r.path.startswith("/api/v3/") for r in enterprise.journal)
