"""What the GitHub tools return. Text written by others is `Untrusted` (cleaned of hidden text)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from patchbay.pagination import Paginated
from patchbay.untrusted import Untrusted


def _login(user: Any) -> str:
    return str(user.get("login")) if isinstance(user, dict) else ""


class Me(BaseModel):
    """The authenticated user, and what this connector may reach."""

    login: str
    name: Untrusted | None = None
    scopes: list[str] | None = Field(None, description="Classic-token scopes; null for fine-grained tokens and Apps.")
    allowed_repos: list[str] = Field(description="The repository allowlist (['*'] when every repository is allowed).")
    toolsets: list[str]
    lockdown: bool


class Repository(BaseModel):
    full_name: str
    private: bool
    description: Untrusted | None = None
    default_branch: str | None = None
    html_url: str | None = None
    open_issues: int | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Repository:
        return cls(
            full_name=data["full_name"],
            private=bool(data.get("private")),
            description=data.get("description"),
            default_branch=data.get("default_branch"),
            html_url=data.get("html_url"),
            open_issues=data.get("open_issues_count"),
        )


class RepositoriesFound(Paginated):
    items: list[Repository]
    withheld: str | None = Field(None, description="How many results outside the allowed repositories were left out.")


class Entry(BaseModel):
    """One entry of a directory or tree."""

    path: str
    type: str = Field(description="file, dir (tree), symlink or submodule.")
    size: int | None = None


class Tree(BaseModel):
    repo: str
    ref: str
    entries: list[Entry]
    truncated: bool = Field(description="True when the tree had more entries than were returned.")


class Named(BaseModel):
    """A branch or a tag."""

    name: str
    sha: str


class Commit(BaseModel):
    sha: str
    message: Untrusted
    author: str | None = None
    date: str | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Commit:
        inner = data.get("commit", {})
        return cls(
            sha=data["sha"],
            message=inner.get("message", ""),
            author=_login(data.get("author")) or inner.get("author", {}).get("name"),
            date=inner.get("author", {}).get("date"),
        )


class FileChange(BaseModel):
    filename: str
    status: str
    additions: int
    deletions: int


class Diff(BaseModel):
    """Changed files and their unified diff, cut at the connector's diff cap."""

    files: list[FileChange]
    diff: Untrusted
    diff_truncated: bool

    @classmethod
    def of(cls, files: list[dict[str, Any]], cap: int) -> Diff:
        parts = [f"--- {f['filename']} ({f['status']})\n{f.get('patch') or '(no textual diff)'}" for f in files]
        text = "\n".join(parts)
        encoded = text.encode()
        cut = len(encoded) > cap
        return cls(
            files=[FileChange(**{k: f[k] for k in ("filename", "status", "additions", "deletions")}) for f in files],
            diff=encoded[:cap].decode(errors="ignore") if cut else text,
            diff_truncated=cut,
        )


class CommitDetail(Commit):
    changes: Diff


class Comparison(BaseModel):
    status: str
    ahead_by: int
    behind_by: int
    commits: list[Commit]
    changes: Diff


class Issue(BaseModel):
    """An issue or pull request. Title and body are withheld under lockdown when the author cannot push."""

    number: int
    title: Untrusted
    state: str
    author: str
    author_association: str | None = None
    labels: list[str] = []
    comments: int | None = None
    body: Untrusted | None = None
    is_pull_request: bool = False
    html_url: str | None = None
    repo: str | None = None


class Comment(BaseModel):
    id: int
    author: str
    author_association: str | None = None
    body: Untrusted


class IssueWithComments(Paginated):
    """An issue and one page of its comments."""

    issue: Issue
    items: list[Comment] = Field(description="Comments of this page.")


class IssuesFound(Paginated):
    items: list[Issue]
    withheld: str | None = Field(None, description="How many results outside the allowed repositories were left out.")


class Review(BaseModel):
    id: int
    author: str
    state: str
    body: Untrusted


class ReviewComment(BaseModel):
    id: int
    author: str
    path: str
    body: Untrusted


class Check(BaseModel):
    name: str
    status: str | None = None
    conclusion: str | None = None


class PullRequest(Issue):
    head: str
    base: str
    draft: bool = False
    merged: bool = False
    mergeable: bool | None = None
    head_sha: str | None = None


class PullRequestDetail(BaseModel):
    pull_request: PullRequest
    changes: Diff
    reviews: list[Review]
    review_comments: list[ReviewComment]
    status: str | None = Field(None, description="Combined commit status of the head: success, failure or pending.")
    checks: list[Check]


class CodeMatch(BaseModel):
    repo: str
    path: str
    html_url: str | None = None


class CodeFound(Paginated):
    items: list[CodeMatch]
    withheld: str | None = None


class WorkflowRun(BaseModel):
    id: int
    name: Untrusted | None = None
    status: str | None = None
    conclusion: str | None = None
    head_branch: str | None = None
    head_sha: str | None = None
    run_attempt: int | None = None
    html_url: str | None = None


class Job(BaseModel):
    id: int
    name: Untrusted
    status: str | None = None
    conclusion: str | None = None


class JobLog(BaseModel):
    job_id: int
    log: Untrusted
    truncated: bool = Field(description="True when only the tail of a longer log is shown.")


class Alert(BaseModel):
    number: int
    state: str
    summary: Untrusted
    severity: str | None = None
    html_url: str | None = None


class Written(BaseModel):
    """What a write did on GitHub."""

    repo: str
    what: str
    number: int | None = None
    sha: str | None = None
    html_url: str | None = None


class Closed(BaseModel):
    repo: str
    numbers: list[int]
