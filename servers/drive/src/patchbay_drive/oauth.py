"""`patchbay-drive auth`: Google's installed-app OAuth flow, storing the token 0600.

The consent page redirects to a one-shot loopback listener (127.0.0.1, a free port);
the code is exchanged with PKCE (S256) and a `state` check; the refresh token is written
with the base's `write_private_file` (0600 from the first byte, atomic, never through a
symlink). The running server then refreshes the access token silently.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sys
import time
import urllib.parse
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, TextIO

from patchbay.credentials import write_private_file
from patchbay_drive.credentials import token_request


class AuthError(Exception):
    """The flow could not finish; the message says why."""


def _client(client_secrets: Path) -> dict[str, Any]:
    try:
        info = json.loads(client_secrets.read_text())
    except (OSError, ValueError) as exc:
        raise AuthError(f"cannot read the OAuth client file {client_secrets}: {exc}") from None
    app = info.get("installed") or info.get("web")
    if not isinstance(app, dict) or not app.get("client_id"):
        raise AuthError(f"{client_secrets} is not an OAuth client file (download it as 'Desktop app' JSON)")
    return app


def _wait_for_code(server: HTTPServer, state: str, timeout: float) -> str:
    found: dict[str, str] = {}

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            ok = query.get("state") == state and "code" in query
            if ok:
                found["code"] = query["code"]
            elif "error" in query:
                found["error"] = query["error"]
            body = b"Signed in; you can close this tab." if ok else b"Sign-in failed; see the terminal."
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server.RequestHandlerClass = Redirect
    server.timeout = 1.0
    deadline = time.monotonic() + timeout
    while not found and time.monotonic() < deadline:
        server.handle_request()
    if "code" in found:
        return found["code"]
    raise AuthError(f"Google answered {found['error']}" if "error" in found else "timed out waiting for the sign-in")


def authorize(
    client_secrets: Path,
    token_file: Path,
    scopes: list[str],
    *,
    open_browser: bool = True,
    timeout: float = 300.0,
    out: TextIO = sys.stderr,
) -> None:
    """Run the flow and store the token in `token_file` (0600).

    Raises:
        AuthError: the client file is unusable, the user declined, or the flow timed out.
    """
    app = _client(client_secrets)
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(24)
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    try:
        redirect = f"http://127.0.0.1:{server.server_port}/"
        params = {
            "response_type": "code",
            "client_id": app["client_id"],
            "redirect_uri": redirect,
            "scope": " ".join(scopes),
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "access_type": "offline",
            "prompt": "consent",
        }
        auth_uri = app.get("auth_uri", "https://accounts.google.com/o/oauth2/auth")
        url = f"{auth_uri}?{urllib.parse.urlencode(params)}"
        print(f"Open this URL to let patchbay-drive use Google Drive:\n{url}", file=out, flush=True)
        if open_browser:
            webbrowser.open(url)
        code = _wait_for_code(server, state, timeout)
    finally:
        server.server_close()
    token_uri = app.get("token_uri", "https://oauth2.googleapis.com/token")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect,
        "client_id": app["client_id"],
        "client_secret": app.get("client_secret", ""),
        "code_verifier": verifier,
    }
    try:
        answer = token_request(token_uri, form)
    except Exception as exc:
        raise AuthError(f"exchanging the code failed: {exc}") from None
    if not answer.get("refresh_token"):
        raise AuthError("Google sent no refresh token; remove the app's access in your Google account and retry")
    stored = {
        "client_id": app["client_id"],
        "client_secret": app.get("client_secret", ""),
        "token_uri": token_uri,
        "refresh_token": answer["refresh_token"],
        "scopes": scopes,
        "token": answer.get("access_token"),
        "expires_at": time.time() + float(answer.get("expires_in", 3600)),
    }
    write_private_file(token_file, json.dumps(stored, indent=2))
    print(f"Saved the token to {token_file} (readable by you only).", file=out, flush=True)
