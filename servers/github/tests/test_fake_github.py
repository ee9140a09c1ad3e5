"""The fake GitHub itself: its answers are checked against the official description (a fake
that drifts is caught, directory listings included), and its pages link to its own host."""

from __future__ import annotations

from typing import Any

import pytest

from fake_github import FakeGitHub, GitHubContract
from patchbay.fake_contracts import github_contract_or_skip
from patchbay.fakes import ContractViolation


def pygithub(fake: FakeGitHub, token: str = "ghp_test") -> Any:
    from github import Auth, Github

    return Github(base_url=fake.url, auth=Auth.Token(token), retry=0, seconds_between_requests=0)


def test_pages_link_to_the_fakes_own_host(fake: FakeGitHub) -> None:
    for i in range(5):
        fake.add_issue("octo-org/app", f"Extra {i}", "x")
    headers, _ = pygithub(fake).requester.requestJsonAndCheck(
        "GET", f"{fake.url}/repos/octo-org/app/issues", parameters={"per_page": 2}
    )
    link = headers["link"]
    assert f'<{fake.url}/repos/octo-org/app/issues?per_page=2&page=2>; rel="next"' in link
    assert 'rel="last"' in link


def test_a_directory_listing_with_an_invented_field_is_caught() -> None:
    fake = FakeGitHub(contract=GitHubContract(github_contract_or_skip()), seeded=True)
    original = fake._entry

    def invented(*args: Any, **kwargs: Any) -> dict[str, Any]:
        entry = original(*args, **kwargs)
        entry["invented"] = True
        return entry

    fake._entry = invented  # type: ignore[method-assign]
    with fake:
        fake.clear()
        pygithub(fake).get_repo("octo-org/app").get_contents("src")
        with pytest.raises(ContractViolation) as raised:
            fake.assert_valid()
        fake.clear()
    assert "GitHub GET /repos/octo-org/app/contents/src → 200 body $[0]: undeclared field 'invented'" in str(
        raised.value
    )


def test_a_private_repository_is_invisible_to_other_tokens(fake: FakeGitHub) -> None:
    from github import UnknownObjectException

    fake.add_token("ghp_other", "someone")
    with pytest.raises(UnknownObjectException):
        pygithub(fake, "ghp_other").get_repo("octo-org/secret")
    assert pygithub(fake).get_repo("octo-org/secret").private is True
