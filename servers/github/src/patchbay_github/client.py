"""The thin wrapper over PyGithub: one `Github` per server, JSON in and out, Link pagination.

Every method blocks (PyGithub is synchronous): tools call them through
`upstream_of(ctx).call(...)`. Retries are urllib3's, configured by the base's policy
(`RetryPolicy.to_urllib3()`), so GitHub's primary and secondary rate limits are waited out
within the bound and reported as `RateLimited` beyond it. PyGithub is imported here, at
first use, never at start-up.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from patchbay.credentials import Credential, RefreshingCredential
from patchbay.errors import ToolError
from patchbay.redaction import Redactor
from patchbay.retry import RetryPolicy

if TYPE_CHECKING:
    from github import Github

    from patchbay_github.settings import GitHubSettings

_LINK = re.compile(r'<([^>]+)>;\s*rel="([^"]+)"')
PUSH_PERMISSIONS = frozenset({"admin", "maintain", "write"})


class GitHubError(Exception):
    """GitHub refused a call; `status` and GitHub's own message (mapped to a tool error)."""

    def __init__(self, status: int, message: str, what: str) -> None:
        super().__init__(f"{what}: GitHub answered {status}: {message}")
        self.status = status
        self.message = message
        self.what = what


def github_errors(exc: BaseException) -> str | None:
    """What the model reads when GitHub fails (an error mapper)."""
    if isinstance(exc, GitHubError):
        if exc.status == 404:
            return f"Not found on GitHub: {exc.what} (or the token cannot see it)."
        if exc.status in (401, 403):
            return f"GitHub refused {exc.what} ({exc.status}: {exc.message[:200]}); check the token's permissions."
        if exc.status in (409, 422):
            return f"GitHub did not accept {exc.what}: {exc.message[:300]}"
        return f"GitHub could not answer for {exc.what} (HTTP {exc.status}); try again later."
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "GithubException" in names:  # from PyGithub's own objects (files, git data)
        data = getattr(exc, "data", None)
        message = str(data.get("message", "")) if isinstance(data, dict) else ""
        return github_errors(GitHubError(int(getattr(exc, "status", 0) or 0), message, "the request"))
    if names & {"ConnectionError", "HTTPError", "MaxRetryError", "Timeout", "RequestException"}:
        return "Could not reach GitHub (the connection failed or was dropped); try again later."
    return None


def _app_credential(settings: GitHubSettings, policy: RetryPolicy, redactor: Redactor | None) -> RefreshingCredential:
    """Installation tokens of a GitHub App, refreshed by the base shortly before they expire."""
    from github import Auth, GithubIntegration

    key = settings.private_key()
    if key is None or settings.app_id is None or settings.app_installation_id is None:
        raise ToolError("A GitHub App needs PATCHBAY_GITHUB_APP_PRIVATE_KEY(_FILE) and APP_INSTALLATION_ID.")
    integration = GithubIntegration(
        auth=Auth.AppAuth(settings.app_id, key), base_url=settings.api_url, retry=policy.to_urllib3()
    )
    installation = settings.app_installation_id

    def refresh() -> Credential:
        token = integration.get_access_token(installation)
        return Credential(token.token, expires_at=token.expires_at.timestamp())

    return RefreshingCredential(
        "GitHub App installation token",
        refresh,
        reauthorize="patchbay-github (check the App's settings)",
        secrets=[key],
        redactor=redactor,
    )


def _auth(settings: GitHubSettings, policy: RetryPolicy, redactor: Redactor | None) -> Any:
    from github import Auth

    if settings.uses_app:
        credential = _app_credential(settings, policy, redactor)

        class InstallationToken(Auth.Auth):
            """A token read from the base's refreshing credential at each request."""

            @property
            def token_type(self) -> str:
                return "token"

            @property
            def token(self) -> str:
                return credential.get().value

        return InstallationToken()
    if settings.token is None:
        return None
    return Auth.Token(settings.token.get_secret_value())


