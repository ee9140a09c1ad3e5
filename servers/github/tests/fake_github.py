"""A stateful fake GitHub REST API on the base's fake-service harness, for PyGithub over loopback.

It keeps repositories (files per commit, branches, tags, git blobs/trees/commits), issues,
pull requests (files, reviews, review comments, status checks), comments, search, Actions
runs/jobs/logs, code/Dependabot/secret scanning alerts, collaborators' permissions, users
and tokens (with the classic-token scopes GitHub reports in `X-OAuth-Scopes`). List
endpoints page with `per_page`/`page` and a `Link` header on the fake's own host:port.

Every object it sends starts from the official description's own example
(`components/examples`) with the fake's state written over it, and with a contract
(`github_contract()`) every request and answer is checked against that description, so the
fake cannot invent or drop fields.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from patchbay.fake_contracts import OpenAPIContract, github_contract, github_description_path
from patchbay.fakes import FakeRequest, FakeService, Response, json_response, route, text_response

NOW = "2026-01-02T03:04:05Z"
DOCS = "https://docs.github.com/rest"
LOG_HOST_PREFIX = "/_logs/"
"""Where the fake serves job logs, standing in for the storage host GitHub redirects log downloads to."""


@functools.lru_cache(maxsize=1)
def _examples() -> dict[str, Any]:
    with open(github_description_path(), encoding="utf-8") as file:
        return json.load(file)["components"]["examples"]  # type: ignore[no-any-return]


_LISTS = {"repository": "repository-items-default-response"}


def example(name: str) -> Any:
    """A fresh copy of an official example object (the first of a list example for some)."""
    if name in _LISTS:
        return copy.deepcopy(_examples()[_LISTS[name]]["value"][0])
    return copy.deepcopy(_examples()[name]["value"])


def blob_sha(data: bytes) -> str:
    """The git object id of a blob, as git computes it."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _sha(*parts: Any) -> str:
    return hashlib.sha1(json.dumps(parts, default=str).encode(), usedforsecurity=False).hexdigest()


class GitHubContract:
    """`github_contract()`, and the one answer its discriminator cannot place: a directory listing.

    The description's `GET /repos/{owner}/{repo}/contents/{path}` answer is a `oneOf` with a
    discriminator on `type`, which a list (`content-directory`) does not have, so every
    directory listing fails it. Such a listing is checked against `content-directory` itself.
    """

    def __init__(self, contract: OpenAPIContract | None = None) -> None:
        self.contract = contract or github_contract()

    def check_request(self, request: FakeRequest) -> list[str]:
        if LOG_HOST_PREFIX in request.path:
            return []  # the log download host is not part of the REST API
        return self.contract.check_request(request)

    def check_response(self, request: FakeRequest, response: Response) -> list[str]:
        if LOG_HOST_PREFIX in request.path:
            return []
        found = self.contract.check_response(request, response)
        if str(request.route).endswith("/repos/{owner}/{repo}/contents/{path:path}") and response.body.startswith(b"["):
            return self._directory(request, response)
        return found

    def _directory(self, request: FakeRequest, response: Response) -> list[str]:
        from openapi_schema_validator import OAS30ReadValidator, OAS30Validator

        from patchbay.fake_contracts import undeclared_fields

        description: Any = self.contract._description
        schema = {"$ref": "#/components/schemas/content-directory", "components": description["components"]}
        validator = OAS30ReadValidator(schema, format_checker=OAS30Validator.FORMAT_CHECKER)
        what = f"GitHub {request.method} {request.path} → {response.status} body"
        found = [f"{what} {list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(response.json())]
        item = description["components"]["schemas"]["content-directory"]
        found += [f"{what} {m}" for m in undeclared_fields(response.json(), item, self.contract._resolve)]
        return found


@dataclass
class Commit:
    sha: str
    message: str
    files: dict[str, bytes]
    parents: list[str]
    author: str

    @property
    def tree(self) -> str:
        return _sha("tree", sorted((p, blob_sha(d)) for p, d in self.files.items()))


@dataclass
class Item:
    """An issue or a pull request (they share numbers, as on GitHub)."""

    number: int
    title: str
    body: str | None
    author: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    association: str = "NONE"
    closed_at: str | None = None
    state_reason: str | None = None
    # pull requests only
    head: str | None = None
    base: str | None = None
    draft: bool = False
    merged: bool = False
    merge_sha: str | None = None
    reviews: list[dict[str, Any]] = field(default_factory=list)
    review_comments: list[dict[str, Any]] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)

    @property
    def is_pull(self) -> bool:
        return self.head is not None


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    private: bool = False
    description: str | None = None
    default_branch: str = "main"
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, dict[str, str]] = field(default_factory=dict)
    items: dict[int, Item] = field(default_factory=dict)
    collaborators: dict[str, str] = field(default_factory=dict)  # login -> admin|write|read
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    logs: dict[int, str] = field(default_factory=dict)
    code_alerts: list[dict[str, Any]] = field(default_factory=list)
    dependabot_alerts: list[dict[str, Any]] = field(default_factory=list)
    secret_alerts: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)  # sha -> success|failure|pending

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def head(self, ref: str | None = None) -> Commit | None:
        ref = ref or self.default_branch
        sha = self.branches.get(ref) or self.tags.get(ref) or ref
        return self.commits.get(sha) or next((c for s, c in self.commits.items() if s.startswith(ref)), None)


def _error(status: int, message: str) -> Response:
    return json_response(status, {"message": message, "documentation_url": DOCS})


def _not_found() -> Response:
    return _error(404, "Not Found")


