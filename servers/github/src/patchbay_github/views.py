"""GitHub's JSON as the GitHub tools' results: what is kept, and what lockdown withholds."""

from __future__ import annotations

from typing import Any

import mcp_types as types

from patchbay.untrusted import clean_untrusted
from patchbay_github import guard
from patchbay_github.models import Alert, Comment, Entry, Issue, PullRequest, Review, ReviewComment, WorkflowRun


def login(item: dict[str, Any]) -> str:
    """The login of whoever wrote `item` ('' when GitHub does not say)."""
    return str((item.get("user") or {}).get("login", ""))


def authors(items: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """(login, author_association) of each item, for lockdown."""
    return [(login(i), i.get("author_association")) for i in items]


def issue(data: dict[str, Any], trusted: set[str], repo: str | None = None) -> Issue:
    """An issue (or a pull request seen as one); title and body withheld unless its author is trusted."""
    ok = login(data) in trusted
    return Issue(
        number=data["number"],
        title=guard.lockdown_text(ok, data.get("title", "")),
        state=data.get("state", ""),
        author=login(data),
        author_association=data.get("author_association"),
        labels=[label["name"] for label in data.get("labels", []) if isinstance(label, dict)],
        comments=data.get("comments"),
        body=guard.lockdown_text(ok, data.get("body")),
        is_pull_request="pull_request" in data or "head" in data,
        html_url=data.get("html_url"),
        repo=repo or guard.repo_of_url(data.get("repository_url") or data.get("url")) or None,
    )


def pull(data: dict[str, Any], trusted: set[str], repo: str) -> PullRequest:
    """A pull request; title and body withheld unless its author is trusted."""
    return PullRequest(
        **issue(data, trusted, repo).model_dump(exclude={"is_pull_request"}),
        is_pull_request=True,
        head=data["head"]["label"],
        base=data["base"]["ref"],
        draft=bool(data.get("draft")),
        merged=bool(data.get("merged") or data.get("merged_at")),
        mergeable=data.get("mergeable"),
        head_sha=data["head"]["sha"],
    )


def comment(data: dict[str, Any], trusted: set[str]) -> Comment:
    """An issue comment; its body withheld unless its author is trusted."""
    body = guard.lockdown_text(login(data) in trusted, data.get("body") or "")
    return Comment(id=data["id"], author=login(data), author_association=data.get("author_association"), body=body)


def review(data: dict[str, Any], trusted: set[str]) -> Review:
    """A pull request review; its body withheld unless its author is trusted."""
    body = guard.lockdown_text(login(data) in trusted, data.get("body") or "")
    return Review(id=data["id"], author=login(data), state=data["state"], body=body)


def review_comment(data: dict[str, Any], trusted: set[str]) -> ReviewComment:
    """A review comment on a line; its body withheld unless its author is trusted."""
    body = guard.lockdown_text(login(data) in trusted, data.get("body") or "")
    return ReviewComment(id=data["id"], author=login(data), path=data["path"], body=body)


def workflow_run(data: dict[str, Any]) -> WorkflowRun:
    """A workflow run."""
    keys = ("id", "name", "status", "conclusion", "head_branch", "head_sha", "run_attempt", "html_url")
    return WorkflowRun(**{k: data.get(k) for k in keys})


def alert(kind: str, data: dict[str, Any]) -> Alert:
    """A code scanning, Dependabot or secret scanning alert: what it is about, never a secret's value."""
    if kind == "code-scanning":
        summary, severity = data["rule"].get("description") or data["rule"]["id"], data["rule"].get("severity")
    elif kind == "dependabot":
        summary, severity = data["security_advisory"]["summary"], data["security_advisory"].get("severity")
    else:
        summary, severity = data.get("secret_type_display_name") or data.get("secret_type", ""), None
    return Alert(
        number=data["number"], state=data["state"], summary=summary, severity=severity, html_url=data.get("html_url")
    )


def entry(data: dict[str, Any]) -> Entry:
    """A directory or tree entry (trees say `tree` and `blob`; listings `dir` and `file`)."""
    kind = {"tree": "dir", "blob": "file"}.get(data["type"], data["type"])
    return Entry(path=data["path"], type=kind, size=data.get("size"))


def listing(entries: list[Entry]) -> types.CallToolResult:
    """A directory as a result: one line per entry for the model, the entries as structured content."""
    lines = [f"{e.type}\t{e.size if e.size is not None else ''}\t{clean_untrusted(e.path)}" for e in entries]
    structured = {"entries": [e.model_dump() for e in entries]}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text="\n".join(lines) or "(empty)")], structured_content=structured
    )


def cleaned_block(block: Any) -> Any:
    """A text block of a file, cleaned of hidden text like any text written by others."""
    if isinstance(block, types.TextContent):
        return block.model_copy(update={"text": clean_untrusted(block.text)})
    return block
