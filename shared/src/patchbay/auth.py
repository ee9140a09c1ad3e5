"""Inbound authentication for Streamable HTTP: static bearer tokens and JWTs from a JWKS.

Both plug into the SDK as a `TokenVerifier`, so the SDK answers unauthenticated
requests with 401 and serves the RFC 9728 protected-resource metadata.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

import anyio.to_thread
import jwt
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from pydantic import SecretStr

from patchbay.settings import ConnectorSettings, SettingsError

logger = logging.getLogger("patchbay.auth")


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
        verifiers.append(JWTVerifier(settings.jwt_jwks_url, audience=settings.jwt_audience, issuer=settings.jwt_issuer))
    if not verifiers:
        return None
    resource = settings.public_url or f"http://{url_host(settings.host)}:{settings.port}/mcp"
    auth = AuthSettings(
        issuer_url=settings.jwt_issuer or resource,
        resource_server_url=resource,
        validate_token_resource=False,  # the verifiers check the audience themselves
    )
    return auth, verifiers[0] if len(verifiers) == 1 else AnyOf(verifiers)


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