class FakeGitHub(FakeService):
    """The fake; `add_repo`, `add_file`, `add_issue`, ... build its state (see `seed`)."""

    def __init__(self, *, seeded: bool = False, prefix: str = "", **options: Any) -> None:
        """`seeded`: `reset()` (and so `clear()`) puts back the world of `seed()` rather than nothing.
        `prefix`: serve the API under a path, as GitHub Enterprise Server does (`/api/v3`)."""
        self.prefix = prefix.rstrip("/")
        super().__init__(name="github", **options)
        self.seeded = seeded
        self.mangle_writes = False  # store other bytes than PUT sent (a write that is not what it seems)
        self.repos: dict[str, Repo] = {}
        self.users: dict[str, int] = {}
        self.tokens: dict[str, tuple[str, str | None]] = {}  # token -> (login, classic scopes or None)
        self._ids = itertools.count(1000)

    # -- building state -------------------------------------------------------------------------

    def reset(self) -> None:
        self.repos.clear()
        self.users.clear()
        self.tokens.clear()
        self.mangle_writes = False
        if self.seeded:
            seed(self)

    def add_user(self, login: str) -> str:
        self.users.setdefault(login, next(self._ids))
        return login

    def add_token(self, token: str, login: str, scopes: str | None = "repo, read:org, workflow") -> None:
        """A token of `login`; `scopes` as a classic token reports them, None for a fine-grained one."""
        self.add_user(login)
        self.tokens[token] = (login, scopes)

    def add_repo(self, full_name: str, *, private: bool = False, description: str | None = None) -> Repo:
        owner, name = full_name.split("/")
        self.add_user(owner)
        repo = Repo(owner, name, next(self._ids), private=private, description=description)
        repo.collaborators[owner] = "admin"
        self.repos[full_name.lower()] = repo
        self.commit(repo, "main", {"README.md": f"# {name}\n".encode()}, "Initial commit", owner)
        return repo

    def commit(
        self, repo: Repo, branch: str, changes: dict[str, bytes | None], message: str, author: str = "octocat"
    ) -> Commit:
        parent = repo.commits.get(repo.branches.get(branch, ""))
        files = dict(parent.files) if parent else {}
        for path, data in changes.items():
            if data is None:
                files.pop(path, None)
            else:
                files[path] = data
        return self._store_commit(repo, branch, files, message, [parent.sha] if parent else [], author)

    def _store_commit(
        self, repo: Repo, branch: str | None, files: dict[str, bytes], message: str, parents: list[str], author: str
    ) -> Commit:
        sha = _sha(repo.full_name, sorted(files.items()), message, parents, next(self._ids))
        commit = Commit(sha, message, files, parents, author)
        repo.commits[sha] = commit
        for data in files.values():
            repo.blobs[blob_sha(data)] = data
        repo.trees[commit.tree] = {p: blob_sha(d) for p, d in files.items()}
        if branch is not None:
            repo.branches[branch] = sha
        return commit

    def add_file(self, full_name: str, path: str, data: bytes | str, branch: str = "main") -> Commit:
        repo = self.repos[full_name.lower()]
        raw = data.encode() if isinstance(data, str) else data
        return self.commit(repo, branch, {path: raw}, f"Add {path}")

    def add_issue(
        self, full_name: str, title: str, body: str | None = None, *, author: str = "octocat", **more: Any
    ) -> Item:
        repo = self.repos[full_name.lower()]
        self.add_user(author)
        item = Item(len(repo.items) + 1, title, body, author, association=self._association(repo, author), **more)
        repo.items[item.number] = item
        return item

    def add_comment(self, full_name: str, number: int, body: str, *, author: str = "octocat") -> dict[str, Any]:
        repo = self.repos[full_name.lower()]
        self.add_user(author)
        comment = {"id": next(self._ids), "body": body, "user": author, "association": self._association(repo, author)}
        repo.items[number].comments.append(comment)
        return comment

    def add_pull(self, full_name: str, title: str, head: str, base: str = "main", **more: Any) -> Item:
        return self.add_issue(full_name, title, head=head, base=base, **more)

    def add_run(
        self,
        full_name: str,
        name: str = "CI",
        *,
        conclusion: str = "failure",
        log: str = "",
        run_id: int | None = None,
        job_id: int | None = None,
    ) -> dict[str, Any]:
        repo = self.repos[full_name.lower()]
        run_id = run_id or next(self._ids)
        head = repo.head()
        assert head is not None
        run = {"id": run_id, "name": name, "conclusion": conclusion, "head_sha": head.sha, "attempt": 1}
        repo.runs[run_id] = run
        job_id = job_id or next(self._ids)
        repo.jobs[job_id] = {"id": job_id, "run_id": run_id, "name": "build", "conclusion": conclusion}
        repo.logs[job_id] = log
        return run

    def _association(self, repo: Repo, login: str) -> str:
        if login == repo.owner:
            return "OWNER"
        return "COLLABORATOR" if login in repo.collaborators else "NONE"

    # -- plumbing ---------------------------------------------------------------------------------

    def add_route(self, method: str, pattern: str, handler: Any) -> None:
        super().add_route(method, self.prefix + pattern, handler)

    @property
    def api_url(self) -> str:
        """The API root to give a client: the fake's URL and its prefix."""
        return self.url + self.prefix

    def not_found(self, request: FakeRequest) -> Response:
        return _not_found()

    def _who(self, request: FakeRequest) -> tuple[str, str | None] | None:
        auth = request.headers.get("authorization", "")
        token = auth.split(" ", 1)[1] if " " in auth else ""
        return self.tokens.get(token)

    def _repo(self, request: FakeRequest) -> Repo | None:
        repo = self.repos.get(f"{request.params['owner']}/{request.params['repo']}".lower())
        if repo is None:
            return None
        who = self._who(request)
        if repo.private and (who is None or who[0] not in repo.collaborators):
            return None
        return repo

    def _page(self, request: FakeRequest, items: list[Any], wrap: Callable[[list[Any]], Any] | None = None) -> Response:
        per_page = min(100, int(request.arg("per_page") or 30))
        page = max(1, int(request.arg("page") or 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        last = max(1, -(-len(items) // per_page))
        links = []
        if page < last:
            links.append((page + 1, "next"))
            links.append((last, "last"))
        if page > 1:
            links.append((1, "first"))
            links.append((page - 1, "prev"))
        if links:
            base = {k: v[0] for k, v in request.query.items() if k != "page"}
            headers["Link"] = ", ".join(
                f'<{self.url}{request.path}?{urlencode({**base, "page": n})}>; rel="{rel}"' for n, rel in links
            )
        return json_response(200, wrap(chunk) if wrap else chunk, headers)

    def _api(self, full_name: str, tail: str = "") -> str:
        return f"{self.api_url}/repos/{full_name}{tail}"

    # -- rendering --------------------------------------------------------------------------------

    def user(self, login: str) -> dict[str, Any]:
        user = example("simple-user")
        user.update(
            login=login,
            id=self.users.get(login, 1),
            node_id=f"U_{login}",
            url=f"{self.api_url}/users/{login}",
            html_url=f"https://github.com/{login}",
            type="User",
            site_admin=False,
            user_view_type="public",
        )
        return user

    def repository(self, repo: Repo, kind: str = "full-repository") -> dict[str, Any]:
        data = example(kind)
        for nested in ("template_repository", "parent", "source", "organization"):
            data.pop(nested, None)
        data.update(
            id=repo.id,
            node_id=f"R_{repo.id}",
            name=repo.name,
            full_name=repo.full_name,
            owner=self.user(repo.owner),
            private=repo.private,
            visibility="private" if repo.private else "public",
            description=repo.description,
            default_branch=repo.default_branch,
            url=self._api(repo.full_name),
            html_url=f"https://github.com/{repo.full_name}",
            fork=False,
            language="Python",
            open_issues_count=sum(1 for i in repo.items.values() if i.state == "open"),
        )
        if kind == "full-repository":
            data["open_issues"] = data["open_issues_count"]
            data["has_discussions"] = False
        else:
            for extra in ("network_count", "subscribers_count"):
                data.pop(extra, None)
        if "license" in data and data["license"] is not None:
            data["license"] = None
        return data

    def issue(self, repo: Repo, item: Item) -> dict[str, Any]:
        data = example("issue")
        data.pop("pinned_comment", None)
        data.update(
            id=repo.id * 1000 + item.number,
            node_id=f"I_{repo.id}_{item.number}",
            number=item.number,
            title=item.title,
            body=item.body,
            user=self.user(item.author),
            state=item.state,
            state_reason=item.state_reason,
            labels=[self._label(name) for name in item.labels],
            assignee=self.user(item.assignees[0]) if item.assignees else None,
            assignees=[self.user(a) for a in item.assignees],
            milestone=None,
            comments=len(item.comments),
            closed_at=item.closed_at,
            closed_by=None,
            author_association=item.association,
            url=self._api(repo.full_name, f"/issues/{item.number}"),
            repository_url=self._api(repo.full_name),
            html_url=f"https://github.com/{repo.full_name}/issues/{item.number}",
            created_at=NOW,
            updated_at=NOW,
            locked=False,
            active_lock_reason=None,
        )
        if item.state_reason is None:
            del data["state_reason"]
        if item.is_pull:
            data["pull_request"] = {
                "url": self._api(repo.full_name, f"/pulls/{item.number}"),
                "html_url": f"https://github.com/{repo.full_name}/pull/{item.number}",
                "diff_url": f"https://github.com/{repo.full_name}/pull/{item.number}.diff",
                "patch_url": f"https://github.com/{repo.full_name}/pull/{item.number}.patch",
                "merged_at": NOW if item.merged else None,
            }
        else:
            data.pop("pull_request", None)
        return data

    def _label(self, name: str) -> dict[str, Any]:
        label = example("label")
        label.update(name=name, id=abs(hash(name)) % 10**9, node_id=f"L_{name}", description=None, default=False)
        return label

    def comment(self, repo: Repo, item: Item, comment: dict[str, Any]) -> dict[str, Any]:
        data = example("issue-comment")
        for optional in ("pin", "minimized"):
            data.pop(optional, None)
        data.update(
            id=comment["id"],
            node_id=f"IC_{comment['id']}",
            body=comment["body"],
            user=self.user(comment["user"]),
            author_association=comment["association"],
            url=self._api(repo.full_name, f"/issues/comments/{comment['id']}"),
            issue_url=self._api(repo.full_name, f"/issues/{item.number}"),
            html_url=f"https://github.com/{repo.full_name}/issues/{item.number}#issuecomment-{comment['id']}",
            created_at=NOW,
            updated_at=NOW,
        )
        return data

    def _branch_end(self, repo: Repo, branch: str) -> dict[str, Any]:
        sha = repo.branches.get(branch) or (repo.head(branch).sha if repo.head(branch) else "0" * 40)  # type: ignore[union-attr]
        return {
            "label": f"{repo.owner}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": self.user(repo.owner),
            "repo": self.repository(repo, "repository"),
        }

    def pull(self, repo: Repo, item: Item, kind: str = "pull-request") -> dict[str, Any]:
        data = example(kind)
        assert item.head is not None and item.base is not None
        links = {
            name: {"href": self._api(repo.full_name, f"/pulls/{item.number}")}
            for name in (
                "self",
                "html",
                "issue",
                "comments",
                "review_comments",
                "review_comment",
                "commits",
                "statuses",
            )
        }
        data.update(
            id=repo.id * 1000 + item.number,
            node_id=f"PR_{repo.id}_{item.number}",
            number=item.number,
            title=item.title,
            body=item.body,
            user=self.user(item.author),
            state="closed" if item.merged else item.state,
            labels=[self._label(name) for name in item.labels],
            assignee=None,
            assignees=[],
            milestone=None,
            requested_reviewers=[self.user(r) for r in item.reviewers],
            requested_teams=[],
            head=self._branch_end(repo, item.head),
            base=self._branch_end(repo, item.base),
            draft=item.draft,
            author_association=item.association,
            auto_merge=None,
            merged_at=NOW if item.merged else None,
            merge_commit_sha=item.merge_sha,
            closed_at=item.closed_at,
            url=self._api(repo.full_name, f"/pulls/{item.number}"),
            html_url=f"https://github.com/{repo.full_name}/pull/{item.number}",
            created_at=NOW,
            updated_at=NOW,
            locked=False,
            active_lock_reason=None,
            _links=links,
        )
        if kind == "pull-request":
            files = self._diff(repo, item.base, item.head)
            data.update(
                merged=item.merged,
                mergeable=not item.merged and item.state == "open",
                rebaseable=True,
                mergeable_state="clean",
                merged_by=self.user(repo.owner) if item.merged else None,
                comments=len(item.comments),
                review_comments=len(item.review_comments),
                commits=1,
                additions=sum(f["additions"] for f in files),
                deletions=sum(f["deletions"] for f in files),
                changed_files=len(files),
                maintainer_can_modify=False,
            )
        return data

    def _diff(self, repo: Repo, base: str, head: str) -> list[dict[str, Any]]:
        old, new = repo.head(base), repo.head(head)
        if old is None or new is None:
            return []
        files = []
        for path in sorted(set(old.files) | set(new.files)):
            before, after = old.files.get(path), new.files.get(path)
            if before == after:
                continue
            removed = before.decode(errors="replace").splitlines() if before else []
            added = after.decode(errors="replace").splitlines() if after else []
            patch = "\n".join([f"@@ -1,{len(removed)} +1,{len(added)} @@", *(f"-{r}" for r in removed)])
            patch += "\n" + "\n".join(f"+{a}" for a in added)
            status = "added" if before is None else "removed" if after is None else "modified"
            files.append(
                {
                    "sha": blob_sha(after or before or b""),
                    "filename": path,
                    "status": status,
                    "additions": len(added),
                    "deletions": len(removed),
                    "changes": len(added) + len(removed),
                    "blob_url": f"https://github.com/{repo.full_name}/blob/{new.sha}/{path}",
                    "raw_url": f"https://github.com/{repo.full_name}/raw/{new.sha}/{path}",
                    "contents_url": self._api(repo.full_name, f"/contents/{path}?ref={new.sha}"),
                    "patch": patch,
                }
            )
        return files

    def commit_summary(self, repo: Repo, commit: Commit, *, files: bool = False) -> dict[str, Any]:
        data = example("commit")
        signature = {"name": commit.author, "email": f"{commit.author}@example.com", "date": NOW}
        data.update(
            sha=commit.sha,
            node_id=f"C_{commit.sha[:10]}",
            url=self._api(repo.full_name, f"/commits/{commit.sha}"),
            html_url=f"https://github.com/{repo.full_name}/commit/{commit.sha}",
            comments_url=self._api(repo.full_name, f"/commits/{commit.sha}/comments"),
            author=self.user(commit.author),
            committer=self.user(commit.author),
            parents=[
                {"sha": p, "url": self._api(repo.full_name, f"/commits/{p}"), "html_url": f"https://github.com/{p}"}
                for p in commit.parents
            ],
        )
        data["commit"].update(
            message=commit.message,
            author=signature,
            committer=signature,
            url=self._api(repo.full_name, f"/git/commits/{commit.sha}"),
            tree={"sha": commit.tree, "url": self._api(repo.full_name, f"/git/trees/{commit.tree}")},
            comment_count=0,
        )
        if files:
            parent = repo.commits.get(commit.parents[0]) if commit.parents else None
            changed = self._diff_commits(repo, parent, commit)
            data["files"] = changed
            added = sum(f["additions"] for f in changed)
            deleted = sum(f["deletions"] for f in changed)
            data["stats"] = {"additions": added, "deletions": deleted, "total": added + deleted}
        else:
            data.pop("files", None)
            data.pop("stats", None)
        return data

    def _diff_commits(self, repo: Repo, old: Commit | None, new: Commit) -> list[dict[str, Any]]:
        if old is None:
            empty = Commit("0" * 40, "", {}, [], "")
            repo.commits.setdefault(empty.sha, empty)
            old = empty
        return self._diff(repo, old.sha, new.sha)

    # -- users ------------------------------------------------------------------------------------

    @route("GET", "/user")
    def get_me(self, request: FakeRequest) -> Response:
        who = self._who(request)
        if who is None:
            return _error(401, "Requires authentication")
        data = example("private-user")
        data.update(self.user(who[0]))
        data.update(
            user_view_type="private",
            name=who[0].title(),
            email=None,
            bio=None,
            company=None,
            blog="",
            location=None,
            hireable=None,
        )
        data.pop("business_plus", None)
        data.pop("ldap_dn", None)
        headers = {"X-OAuth-Scopes": who[1]} if who[1] is not None else {}
        return json_response(200, data, headers)

    @route("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission")
    def permission(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        login = request.params["username"]
        permission = repo.collaborators.get(login, "read")
        data = example("repository-collaborator-permission-response-if-user-has-admin-permissions")
        user = self.user(login)
        user["permissions"] = {
            "pull": True,
            "push": permission in ("admin", "write"),
            "admin": permission == "admin",
            "triage": permission != "read",
            "maintain": permission == "admin",
        }
        user["role_name"] = permission
        data.update(permission=permission, role_name=permission, user=user)
        return json_response(200, data)

    # -- GitHub Apps ------------------------------------------------------------------------------

    @route("POST", "/app/installations/{installation_id}/access_tokens")
    def installation_token(self, request: FakeRequest) -> Response:
        """A fresh installation token for an App's JWT (which the fake checks only for its form)."""
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.count(".") != 2:
            return _error(401, "A JSON web token could not be decoded")
        number = next(self._ids)
        token = f"ghs_installation{number}"
        self.add_token(token, "patchbay-app[bot]", scopes=None)
        data = example("installation-token")
        data.pop("repositories", None)
        data.update(token=token, expires_at="2099-01-01T00:00:00Z")
        return json_response(201, data)

    # -- repositories and contents ----------------------------------------------------------------

    @route("GET", "/repos/{owner}/{repo}")
    def get_repo(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        return json_response(200, self.repository(repo)) if repo else _not_found()

    @route("GET", "/repos/{owner}/{repo}/contents/{path:path}")
    def get_contents(self, request: FakeRequest) -> Response:
        return self._contents(request, request.params.get("path", ""))

    @route("GET", "/repos/{owner}/{repo}/contents")
    def get_root(self, request: FakeRequest) -> Response:
        return self._contents(request, "")

    def _contents(self, request: FakeRequest, path: str) -> Response:
        repo = self._repo(request)
        commit = repo.head(request.arg("ref")) if repo else None
        if repo is None or commit is None:
            return _not_found()
        path = path.strip("/")
        if path in commit.files:
            return json_response(200, self._file_entry(repo, path, commit.files[path], content=True))
        prefix = f"{path}/" if path else ""
        children: dict[str, str] = {}
        for name in commit.files:
            if name.startswith(prefix):
                rest = name[len(prefix) :]
                children[rest.split("/")[0]] = "dir" if "/" in rest else "file"
        if not children:
            return _not_found()
        entries = []
        for child, kind in sorted(children.items()):
            full = prefix + child
            if kind == "file":
                entries.append(self._file_entry(repo, full, commit.files[full], content=False))
            else:
                entries.append(self._entry(repo, full, "dir", 0, _sha("dir", full)))
        return json_response(200, entries)

    def _entry(self, repo: Repo, path: str, kind: str, size: int, sha: str) -> dict[str, Any]:
        url = self._api(repo.full_name, f"/contents/{path}")
        html = f"https://github.com/{repo.full_name}/blob/main/{path}"
        git = self._api(repo.full_name, f"/git/blobs/{sha}")
        return {
            "type": kind,
            "size": size,
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "url": url,
            "git_url": git,
            "html_url": html,
            "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/main/{path}"
            if kind == "file"
            else None,
            "_links": {"self": url, "git": git, "html": html},
        }

    def _file_entry(self, repo: Repo, path: str, data: bytes, *, content: bool) -> dict[str, Any]:
        entry = self._entry(repo, path, "file", len(data), blob_sha(data))
        if content:
            entry["content"] = base64.b64encode(data).decode()
            entry["encoding"] = "base64"
        return entry

    @route("PUT", "/repos/{owner}/{repo}/contents/{path:path}")
    def put_contents(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        body = request.json()
        path = request.params["path"].strip("/")
        branch = body.get("branch") or repo.default_branch
        head = repo.head(branch)
        if head is None:
            return _error(404, "Branch not found")
        current = head.files.get(path)
        if current is not None and body.get("sha") != blob_sha(current):
            return _error(409, f"{path} does not match {body.get('sha')}")
        if current is None and body.get("sha"):
            return _error(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
        who = self._who(request)
        data = base64.b64decode(body["content"]) + (b"!" if self.mangle_writes else b"")
        commit = self.commit(repo, branch, {path: data}, body["message"], who[0] if who else "octocat")
        answer = example("file-commit")
        answer["content"] = self._file_entry(repo, path, data, content=False)
        answer["commit"].update(
            sha=commit.sha,
            message=commit.message,
            url=self._api(repo.full_name, f"/git/commits/{commit.sha}"),
            tree={"sha": commit.tree, "url": self._api(repo.full_name, f"/git/trees/{commit.tree}")},
            parents=[{"sha": p, "url": "", "html_url": ""} for p in commit.parents],
        )
        return json_response(201 if current is None else 200, answer)

    @route("GET", "/repos/{owner}/{repo}/git/trees/{sha}")
    def get_tree(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        commit = repo.head(request.params["sha"]) if repo else None
        tree = repo.trees.get(request.params["sha"]) if repo else None
        if repo is None or (commit is None and tree is None):
            return _not_found()
        tree_sha = commit.tree if commit else request.params["sha"]
        files = repo.trees[tree_sha]
        recursive = request.arg("recursive") not in (None, "", "0", "false")
        entries: list[dict[str, Any]] = []
        dirs = sorted({"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)})
        for path in sorted([*files, *dirs]):
            if not recursive and "/" in path:
                continue
            if path in files:
                entries.append(
                    {
                        "path": path,
                        "mode": "100644",
                        "type": "blob",
                        "sha": files[path],
                        "size": len(repo.blobs[files[path]]),
                        "url": self._api(repo.full_name, f"/git/blobs/{files[path]}"),
                    }
                )
            else:
                entries.append({"path": path, "mode": "040000", "type": "tree", "sha": _sha("dir", path)})
        data = {
            "sha": tree_sha,
            "url": self._api(repo.full_name, f"/git/trees/{tree_sha}"),
            "tree": entries,
            "truncated": False,
        }
        return json_response(200, data)

    @route("GET", "/repos/{owner}/{repo}/branches")
    def list_branches(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        items = [
            {
                "name": name,
                "commit": {"sha": sha, "url": self._api(repo.full_name, f"/commits/{sha}")},
                "protected": False,
            }
            for name, sha in sorted(repo.branches.items())
        ]
        return self._page(request, items)

    @route("GET", "/repos/{owner}/{repo}/tags")
    def list_tags(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        items = [
            {
                "name": name,
                "commit": {"sha": sha, "url": self._api(repo.full_name, f"/commits/{sha}")},
                "zipball_url": f"https://github.com/{repo.full_name}/zipball/{name}",
                "tarball_url": f"https://github.com/{repo.full_name}/tarball/{name}",
                "node_id": f"T_{name}",
            }
            for name, sha in sorted(repo.tags.items())
        ]
        return self._page(request, items)

    @route("GET", "/repos/{owner}/{repo}/commits")
    def list_commits(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        commit = repo.head(request.arg("sha")) if repo else None
        if repo is None or commit is None:
            return _not_found()
        chain = []
        while commit is not None:
            if not request.arg("path") or any(p.startswith(request.arg("path") or "") for p in commit.files):
                chain.append(self.commit_summary(repo, commit))
            commit = repo.commits.get(commit.parents[0]) if commit.parents else None
        return self._page(request, chain)

    @route("GET", "/repos/{owner}/{repo}/commits/{ref}")
    def get_commit(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        commit = repo.head(request.params["ref"]) if repo else None
        if repo is None or commit is None:
            return _error(422, "No commit found for SHA: " + request.params["ref"])
        return json_response(200, self.commit_summary(repo, commit, files=True))

    @route("GET", "/repos/{owner}/{repo}/compare/{basehead}")
    def compare(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        base, _, head = request.params["basehead"].partition("...")
        old = repo.head(base) if repo else None
        new = repo.head(head) if repo else None
        if repo is None or old is None or new is None:
            return _not_found()
        data = example("commit-comparison")
        chain = []
        commit: Commit | None = new
        while commit is not None and commit.sha != old.sha:
            chain.append(commit)
            commit = repo.commits.get(commit.parents[0]) if commit.parents else None
        data.update(
            status="identical" if old.sha == new.sha else "ahead",
            ahead_by=len(chain),
            behind_by=0,
            total_commits=len(chain),
            base_commit=self.commit_summary(repo, old),
            merge_base_commit=self.commit_summary(repo, old),
            commits=[self.commit_summary(repo, c) for c in reversed(chain)],
            files=self._diff(repo, old.sha, new.sha),
            url=self._api(repo.full_name, f"/compare/{base}...{head}"),
        )
        return json_response(200, data)

    @route("GET", "/repos/{owner}/{repo}/commits/{ref}/status")
    def combined_status(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        commit = repo.head(request.params["ref"]) if repo else None
        if repo is None or commit is None:
            return _not_found()
        data = example("combined-commit-status")
        state = repo.statuses.get(commit.sha)
        statuses = data["statuses"][:1] if state else []
        for status in statuses:
            status.update(state=state, context="ci/fake", description=f"CI {state}")
        data.update(
            sha=commit.sha,
            state=state or "pending",
            statuses=statuses,
            total_count=len(statuses),
            repository=self.repository(repo, "minimal-repository"),
        )
        return json_response(200, data)

    @route("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs")
    def check_runs(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        commit = repo.head(request.params["ref"]) if repo else None
        if repo is None or commit is None:
            return _not_found()
        runs = []
        for run in repo.runs.values():
            if run["head_sha"] == commit.sha:
                check = example("check-run")
                check.update(id=run["id"], name=run["name"], head_sha=commit.sha, conclusion=run["conclusion"])
                check["status"] = "completed"
                check["pull_requests"] = []
                check["app"] = None
                runs.append(check)
        return json_response(200, {"total_count": len(runs), "check_runs": runs})

    # -- git data ---------------------------------------------------------------------------------

    @route("GET", "/repos/{owner}/{repo}/git/ref/{ref:path}")
    def get_ref(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        ref = request.params["ref"]
        name = ref.removeprefix("heads/")
        if repo is None or name not in repo.branches:
            return _not_found()
        return json_response(200, self._ref(repo, name))

    def _ref(self, repo: Repo, branch: str) -> dict[str, Any]:
        sha = repo.branches[branch]
        return {
            "ref": f"refs/heads/{branch}",
            "node_id": f"REF_{branch}",
            "url": self._api(repo.full_name, f"/git/refs/heads/{branch}"),
            "object": {"type": "commit", "sha": sha, "url": self._api(repo.full_name, f"/git/commits/{sha}")},
        }

    @route("POST", "/repos/{owner}/{repo}/git/refs")
    def create_ref(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        body = request.json()
        name = str(body["ref"]).removeprefix("refs/heads/")
        if name in repo.branches:
            return _error(422, "Reference already exists")
        if body["sha"] not in repo.commits:
            return _error(422, "Object does not exist")
        repo.branches[name] = body["sha"]
        return json_response(201, self._ref(repo, name))

    @route("PATCH", "/repos/{owner}/{repo}/git/refs/{ref:path}")
    def update_ref(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        name = request.params["ref"].removeprefix("heads/")
        if repo is None or name not in repo.branches:
            return _not_found()
        body = request.json()
        new = repo.commits.get(body["sha"])
        if new is None:
            return _error(422, "Object does not exist")
        if not body.get("force") and repo.branches[name] not in new.parents:
            return _error(422, "Update is not a fast forward")
        repo.branches[name] = new.sha
        return json_response(200, self._ref(repo, name))

    @route("DELETE", "/repos/{owner}/{repo}/git/refs/{ref:path}")
    def delete_ref(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        name = request.params["ref"].removeprefix("heads/")
        if repo is None or name not in repo.branches:
            return _error(422, "Reference does not exist")
        del repo.branches[name]
        return Response(204)

    @route("POST", "/repos/{owner}/{repo}/git/blobs")
    def create_blob(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        body = request.json()
        data = base64.b64decode(body["content"]) if body.get("encoding") == "base64" else body["content"].encode()
        sha = blob_sha(data)
        repo.blobs[sha] = data
        return json_response(201, {"sha": sha, "url": self._api(repo.full_name, f"/git/blobs/{sha}")})

    @route("POST", "/repos/{owner}/{repo}/git/trees")
    def create_tree(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        body = request.json()
        files = dict(repo.trees.get(body.get("base_tree") or "", {}))
        for entry in body["tree"]:
            if entry.get("content") is not None:
                data = str(entry["content"]).encode()
                repo.blobs[blob_sha(data)] = data
                files[entry["path"]] = blob_sha(data)
            elif entry.get("sha") is None:
                files.pop(entry["path"], None)
            else:
                files[entry["path"]] = entry["sha"]
        sha = _sha("tree", sorted(files.items()))
        repo.trees[sha] = files
        request.params["sha"] = sha
        answer = self.get_tree(request).json()
        return json_response(201, answer)

    @route("POST", "/repos/{owner}/{repo}/git/commits")
    def create_git_commit(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        body = request.json()
        tree = repo.trees.get(body["tree"])
        if tree is None:
            return _error(422, "Tree not found")
        who = self._who(request)
        files = {path: repo.blobs[sha] for path, sha in tree.items()}
        commit = self._store_commit(
            repo, None, files, body["message"], list(body.get("parents", [])), who[0] if who else "x"
        )
        return json_response(201, self._git_commit(repo, commit))

    @route("GET", "/repos/{owner}/{repo}/git/commits/{sha}")
    def get_git_commit(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        commit = repo.commits.get(request.params["sha"]) if repo else None
        return json_response(200, self._git_commit(repo, commit)) if repo and commit else _not_found()

    def _git_commit(self, repo: Repo, commit: Commit) -> dict[str, Any]:
        data = example("git-commit")
        signature = {"name": commit.author, "email": f"{commit.author}@example.com", "date": NOW}
        data.update(
            sha=commit.sha,
            node_id=f"C_{commit.sha[:10]}",
            url=self._api(repo.full_name, f"/git/commits/{commit.sha}"),
            message=commit.message,
            author=signature,
            committer=signature,
            tree={"sha": commit.tree, "url": self._api(repo.full_name, f"/git/trees/{commit.tree}")},
            parents=[{"sha": p, "url": "", "html_url": ""} for p in commit.parents],
        )
        return data

    # -- issues -----------------------------------------------------------------------------------

    @route("GET", "/repos/{owner}/{repo}/issues")
    def list_issues(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        state = request.arg("state") or "open"
        labels = [x for x in (request.arg("labels") or "").split(",") if x]
        items = [
            self.issue(repo, item)
            for item in sorted(repo.items.values(), key=lambda i: -i.number)
            if (state == "all" or item.state == state) and all(label in item.labels for label in labels)
        ]
        return self._page(request, items)

    @route("POST", "/repos/{owner}/{repo}/issues")
    def create_issue(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        body = request.json()
        who = self._who(request)
        item = self.add_issue(
            repo.full_name,
            body["title"],
            body.get("body"),
            author=who[0] if who else "octocat",
            labels=list(body.get("labels", [])),
            assignees=list(body.get("assignees", [])),
        )
        return json_response(201, self.issue(repo, item))

    @route("GET", "/repos/{owner}/{repo}/issues/{number}")
    def get_issue(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        item = repo.items.get(int(request.params["number"])) if repo else None
        return json_response(200, self.issue(repo, item)) if repo and item else _not_found()

    @route("PATCH", "/repos/{owner}/{repo}/issues/{number}")
    def update_issue(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        item = repo.items.get(int(request.params["number"])) if repo else None
        if repo is None or item is None:
            return _not_found()
        body = request.json()
        for key in ("title", "body", "labels", "assignees", "state_reason"):
            if key in body:
                setattr(item, key, body[key])
        if "state" in body:
            item.state = body["state"]
            item.closed_at = NOW if item.state == "closed" else None
            if item.state == "closed" and not item.state_reason:
                item.state_reason = "completed"
        return json_response(200, self.issue(repo, item))

    @route("GET", "/repos/{owner}/{repo}/issues/{number}/comments")
    def list_comments(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        item = repo.items.get(int(request.params["number"])) if repo else None
        if repo is None or item is None:
            return _not_found()
        return self._page(request, [self.comment(repo, item, c) for c in item.comments])

    @route("POST", "/repos/{owner}/{repo}/issues/{number}/comments")
    def create_comment(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        item = repo.items.get(int(request.params["number"])) if repo else None
        if repo is None or item is None:
            return _not_found()
        who = self._who(request)
        comment = self.add_comment(repo.full_name, item.number, request.json()["body"], author=who[0] if who else "x")
        return json_response(201, self.comment(repo, item, comment))

    # -- pull requests ----------------------------------------------------------------------------

    def _pull(self, request: FakeRequest) -> tuple[Repo, Item] | None:
        repo = self._repo(request)
        item = repo.items.get(int(request.params["number"])) if repo else None
        if repo is None or item is None or not item.is_pull:
            return None
        return repo, item

    @route("GET", "/repos/{owner}/{repo}/pulls")
    def list_pulls(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        state = request.arg("state") or "open"
        items = [
            self.pull(repo, item, "pull-request-simple")
            for item in sorted(repo.items.values(), key=lambda i: -i.number)
            if item.is_pull and (state == "all" or (item.state if not item.merged else "closed") == state)
        ]
        return self._page(request, items)

    @route("POST", "/repos/{owner}/{repo}/pulls")
    def create_pull(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        body = request.json()
        if body["head"] not in repo.branches or body["base"] not in repo.branches:
            return _error(422, "Validation Failed")
        who = self._who(request)
        item = self.add_pull(
            repo.full_name,
            body["title"],
            body["head"],
            body["base"],
            body=body.get("body"),
            draft=bool(body.get("draft")),
            author=who[0] if who else "x",
        )
        return json_response(201, self.pull(repo, item))

    @route("GET", "/repos/{owner}/{repo}/pulls/{number}")
    def get_pull(self, request: FakeRequest) -> Response:
        found = self._pull(request)
        return json_response(200, self.pull(*found)) if found else _not_found()

    @route("PATCH", "/repos/{owner}/{repo}/pulls/{number}")
    def update_pull(self, request: FakeRequest) -> Response:
        found = self._pull(request)
        if found is None:
            return _not_found()
        repo, item = found
        body = request.json()
        for key in ("title", "body", "state", "base"):
            if key in body:
                setattr(item, key, body[key])
        if body.get("state") == "closed":
            item.closed_at = NOW
        return json_response(200, self.pull(repo, item))

    @route("GET", "/repos/{owner}/{repo}/pulls/{number}/files")
    def pull_files(self, request: FakeRequest) -> Response:
        found = self._pull(request)
        if found is None:
            return _not_found()
        repo, item = found
        assert item.base is not None and item.head is not None
        return self._page(request, self._diff(repo, item.base, item.head))

    @route("GET", "/repos/{owner}/{repo}/pulls/{number}/reviews")
    def list_reviews(self, request: FakeRequest) -> Response:
        found = self._pull(request)
        if found is None:
            return _not_found()
        repo, item = found
        return self._page(request, [self._review(repo, item, r) for r in item.reviews])

    def _review(self, repo: Repo, item: Item, review: dict[str, Any]) -> dict[str, Any]:
        data = example("pull-request-review")
        data.update(
            id=review["id"],
            node_id=f"PRR_{review['id']}",
            user=self.user(review["user"]),
            body=review["body"],
            state=review["state"],
            commit_id=review["commit_id"],
            author_association=review["association"],
            pull_request_url=self._api(repo.full_name, f"/pulls/{item.number}"),
            submitted_at=NOW,
        )
        return data

    @route("POST", "/repos/{owner}/{repo}/pulls/{number}/reviews")
    def create_review(self, request: FakeRequest) -> Response:
        found = self._pull(request)
        if found is None:
            return _not_found()
        repo, item = found
        body = request.json()
        who = self._who(request)
        login = who[0] if who else "x"
        states = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
        review = {
            "id": next(self._ids),
            "user": login,
            "body": body.get("body") or "",
            "state": states.get(body.get("event") or "", "PENDING"),
            "commit_id": repo.branches.get(item.head or "", "0" * 40),
            "association": self._association(repo, login),
        }
        item.reviews.append(review)
        return json_response(200, self._review(repo, item, review))

    @route("GET", "/repos/{owner}/{repo}/pulls/{number}/comments")
    def list_review_comments(self, request: FakeRequest) -> Response:
        found = self._pull(request)
        if found is None:
            return _not_found()
        repo, item = found
        comments = []
        for comment in item.review_comments:
            data = example("pull-request-review-comment")
            data.update(
                id=comment["id"],
                node_id=f"PRRC_{comment['id']}",
                body=comment["body"],
                path=comment["path"],
                user=self.user(comment["user"]),
                author_association=comment["association"],
                pull_request_url=self._api(repo.full_name, f"/pulls/{item.number}"),
            )
            comments.append(data)
        return self._page(request, comments)

    @route("POST", "/repos/{owner}/{repo}/pulls/{number}/requested_reviewers")
    def request_reviewers(self, request: FakeRequest) -> Response:
        found = self._pull(request)
        if found is None:
            return _not_found()
        repo, item = found
        for login in request.json().get("reviewers", []):
            if login not in self.users:
                return _error(422, "Reviews may only be requested from collaborators.")
            if login not in item.reviewers:
                item.reviewers.append(login)
        return json_response(201, self.pull(repo, item, "pull-request-simple"))

    @route("PUT", "/repos/{owner}/{repo}/pulls/{number}/merge")
    def merge(self, request: FakeRequest) -> Response:
        found = self._pull(request)
        if found is None:
            return _not_found()
        repo, item = found
        if item.merged or item.state != "open":
            return _error(405, "Pull Request is not mergeable")
        body = request.json() or {}
        assert item.head is not None and item.base is not None
        head = repo.head(item.head)
        if body.get("sha") and head is not None and body["sha"] != head.sha:
            return _error(409, "Head branch was modified. Review and try the merge again.")
        base = repo.head(item.base)
        assert head is not None and base is not None
        method = body.get("merge_method") or "merge"
        message = body.get("commit_title") or f"Merge pull request #{item.number}"
        parents = [base.sha, head.sha] if method == "merge" else [base.sha]
        commit = self._store_commit(repo, item.base, dict(head.files), message, parents, repo.owner)
        item.merged, item.merge_sha, item.state, item.closed_at = True, commit.sha, "closed", NOW
        return json_response(200, {"sha": commit.sha, "merged": True, "message": "Pull Request successfully merged"})

    # -- search -----------------------------------------------------------------------------------

    def _visible(self, request: FakeRequest) -> list[Repo]:
        who = self._who(request)
        return [r for r in self.repos.values() if not r.private or (who is not None and who[0] in r.collaborators)]

    @staticmethod
    def _query(q: str) -> tuple[dict[str, list[str]], list[str]]:
        qualifiers: dict[str, list[str]] = {}
        words = []
        for token in re.findall(r'\S+:"[^"]*"|"[^"]*"|\S+', q):
            key, sep, value = token.partition(":")
            if sep and key.isalpha():
                qualifiers.setdefault(key.lower(), []).append(value.strip('"').lower())
            else:
                words.append(token.strip('"').lower())
        return qualifiers, words

    @staticmethod
    def _scoped(repo: Repo, qualifiers: dict[str, list[str]]) -> bool:
        owners = qualifiers.get("org", []) + qualifiers.get("user", [])
        repos = qualifiers.get("repo", [])
        if not owners and not repos:
            return True
        return repo.owner.lower() in owners or repo.full_name.lower() in repos

    def _search(self, request: FakeRequest, items: list[Any], **extra: Any) -> Response:
        return self._page(
            request,
            items,
            lambda chunk: {"total_count": len(items), "incomplete_results": False, "items": chunk, **extra},
        )

    @route("GET", "/search/repositories")
    def search_repositories(self, request: FakeRequest) -> Response:
        qualifiers, words = self._query(request.arg("q") or "")
        found = []
        for repo in self._visible(request):
            text = f"{repo.full_name} {repo.description or ''}".lower()
            if self._scoped(repo, qualifiers) and all(w in text for w in words):
                data = self.repository(repo, "minimal-repository")
                for extra in ("network_count", "subscribers_count", "code_of_conduct", "security_and_analysis"):
                    data.pop(extra, None)
                data["score"] = 1.0
                data["watchers"] = data["forks"] = data["open_issues"] = 0
                data["has_discussions"] = False
                data["license"] = None
                found.append(data)
        return self._search(request, found)

    @route("GET", "/search/code")
    def search_code(self, request: FakeRequest) -> Response:
        qualifiers, words = self._query(request.arg("q") or "")
        found = []
        for repo in self._visible(request):
            head = repo.head()
            if head is None or not self._scoped(repo, qualifiers):
                continue
            for path, data in sorted(head.files.items()):
                text = data.decode(errors="replace").lower()
                if words and all(w in text for w in words):
                    found.append(
                        {
                            "name": path.rsplit("/", 1)[-1],
                            "path": path,
                            "sha": blob_sha(data),
                            "url": self._api(repo.full_name, f"/contents/{path}"),
                            "git_url": self._api(repo.full_name, f"/git/blobs/{blob_sha(data)}"),
                            "html_url": f"https://github.com/{repo.full_name}/blob/main/{path}",
                            "repository": self.repository(repo, "minimal-repository"),
                            "score": 1.0,
                        }
                    )
        return self._search(request, found)

    @route("GET", "/search/issues")
    def search_issues(self, request: FakeRequest) -> Response:
        qualifiers, words = self._query(request.arg("q") or "")
        kinds = set(qualifiers.get("is", [])) | set(qualifiers.get("type", []))
        found = []
        for repo in self._visible(request):
            if not self._scoped(repo, qualifiers):
                continue
            for item in sorted(repo.items.values(), key=lambda i: -i.number):
                if ("pr" in kinds or "pull-request" in kinds) and not item.is_pull:
                    continue
                if "issue" in kinds and item.is_pull:
                    continue
                state = "closed" if item.merged else item.state
                if ("open" in kinds and state != "open") or ("closed" in kinds and state != "closed"):
                    continue
                text = f"{item.title} {item.body or ''}".lower()
                if all(w in text for w in words):
                    data = self.issue(repo, item)
                    data["score"] = 1.0
                    data.pop("closed_by", None)
                    found.append(data)
        return self._search(request, found, search_type="lexical")

    # -- actions ----------------------------------------------------------------------------------

    def _run(self, repo: Repo, run: dict[str, Any]) -> dict[str, Any]:
        data = example("workflow-run")
        data.update(
            id=run["id"],
            name=run["name"],
            display_title=run["name"],
            node_id=f"WR_{run['id']}",
            head_sha=run["head_sha"],
            head_branch=repo.default_branch,
            status="completed",
            conclusion=run["conclusion"],
            run_attempt=run["attempt"],
            url=self._api(repo.full_name, f"/actions/runs/{run['id']}"),
            repository=self.repository(repo, "minimal-repository"),
            head_repository=self.repository(repo, "minimal-repository"),
            actor=self.user(repo.owner),
            triggering_actor=self.user(repo.owner),
            pull_requests=[],
            referenced_workflows=[],
        )
        data.pop("head_commit", None)
        data["head_commit"] = None
        return data

    @route("GET", "/repos/{owner}/{repo}/actions/runs")
    def list_runs(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        runs = [self._run(repo, r) for r in sorted(repo.runs.values(), key=lambda r: -int(r["id"]))]
        return self._page(request, runs, lambda chunk: {"total_count": len(runs), "workflow_runs": chunk})

    @route("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}")
    def get_run(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        run = repo.runs.get(int(request.params["run_id"])) if repo else None
        return json_response(200, self._run(repo, run)) if repo and run else _not_found()

    @route("POST", "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun")
    def rerun(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        run = repo.runs.get(int(request.params["run_id"])) if repo else None
        if repo is None or run is None:
            return _not_found()
        run["attempt"] += 1
        run["conclusion"] = None
        return json_response(201, {})

    def _job(self, repo: Repo, job: dict[str, Any]) -> dict[str, Any]:
        data = example("job")
        data.update(
            id=job["id"],
            run_id=job["run_id"],
            name=job["name"],
            node_id=f"J_{job['id']}",
            head_sha=repo.runs[job["run_id"]]["head_sha"],
            status="completed",
            conclusion=job["conclusion"],
            url=self._api(repo.full_name, f"/actions/jobs/{job['id']}"),
            run_url=self._api(repo.full_name, f"/actions/runs/{job['run_id']}"),
            created_at=NOW,
        )
        return data

    @route("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs")
    def list_jobs(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        if repo is None:
            return _not_found()
        run_id = int(request.params["run_id"])
        jobs = [self._job(repo, j) for j in repo.jobs.values() if j["run_id"] == run_id]
        return self._page(request, jobs, lambda chunk: {"total_count": len(jobs), "jobs": chunk})

    @route("GET", "/repos/{owner}/{repo}/actions/jobs/{job_id}/logs")
    def job_logs(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        job_id = int(request.params["job_id"])
        if repo is None or job_id not in repo.logs:
            return _not_found()
        return Response(302, b"", {"Location": f"{self.api_url}/_logs/{repo.full_name}/{job_id}"})

    @route("GET", "/_logs/{owner}/{repo}/{job_id}")
    def raw_logs(self, request: FakeRequest) -> Response:
        repo = self.repos.get(f"{request.params['owner']}/{request.params['repo']}".lower())
        log = repo.logs.get(int(request.params["job_id"])) if repo else None
        if log is None:
            return _not_found()
        wanted = request.headers.get("range", "")
        if wanted.startswith("bytes=-"):  # a suffix range: the tail
            data = log.encode()[-int(wanted[7:]) :]
            return Response(206, data, {"Content-Type": "text/plain; charset=utf-8"})
        return text_response(200, log)

    # -- security alerts --------------------------------------------------------------------------

    def add_alerts(self, full_name: str) -> None:
        repo = self.repos[full_name.lower()]
        code = example("code-scanning-alert")
        code.update(number=1, state="open")
        repo.code_alerts.append(code)
        # The open example cannot pass: openapi-core refuses null for its nullable-enum dismissed_reason.
        dependabot = example("dependabot-alert-dismissed")
        dependabot.update(number=1)
        dependabot.pop("assignees", None)
        dependabot["security_advisory"].pop("epss", None)
        repo.dependabot_alerts.append(dependabot)
        secret = example("secret-scanning-alert-open")
        secret.update(number=1, state="open", secret="ghp_" + "x" * 36)
        secret.pop("resolution", None)
        secret.pop("metadata", None)
        repo.secret_alerts.append(secret)

    @route("GET", "/repos/{owner}/{repo}/code-scanning/alerts")
    def code_alerts(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        return self._page(request, repo.code_alerts) if repo else _not_found()

    @route("GET", "/repos/{owner}/{repo}/dependabot/alerts")
    def dependabot_alerts(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        return self._page(request, repo.dependabot_alerts) if repo else _not_found()

    @route("GET", "/repos/{owner}/{repo}/secret-scanning/alerts")
    def secret_alerts(self, request: FakeRequest) -> Response:
        repo = self._repo(request)
        return self._page(request, repo.secret_alerts) if repo else _not_found()


def seed(fake: FakeGitHub, token: str = "ghp_test") -> FakeGitHub:
    """The world most tests use: octo-org/app (public), octo-org/secret (private), octo-org/site
    (public, where an outsider filed an issue carrying an injected instruction) and other/lib."""
    fake.add_token(token, "octocat")
    app = fake.add_repo("octo-org/app", description="The app")
    app.collaborators["octocat"] = "admin"
    fake.add_file("octo-org/app", "src/app.py", "print('hello')\n")
    fake.add_file("octo-org/app", "docs/guide.md", "# Guide\nUse the app.\n")
    app.branches["feature"] = app.branches["main"]
    fake.commit(app, "feature", {"src/app.py": b"print('hello, world')\n"}, "Greet the world", "octocat")
    app.tags["v1.0"] = app.branches["main"]
    secret = fake.add_repo("octo-org/secret", private=True, description="Private keys")
    secret.collaborators["octocat"] = "admin"
    fake.add_file("octo-org/secret", "keys.txt", "SECRET-KEY-123\n")
    site = fake.add_repo("octo-org/site", description="The public site")
    site.collaborators["octocat"] = "admin"
    fake.add_repo("other/lib", description="Someone else's library")
    fake.add_issue("octo-org/app", "Crash on start", "It crashes.", author="octocat", labels=["bug"])
    fake.add_comment("octo-org/app", 1, "Confirmed.", author="octocat")
    fake.add_pull("octo-org/app", "Greet the world", "feature", body="Says hello to the world.", author="octocat")
    fake.add_issue("other/lib", "Outside issue", "Nothing here", author="someone")
    app.statuses[app.branches["feature"]] = "success"
    log = "".join(f"step {i}\n" for i in range(1, 200)) + "FAILED: test_x\n"
    fake.add_run("octo-org/app", run_id=1, job_id=1, log=log)
    fake.add_alerts("octo-org/app")
    return fake


def settings_for(fake: FakeGitHub, **more: Any) -> dict[str, Any]:
    """The connector's settings pointed at `fake` (imported from here, not conftest: another folder's may win)."""
    return {
        "api_url": fake.url,
        "token": "ghp_test",
        "repos": "octo-org/app,octo-org/site",
        "seconds_between_writes": 0,
        "retry_max_wait_seconds": 2,
        **more,
    }
