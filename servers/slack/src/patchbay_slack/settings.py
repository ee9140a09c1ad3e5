"""Settings of the Slack connector (`PATCHBAY_SLACK_*`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from patchbay.scope import ChannelAllowlist
from patchbay.settings import CommaList, ConnectorSettings, request_room


class SlackSettings(ConnectorSettings):
    """Which workspace, which channels may be read and written, and what posting may do."""

    model_config = SettingsConfigDict(env_prefix="PATCHBAY_SLACK_")
    env_fallbacks: ClassVar[Mapping[str, str]] = {"bot_token": "SLACK_BOT_TOKEN", "user_token": "SLACK_USER_TOKEN"}
    cli_flags: ClassVar[frozenset[str]] = ConnectorSettings.cli_flags | {
        "read_channels",
        "write_channels",
        "all_read_channels",
        "all_write_channels",
        "allow_dms",
        "unfurl_domains",
    }

    bot_token: SecretStr | None = Field(None, description="Slack bot token (xoxb-...), for every tool but search.")
    user_token: SecretStr | None = Field(None, description="Slack user token (xoxp-...), needed by search_messages.")
    team_id: str | None = Field(None, description="Workspace id (T...), for org-wide tokens.")
    api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL (for tests and proxies).")
    read_channels: ChannelAllowlist = Field(
        default_factory=ChannelAllowlist,
        description="Channels the read tools may see (ids like C0123ABC or #names), comma-separated.",
    )
    all_read_channels: bool = Field(False, description="Allow reading every channel the token can see.")
    write_channels: ChannelAllowlist = Field(
        default_factory=ChannelAllowlist,
        description="Channels the write tools may post to or change (ids or #names), comma-separated.",
    )
    all_write_channels: bool = Field(False, description="Allow writing to every channel the token can see.")
    allow_dms: bool = Field(False, description="Let direct and group messages in (still subject to the allowlists).")
    unfurl_domains: CommaList = Field(
        default_factory=list,
        description="Domains whose links Slack may unfurl; a message with any other link posts with unfurling off.",
    )
    confirm_member_count: int = Field(
        50, ge=0, description="Posting to a channel with more members than this asks the user first."
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Largest file upload_file sends.")
    max_request_bytes: int = Field(
        request_room(10 * 1024 * 1024),
        ge=1024,
        description="Largest request accepted: an HTTP request body, or a line on stdio. "
        "By default room for MAX_UPLOAD_BYTES as base64.",
    )
    directory_ttl_seconds: float = Field(
        60.0, ge=0, description="How long channel names and kinds are cached before they are looked up again."
    )

    @model_validator(mode="after")
    def _requests_fit_uploads(self) -> SlackSettings:
        self.make_room_for_uploads(self.max_upload_bytes)
        return self

    def scope_notices(self) -> list[str]:
        """The base's notices, less the empty write allowlist of a read-only server (nothing is written)."""
        notices = super().scope_notices()
        write = self.write_channels.startup_notice()
        if not self.allow_writes and write is not None and self.write_channels.is_empty:
            notices.remove(write)
        return notices

    @field_validator("unfurl_domains", mode="before")
    @classmethod
    def _domains(cls, value: Any) -> Any:
        """Comma-separated, lower case; each a plain domain (subdomains are included when matching)."""
        listed = value.split(",") if isinstance(value, str) else value
        if not isinstance(listed, list | tuple):
            return value
        domains = [str(v).strip().lower().strip(".") for v in listed if str(v).strip()]
        bad = [d for d in domains if "/" in d or ":" in d or "." not in d or "*" in d]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a domain: write e.g. example.com (subdomains included)")
        return domains
