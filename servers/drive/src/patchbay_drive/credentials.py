"""Google credentials for Drive: a service account or a user's OAuth token, both refreshed by the base.

Either way the connector holds a `RefreshingCredential` (patchbay.credentials): the access
token is renewed silently shortly before it expires, every token is registered with the
redactor, and a refresh Google refuses for good (a revoked grant, a deleted key) becomes
an error that names `patchbay-drive auth`. google-auth is only asked to sign a service
account's assertion; the user flow is a plain refresh-token grant.
"""

from __future__ import annotations

import calendar
import json
import os
import time
from pathlib import Path
from typing import Any

from patchbay.credentials import Credential, RefreshingCredential, RefreshRefused, write_private_file
from patchbay_drive.settings import DriveSettings

READ_SCOPE = "https://www.googleapis.com/auth/drive.readonly"
WRITE_SCOPE = "https://www.googleapis.com/auth/drive"
REAUTHORIZE = "patchbay-drive auth"


def scopes_for(settings: DriveSettings) -> list[str]:
    """`drive.readonly` unless writes are allowed."""
    return [WRITE_SCOPE if settings.allow_writes else READ_SCOPE]


def provider_for(settings: DriveSettings) -> RefreshingCredential | None:
    """The credential the settings name: a service account key first, then the user's token file;
    None when there is neither (tools then say how to sign in).

    Raises:
        ValueError: the file named is not a key or token Google issued.
    """
    key_file = settings.service_account_file or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if key_file:
        return service_account(Path(key_file), scopes_for(settings), settings.subject)
    token_file = settings.token_file.expanduser()
    if token_file.is_file():
        return user_token(token_file)
    return None


def check_files(settings: DriveSettings) -> None:
    """Check that the credentials file the settings name is one Google issued (no network).

    Raises:
        OSError: it cannot be read.
        ValueError: it is not JSON, or lacks what a service account key or a user token holds.
    """
    key_file = settings.service_account_file or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if key_file:
        info = json.loads(Path(key_file).read_text())
        missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
        if info.get("type") != "service_account" or missing:
            raise ValueError(f"{key_file} is not a service account key (missing {', '.join(missing) or 'type'})")
        return
    token_file = settings.token_file.expanduser()
    if token_file.is_file():
        stored = json.loads(token_file.read_text())
        missing = [k for k in ("refresh_token", "client_id", "token_uri") if not stored.get(k)]
        if missing:
            raise ValueError(f"{token_file} lacks {', '.join(missing)}; run `{REAUTHORIZE}` again")


def service_account(path: Path, scopes: list[str], subject: str | None) -> RefreshingCredential:
    """A service account's access tokens, signed with its key (and for `subject`, when delegated)."""
    from google.oauth2 import service_account as sa

    info = json.loads(path.read_text())
    account = sa.Credentials.from_service_account_info(info, scopes=scopes, subject=subject)  # type: ignore[no-untyped-call]

    def refresh() -> Credential:
        import google.auth.exceptions
        import google_auth_httplib2
        import httplib2

        try:
            account.refresh(google_auth_httplib2.Request(httplib2.Http(timeout=30)))
        except google.auth.exceptions.RefreshError as exc:
            if "invalid_grant" in str(exc) or "unauthorized_client" in str(exc):
                raise RefreshRefused(str(exc)) from exc
            raise
        expiry = calendar.timegm(account.expiry.utctimetuple()) if account.expiry else None  # naive UTC
        return Credential(str(account.token), expires_at=expiry)

    return RefreshingCredential(
        "Google service-account token",
        refresh,
        reauthorize=REAUTHORIZE,
        action="to sign in as a user instead, or replace the service account key (it may be deleted or disabled)",
        secrets=[str(info.get("private_key", ""))],
    )


def user_token(path: Path) -> RefreshingCredential:
    """A user's token from `patchbay-drive auth`, refreshed with its refresh token; each new
    access token is stored back in the file (0600)."""
    stored: dict[str, Any] = json.loads(path.read_text())
    for needed in ("refresh_token", "client_id", "token_uri"):
        if not stored.get(needed):
            raise ValueError(f"{path} has no {needed}; run `{REAUTHORIZE}` again")
    initial = None
    if stored.get("token") and stored.get("expires_at"):
        initial = Credential(str(stored["token"]), expires_at=float(stored["expires_at"]))

    def refresh() -> Credential:
        answer = token_request(
            stored["token_uri"],
            {
                "grant_type": "refresh_token",
                "refresh_token": stored["refresh_token"],
                "client_id": stored["client_id"],
                "client_secret": stored.get("client_secret", ""),
            },
        )
        return Credential(str(answer["access_token"]), expires_at=time.time() + float(answer.get("expires_in", 3600)))

    def keep(new: Credential) -> None:
        write_private_file(path, json.dumps({**stored, "token": new.value, "expires_at": new.expires_at}, indent=2))

    secrets = [str(stored["refresh_token"]), str(stored.get("client_secret") or "")]
    return RefreshingCredential(
        "Google token",
        refresh,
        reauthorize=REAUTHORIZE,
        initial=initial,
        secrets=[s for s in secrets if s],
        on_refresh=keep,
    )


def token_request(token_uri: str, form: dict[str, str]) -> dict[str, Any]:
    """POST a grant to Google's token endpoint; its JSON answer.

    Raises:
        RefreshRefused: Google refused the grant for good (`invalid_grant`: revoked or expired).
        OSError: the endpoint could not be reached, or answered something else.
    """
    import urllib.error
    import urllib.request  # loaded at the first refresh, not at start-up

    if not token_uri.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise OSError(f"refusing to send a grant to {token_uri!r}: not https")
    body = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(token_uri, data=body, method="POST")  # noqa: S310 - https or loopback, checked above
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            data: dict[str, Any] = json.loads(answer.read())
            return data
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read()).get("error", "")
        except ValueError:
            error = ""
        if error in ("invalid_grant", "unauthorized_client", "invalid_client"):
            raise RefreshRefused(f"Google answered {error}") from None
        raise OSError(f"the token endpoint answered HTTP {exc.code}") from None