class GitHub:
    """One GitHub API root, its PyGithub client, and what it learnt (push rights, visibility)."""

    def __init__(self, settings: GitHubSettings, redactor: Redactor | None = None) -> None:
        from github import Github

        policy = settings.retry_policy("GitHub")
        self.policy = policy
        self.base = settings.api_url.rstrip("/")
        self.gh: Github = Github(
            base_url=self.base,
            auth=_auth(settings, policy, redactor),
            retry=policy.to_urllib3(),
            timeout=30,
            seconds_between_requests=0,
            seconds_between_writes=settings.seconds_between_writes,
        )
        self._lock = threading.Lock()
        self._push: dict[tuple[str, str], bool] = {}
        self._private: dict[str, bool] = {}

    # -- requests -----------------------------------------------------------------------------

    def _call(self, verb: str, url: str, what: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        from github import GithubException

        try:
            headers, data = self.gh.requester.requestJsonAndCheck(verb, url, parameters=params, input=body)
        except GithubException as exc:
            if exc.status in (403, 429) and exc.headers and _is_rate_limit(exc.headers):
                raise  # the upstream helper turns it into RateLimited
            message = exc.data.get("message", "") if isinstance(exc.data, dict) else str(exc.data or "")
            raise GitHubError(exc.status, str(message), what) from None
        return headers, data

    def get(self, path: str, what: str, /, **params: Any) -> Any:
        """GET `path` (under the API root) and its JSON."""
        return self._call("GET", self.base + path, what, {k: v for k, v in params.items() if v is not None})[1]

    def send(self, verb: str, path: str, what: str, body: Any = None) -> Any:
        """A write: POST/PATCH/PUT/DELETE `path` with a JSON body; GitHub's JSON answer."""
        return self._call(verb, self.base + path, what, body=body)[1]

    def page(self, path: str, what: str, token: str | None, per_page: int, /, **params: Any) -> tuple[Any, str | None]:
        """One page of a list (GitHub's Link pagination): its JSON and the next page's URL, or None.

        `token` is a next URL this method returned before, sealed in a cursor by the base (so
        bound to the same tool call); it must lie under the API root, or it is refused. (GitHub's
        links name repositories by id, `/repositories/123/issues?page=2`, so the path may differ.)
        """
        if token is not None:
            if not token.startswith(self.base + "/"):
                raise ToolError("That cursor does not belong to this listing; start again without a cursor.")
            headers, data = self._call("GET", token, what)
        else:
            query = {"per_page": per_page, **{k: v for k, v in params.items() if v is not None}}
            headers, data = self._call("GET", self.base + path, what, query)
        return data, _next_link(headers)

    def raw_tail(self, url: str, limit: int) -> tuple[bytes, bool]:
        """The last `limit` bytes of a download URL GitHub redirected to (no token sent there)."""
        import urllib3

        pool = urllib3.PoolManager(retries=self.policy.to_urllib3(), timeout=urllib3.Timeout(connect=5, read=30))
        response = pool.request("GET", url, headers={"Range": f"bytes=-{limit + 1}"})
        if response.status >= 400:
            raise GitHubError(response.status, "log download failed", "the job's log")
        data: bytes = response.data
        return data[-limit:], len(data) > limit

    def redirect(self, path: str, what: str) -> str:
        """The `Location` GitHub answers a download endpoint with (e.g. job logs)."""
        from github import GithubException

        try:
            headers, _ = self.gh.requester.requestBlobAndCheck("GET", self.base + path)
        except GithubException as exc:
            raise GitHubError(exc.status, str(exc.data)[:200], what) from None
        location = _header(headers, "location")
        if not location:
            raise GitHubError(502, "no download location", what)
        return location

    # -- facts about the token and repositories ----------------------------------------------

    def me(self) -> tuple[dict[str, Any], list[str] | None]:
        """The authenticated user and the classic-token scopes GitHub reports (None: fine-grained or an App)."""
        headers, data = self._call("GET", self.base + "/user", "the authenticated user")
        scopes = _header(headers, "x-oauth-scopes")
        return data, None if scopes is None else [s.strip() for s in scopes.split(",") if s.strip()]

    def can_push(self, repo: str, login: str) -> bool:
        """Whether `login` has push access to `repo` (asked once per pair)."""
        key = (repo.lower(), login.lower())
        with self._lock:
            if key in self._push:
                return self._push[key]
        try:
            data = self.get(f"/repos/{repo}/collaborators/{quote(login)}/permission", f"{login}'s access to {repo}")
            allowed = str(data.get("permission")) in PUSH_PERMISSIONS
        except GitHubError:
            allowed = False  # unknown counts as no access: lockdown fails closed
        with self._lock:
            self._push[key] = allowed
        return allowed

    def is_private(self, repo: str) -> bool:
        """Whether `repo` is private or internal (asked once)."""
        key = repo.lower()
        with self._lock:
            if key in self._private:
                return self._private[key]
        data = self.get(f"/repos/{repo}", f"repository {repo}")
        return self.learn(data)

    def learn(self, repository: dict[str, Any]) -> bool:
        """Remember a repository's visibility from an answer that shows it; whether it is private."""
        private = bool(repository.get("private")) or repository.get("visibility") == "internal"
        with self._lock:
            self._private[str(repository.get("full_name", "")).lower()] = private
        return private


def _header(headers: Any, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def _is_rate_limit(headers: Any) -> bool:
    return _header(headers, "x-ratelimit-remaining") == "0" or _header(headers, "retry-after") is not None


def _next_link(headers: Any) -> str | None:
    link = _header(headers, "link")
    if not link:
        return None
    for url, rel in _LINK.findall(link):
        if rel == "next":
            return str(url)
    return None
