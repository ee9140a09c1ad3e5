"""Settings every connector shares, read from `PATCHBAY_<ID>_*` variables and the command line.

A connector subclasses `ConnectorSettings`, sets its `env_prefix`, and adds its own
fields. Secrets are `SecretStr`, so they never print; `load_settings` turns a pydantic
validation error into one line per problem that names the variable to set.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from patchbay.retry import RetryPolicy

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class SettingsError(ValueError):
    """Settings that cannot start a connector; the message says what to set."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]
SecretList = Annotated[list[SecretStr], NoDecode]


@runtime_checkable
class _Scoped(Protocol):
    """A setting value that names itself in its messages: a `patchbay.scope.Allowlist`."""

    def bound(self, setting: str, opt_out: str | None, everything: bool) -> Any: ...

    def startup_notice(self) -> str | None: ...


DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024


def request_room(upload_bytes: int) -> int:
    """Bytes of one request that carries an upload of `upload_bytes` as base64, with room for
    the rest of the message; never less than the base's DEFAULT_MAX_REQUEST_BYTES."""
    return max(DEFAULT_MAX_REQUEST_BYTES, -(-upload_bytes // 3) * 4 + 64 * 1024)


class ConnectorSettings(BaseSettings):
    """What every connector can be told. Subclasses set `env_prefix` to `PATCHBAY_<ID>_`."""

    model_config = SettingsConfigDict(env_prefix="PATCHBAY_", extra="ignore", validate_default=True)

    cli_flags: ClassVar[frozenset[str]] = frozenset(
        {
            "transport",
            "host",
            "port",
            "allow_writes",
            "confirm",
            "audit_log",
            "stateful",
            "insecure_no_auth",
            "log_level",
            "public_url",
            "workers",
            "result_text",
            "max_result_bytes",
        }
    )
    """Settings that also have a command-line flag (a connector adding flags extends this)."""

    allow_writes: bool = Field(False, description="Offer write and destructive tools (read-only otherwise).")
    confirm: Literal["elicit", "never"] = Field(
        "elicit",
        description="How destructive calls are confirmed: ask the user through the client (elicit), "
        "or never ask and trust the host's own approval prompt (never).",
    )
    transport: Literal["stdio", "http"] = Field("stdio", description="stdio for local hosts, http for Streamable HTTP.")
    host: str = Field("127.0.0.1", description="HTTP bind address.")
    port: int = Field(8000, ge=0, le=65535, description="HTTP port (0 picks a free one).")
    stateful: bool = Field(
        False, description="Keep HTTP sessions (needed by older clients for confirmations over HTTP)."
    )
    audit_log: Path | None = Field(None, description="Append audit lines to this file instead of stderr.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("WARNING", description="Server log level.")

    auth_tokens: SecretList = Field(
        default_factory=list, description="Accepted static bearer tokens for HTTP, comma-separated."
    )
    auth_token_file: Path | None = Field(None, description="File holding accepted bearer tokens, one per line.")
    jwt_jwks_url: str | None = Field(None, description="JWKS URL to verify JWT bearer tokens against.")
    jwt_audience: str | None = Field(None, description="Required JWT audience (aud).")
    jwt_issuer: str | None = Field(
        None, description="Required JWT issuer (iss), named as the authorization server; needed with a JWKS URL."
    )
    public_url: str | None = Field(
        None,
        description="Public URL of the MCP endpoint (e.g. https://mcp.example.com/mcp), used in every URL the "
        "server publishes; by default the address each client reached.",
    )
    insecure_no_auth: bool = Field(False, description="Allow a non-loopback HTTP bind without authentication.")
    allowed_hosts: CommaList = Field(
        default_factory=list, description="Host headers accepted over HTTP (DNS-rebinding protection)."
    )
    max_request_bytes: int = Field(
        DEFAULT_MAX_REQUEST_BYTES,
        ge=1024,
        description="Largest request accepted: an HTTP request body, or a line on stdio.",
    )

    state_key: SecretStr | None = Field(
        None,
        description="Shared secret that signs cursors and multi-round request state; "
        "set the same value on every replica behind a load balancer.",
    )
    cursor_ttl_seconds: int = Field(3600, ge=1, description="How long a pagination cursor stays valid.")
    tools_page_size: int = Field(100, ge=1, description="Tools per tools/list page.")
    workers: int = Field(
        8,
        ge=1,
        le=256,
        description="Blocking operations (file walks and reads, upstream SDK calls) run at once in worker "
        "threads; more wait their turn, so no client can tie up the server.",
    )

    clean_untrusted_text: bool = Field(
        True,
        description="Remove hidden text (invisible Unicode tag, zero-width and bidi control characters, HTML "
        "comments) from text written by others before the model reads it; the result says what was removed.",
    )
    retry_attempts: int = Field(
        3,
        ge=1,
        le=10,
        description="Tries of one upstream call in all (1: never retried). Only reads and idempotent writes "
        "are retried, never a write that could happen twice.",
    )
    retry_max_wait_seconds: float = Field(
        30.0,
        ge=0,
        le=600,
        description="The longest total wait between the tries of one upstream call; a rate limit that resets "
        "later is reported (which limit, when it resets) instead of waited for.",
    )
    retry_idempotent_writes: bool = Field(
        True, description="Retry idempotent writes (PUT, DELETE) like reads; off: writes get one attempt."
    )
    upstream_timeout_seconds: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="Deadline of one upstream call, retries and their waits included.",
    )
    result_text: Literal["compact", "json"] = Field(
        "compact",
        description="Text block of a tool result: a compact rendering for the model (compact), or the "
        "structured result as JSON (json) for clients that parse the text; structuredContent always "
        "holds the full data.",
    )
    max_result_bytes: int = Field(
        1 << 20,
        ge=4096,
        description="Largest tool result (text and structured content together) in bytes; a larger one "
        "comes back cut, flagged, with a hint to page or ask for a range.",
    )

    env_fallbacks: ClassVar[Mapping[str, str]] = {}
    """Field → the service's own conventional variable (`token` → `GITHUB_TOKEN`), read when neither
    the field's `PATCHBAY_<ID>_` variable nor the command line sets it: the variable users already have."""

    _split = field_validator("auth_tokens", "allowed_hosts", mode="before")(_split_csv)

    @model_validator(mode="before")
    @classmethod
    def _conventional_variables(cls, data: Any) -> Any:
        if not cls.env_fallbacks or not isinstance(data, dict):
            return data
        found = {
            field: os.environ[variable]
            for field, variable in cls.env_fallbacks.items()
            if not data.get(field) and os.environ.get(variable)
        }
        return {**data, **found} if found else data

    @field_validator("public_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.query or parsed.fragment:
            raise ValueError(
                "must be an http:// or https:// URL with a host and no query, e.g. https://mcp.example.com/mcp"
            )
        return value

    @model_validator(mode="after")
    def _bind_allowlists(self) -> ConnectorSettings:
        """Tell each allowlist its variable and its `--all-<field>` opt-out (a bool field `all_<field>`)."""
        fields = type(self).model_fields
        for name in fields:
            value = getattr(self, name)
            if isinstance(value, _Scoped):
                opt = f"all_{name}"
                has_opt = opt in fields
                flag = f"--{opt.replace('_', '-')}" if opt in self.cli_flags else f"{self.env_name(opt)}=1"
                everything = bool(getattr(self, opt)) if has_opt else bool(getattr(value, "everything", False))
                setattr(self, name, value.bound(self.env_name(name), flag if has_opt else None, everything))
        return self

    def scope_notices(self) -> list[str]:
        """Start-up warnings about scopes: an allowlist that admits nothing, or an `--all-<things>` opt-out."""
        notices = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, _Scoped) and (notice := value.startup_notice()) is not None:
                notices.append(notice)
        return notices

    @property
    def is_loopback(self) -> bool:
        """Whether the HTTP bind address only accepts local connections."""
        if self.host in LOOPBACK_HOSTS:
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def has_auth(self) -> bool:
        """Whether inbound HTTP authentication is configured."""
        return bool(self.auth_tokens or self.auth_token_file or self.jwt_jwks_url)

    def bearer_tokens(self) -> list[SecretStr]:
        """Static tokens from the setting and the token file together."""
        tokens = list(self.auth_tokens)
        if self.auth_token_file is not None:
            try:
                lines = self.auth_token_file.read_text().splitlines()
            except OSError as exc:
                raise SettingsError(
                    f"{self.env_name('auth_token_file')}: cannot read {self.auth_token_file}: {exc.strerror}"
                ) from None
            tokens += [SecretStr(line.strip()) for line in lines if line.strip() and not line.startswith("#")]
        return tokens

    def retry_policy(self, service: str = "The upstream service") -> RetryPolicy:
        """The retry policy these settings describe, naming `service` in its errors."""
        from patchbay.retry import RetryPolicy

        return RetryPolicy.from_settings(self, service)

    def secret_values(self) -> Iterator[str]:
        """Every secret this configuration holds, so logs and results can be scrubbed of them."""
        for name in type(self).model_fields:
            yield from _secrets_in(getattr(self, name))
        if self.auth_token_file is not None:
            yield from (token.get_secret_value() for token in self.bearer_tokens())

    def make_room_for_uploads(self, upload_bytes: int) -> None:
        """Unless `max_request_bytes` was set, make it `request_room(upload_bytes)` (a connector
        that takes uploads calls this from an after-validator, and declares the field again
        with `request_room` of its default upload size as the default it publishes)."""
        if "max_request_bytes" not in self.model_fields_set:
            self.max_request_bytes = request_room(upload_bytes)

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable that sets `field`."""
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None) -> ConnectorSettings:
        """Read the environment, apply command-line overrides, and validate.

        Raises:
            SettingsError: one line per invalid setting, naming its variable and flag.
        """
        try:
            return cls(**dict(overrides or {}))
        except ValidationError as exc:
            raise SettingsError(_describe(cls, exc)) from None


def _secrets_in(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        if secret := value.get_secret_value():
            yield secret
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from _secrets_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secrets_in(item)


def _describe(cls: type[ConnectorSettings], exc: ValidationError) -> str:
    """One actionable line per error; never echoes the rejected value (it may be a secret)."""
    lines = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        if field not in cls.model_fields:
            where = "settings"
        elif field in cls.cli_flags:
            where = f"{cls.env_name(field)} (--{field.replace('_', '-')})"
        else:
            where = cls.env_name(field)
        lines.append(f"invalid setting {where}: {err['msg']}")
    return "\n".join(lines)
