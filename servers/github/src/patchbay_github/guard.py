"""The GitHub connector's safety rules: the repository allowlist (search queries included),
lockdown of text by authors without push access, and the toolset/token-scope filter."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from patchbay.errors import InvalidArgument
from patchbay.scope import Malformed, OutOfScope, RepoAllowlist

# Qualifiers of a search query that widen or name its scope.
_SCOPE_QUALIFIER = re.compile(r'(?<!\S)(-?)(repo|org|user|owner):("[^"]*"|\S+)', re.IGNORECASE)

WITHHELD = "[withheld by lockdown: written by a user without push access to this repository]"

TOOLSETS: dict[str, tuple[str, ...]] = {
    "context": ("get_me",),
    "repos": (
        "search_repositories",
        "get_repository",
        "get_file_contents",
        "get_repository_tree",
        "list_branches",
        "list_tags",
        "list_commits",
        "get_commit",
        "compare_refs",
        "search_code",
        "create_branch",
        "create_or_update_file",
        "push_files",
        "delete_branch",
    ),
    "issues": (
        "list_issues",
        "search_issues",
        "get_issue",
        "create_issue",
        "update_issue",
        "add_issue_comment",
        "close_issues",
    ),
    "pull_requests": (
        "list_pull_requests",
        "search_pull_requests",
        "get_pull_request",
        "create_pull_request",
        "update_pull_request",
        "create_pull_request_review",
        "request_reviewers",
        "merge_pull_request",
    ),
    "actions": ("list_workflow_runs", "get_workflow_run", "list_workflow_jobs", "get_job_logs", "rerun_workflow"),
    "code_security": ("list_code_scanning_alerts", "list_dependabot_alerts", "list_secret_scanning_alerts"),
}

# The classic-token scope each toolset needs (a token with none of them cannot use it).
SCOPES: dict[str, frozenset[str]] = {
    "repos": frozenset({"repo", "public_repo"}),
    "issues": frozenset({"repo", "public_repo"}),
    "pull_requests": frozenset({"repo", "public_repo"}),
    "actions": frozenset({"repo", "workflow"}),
    "code_security": frozenset({"repo", "security_events"}),
}


def toolset_of(tool: str) -> str | None:
    """The toolset a tool belongs to (None for tools in none)."""
    return next((name for name, tools in TOOLSETS.items() if tool in tools), None)


def offered(tool: str, toolsets: Iterable[str], only: list[str], excluded: list[str], scopes: list[str] | None) -> bool:
    """Whether `tool` is offered: in a chosen toolset (or named in --tools), not excluded, and
    (for a classic token) a scope it needs was granted."""
    if tool in excluded:
        return False
    toolset = toolset_of(tool)
    if only and tool not in only:
        return False
    if not only and toolset not in set(toolsets):
        return False
    if scopes is not None and toolset in SCOPES:
        return bool(SCOPES[toolset] & set(scopes))
    return True


def scoped_query(query: str, repos: RepoAllowlist) -> str:
    """A search query narrowed to the allowlist.

    Qualifiers naming a scope (`repo:`, `org:`, `user:`) must lie inside it; a query with none
    gets one per allowlist entry (`repo:o/n`, `user:o` for `o/*`). Results are still filtered.

    Raises:
        OutOfScope: the query names a repository or owner outside the allowlist.
        InvalidArgument: the query negates a scope qualifier (which would widen it).
    """
    if repos.everything:
        return query
    named = []
    for match in _SCOPE_QUALIFIER.finditer(query):
        negated, kind, value = match.group(1), match.group(2).lower(), match.group(3).strip('"')
        if negated:
            raise InvalidArgument("query", f"'-{kind}:' qualifiers are not allowed here; name what to search instead")
        if kind == "repo":
            named.append(f"repo:{repos.check(value, argument='query')}")
        else:
            inside = _entries_of_owner(repos, value)
            if not inside:
                raise OutOfScope(f"{value}/*", repos.kind.noun, repos.setting or "the repository allowlist")
            named += [_qualifier(entry) for entry in inside]
    rest = _SCOPE_QUALIFIER.sub("", query).strip()
    if not named:
        if not repos.entries:
            raise OutOfScope(query, repos.kind.noun, repos.describe_empty())
        named = [_qualifier(entry) for entry in repos.entries]
    return " ".join([rest, *dict.fromkeys(named)]).strip()


def _entries_of_owner(repos: RepoAllowlist, owner: str) -> list[str]:
    """The allowlist entries under one owner (GitHub owners ignore case); malformed owners are refused."""
    try:
        wanted = repos.kind.entry(f"{owner}/*").removesuffix("/*").casefold()
    except Malformed as exc:
        raise InvalidArgument("query", f"{owner[:100]!r} {exc}") from None
    return [entry for entry in repos.entries if entry.split("/")[0].casefold() == wanted]


def _qualifier(entry: str) -> str:
    owner, _, name = entry.partition("/")
    return f"user:{owner}" if name in ("*", "") else f"repo:{entry}"


def repo_of_url(url: str | None) -> str:
    """`owner/name` from a GitHub API or web URL of something in a repository ('' if none)."""
    found = re.search(r"/repos/([^/]+/[^/?#]+)", url or "") or re.search(r"github\.com/([^/]+/[^/?#]+)", url or "")
    return found.group(1) if found else ""


def lockdown_text(trusted: bool, text: Any) -> Any:
    """The text itself, or the lockdown note when its author is not trusted."""
    return text if trusted or text is None else WITHHELD
