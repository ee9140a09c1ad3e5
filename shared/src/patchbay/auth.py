"""Inbound authentication for Streamable HTTP: static bearer tokens and JWTs from a JWKS.

Both plug into the SDK as a `TokenVerifier`, so the SDK answers unauthenticated
requests with 401. The SDK is told of no resource server URL, so it publishes no
OAuth protected-resource metadata of its own: static tokens have no authorization
server to point at, and for JWTs `http_app` publishes the metadata (naming the
configured issuer) at the URL the client reached or `public_url`, which the SDK,
fixing every URL when the app is built, cannot do.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from typing import Any

import anyio.to_thread
import jwt
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.routes import build_resource_metadata_url
from mcp.server.auth.settings import AuthSettings
from mcp.shared.auth import ProtectedResourceMetadata
from pydantic import AnyHttpUrl, SecretStr
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patchbay.settings import ConnectorSettings, SettingsError

logger = logging.getLogger("patchbay.auth")

NO_ISSUER = "https://no-authorization-server.invalid"
"""Stands in for the issuer AuthSettings requires when there is none (static tokens); never published."""


class StaticTokenVerifier:
    """Accepts any of a fixed set of tokens, compared in constant time."""

    def __init__(self, tokens: list[SecretStr]) -> None:
        self._digests = [hashlib.sha256(t.get_secret_value().encode()).digest() for t in tokens]

    async def verify_token(self, token: str) -> AccessToken | None:
        """The principal `token:<fingerprint>` when `token` is one of the configured tokens."""
        given = hashlib.sha256(token.encode()).digest()
        # Compare against every token so the time taken does not reveal which one matched.
        matched = [hmac.compare_digest(given, digest) for digest in self._digests]
        if not any(matched):
            return None
        fingerprint = given.hex()[:8]
        return AccessToken(token=token, client_id=f"token:{fingerprint}", scopes=[], subject=f"token:{fingerprint}")


class JWTVerifier:
    """Verifies signed JWTs against a JWKS: signature, expiry, audience and issuer."""

    def __init__(self, jwks_url: str, *, audience: str, issuer: str | None = None) -> None:
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300)
        self._audience = audience
        self._issuer = issuer

    async def verify_token(self, token: str) -> AccessToken | None:
        """Claims of a valid token as an `AccessToken`; None for anything invalid."""
        try:
            claims = await anyio.to_thread.run_sync(self._decode, token)
        except jwt.PyJWTError as exc:
            logger.info("rejected a bearer token: %s", type(exc).__name__)
            return None
        scopes = str(claims.get("scope", "")).split()
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id") or claims.get("azp") or claims.get("sub", "")),
            scopes=scopes,
            expires_at=int(claims["exp"]),
            subject=str(claims["sub"]) if "sub" in claims else None,
            claims={"iss": claims.get("iss")},
        )

    def _decode(self, token: str) -> dict[str, Any]:
        key = self._jwks.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"],
            audience=self._audience,
            issuer=self._issuer,
            options={"require": ["exp", "aud"]},
            leeway=30,
        )


def verifier_for(settings: ConnectorSettings) -> tuple[AuthSettings, TokenVerifier] | None:
    """The SDK auth configuration for `settings`, or None when no auth is configured."""
    verifiers: list[TokenVerifier] = []
    tokens = settings.bearer_tokens()
    if tokens:
        verifiers.append(StaticTokenVerifier(tokens))
    if settings.jwt_jwks_url:
        if not settings.jwt_audience:
            raise SettingsError(
                f"{settings.env_name('jwt_audience')} must be set with {settings.env_name('jwt_jwks_url')}: "
                "tokens are only accepted when they were issued for this server"
            )
        if not settings.jwt_issuer:
            raise SettingsError(
                f"{settings.env_name('jwt_issuer')} must be set with {settings.env_name('jwt_jwks_url')}: "
                "tokens are only accepted from that issuer, and clients are told to get them there"
            )
        verifiers.append(JWTVerifier(settings.jwt_jwks_url, audience=settings.jwt_audience, issuer=settings.jwt_issuer))
    if not verifiers:
        return None
    auth = AuthSettings(
        # Required by AuthSettings; published only through http_app, and only for JWTs.
        issuer_url=settings.jwt_issuer or NO_ISSUER,
        resource_server_url=None,  # no SDK metadata route, no SDK resource_metadata in the challenge
    )
    return auth, verifiers[0] if len(verifiers) == 1 else AnyOf(verifiers)


METADATA_PREFIX = "/.well-known/oauth-protected-resource"
# A Host header that can go into a URL (and a quoted header parameter) as it is.
_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


class ResourceMetadata:
    """RFC 9728 protected-resource metadata for JWT auth: the configured issuer is the
    authorization server, and every URL is `public_url` or, by default, the address the
    client reached (scheme and Host header), never the bind address."""

    def __init__(self, issuer: str, mcp_path: str, public_url: str | None) -> None:
        self.issuer = issuer
        self.mcp_path = mcp_path
        self.public_url = public_url
        self.path = METADATA_PREFIX + mcp_path  # where this server answers, whatever a proxy in front does

    def resource(self, scope: Scope) -> str | None:
        """The MCP endpoint's URL as the client knows it; None for a Host header unfit for a URL."""
        if self.public_url:
            return self.public_url
        host = Headers(scope=scope).get("host", "")
        if not _HOST.fullmatch(host):
            return None
        return f"{scope['scheme']}://{host}{self.mcp_path}"

    async def endpoint(self, request: Request) -> Response:
        """GET the metadata document."""
        resource = self.resource(request.scope)
        if resource is None:
            return JSONResponse({"error": "invalid_request", "error_description": "Bad Host header"}, 400)
        metadata = ProtectedResourceMetadata(
            resource=AnyHttpUrl(resource), authorization_servers=[AnyHttpUrl(self.issuer)]
        )
        # Derived from the Host header, it may differ per client: no shared caching.
        cache = "public, max-age=3600" if self.public_url else "no-store"
        return JSONResponse(metadata.model_dump(mode="json", exclude_none=True), headers={"Cache-Control": cache})

    def challenge(self, app: ASGIApp) -> ASGIApp:
        """ASGI middleware: the SDK's 401 challenge, plus `resource_metadata` naming this metadata."""

        async def with_metadata(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return

            async def send_challenge(message: Message) -> None:
                if message["type"] == "http.response.start" and message["status"] == 401:
                    message = {**message, "headers": self._challenge_headers(scope, message["headers"])}
                await send(message)

            await app(scope, receive, send_challenge)

        return with_metadata

    def _challenge_headers(self, scope: Scope, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        resource = self.resource(scope)
        if resource is None:
            return headers
        url = str(build_resource_metadata_url(AnyHttpUrl(resource)))
        parameter = f', resource_metadata="{url}"'.encode()
        return [(k, v + parameter if k.lower() == b"www-authenticate" else v) for k, v in headers]


def resource_metadata(settings: ConnectorSettings, mcp_path: str) -> ResourceMetadata | None:
    """The metadata to publish: only with JWT auth, where there is an issuer to name."""
    if not (settings.jwt_jwks_url and settings.jwt_issuer):
        return None
    return ResourceMetadata(settings.jwt_issuer, mcp_path, settings.public_url)


class AnyOf:
    """Accepts a token any of several verifiers accepts."""

    def __init__(self, verifiers: list[TokenVerifier]) -> None:
        self._verifiers = verifiers

    async def verify_token(self, token: str) -> AccessToken | None:
        """The first verifier's answer that accepts `token`."""
        for verifier in self._verifiers:
            if (access := await verifier.verify_token(token)) is not None:
                return access
        return None


def url_host(host: str) -> str:
    """`host` as it goes in a URL (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host else host
