"""Settings of the GitHub connector (`PATCHBAY_GITHUB_*`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from patchbay.scope import RepoAllowlist
from patchbay.settings import CommaList, ConnectorSettings, _split_csv

TOOLSETS = ("context", "repos", "issues", "pull_requests", "actions", "code_security")
DEFAULT_TOOLSETS = ("context", "repos", "issues", "pull_requests")


def _no_entries() -> Any:
    """An empty list, validated into an empty `RepoAllowlist` (and shown as [] in the catalog)."""
    return []


class GitHubSettings(ConnectorSettings):
    """`PATCHBAY_GITHUB_*`; the token may also come from `GITHUB_TOKEN`."""

    model_config = SettingsConfigDict(env_prefix="PATCHBAY_GITHUB_")

    env_fallbacks: ClassVar[Mapping[str, str]] = {"token": "GITHUB_TOKEN"}
    cli_flags: ClassVar[frozenset[str]] = ConnectorSettings.cli_flags | {
        "repos",
        "all_repos",
        "toolsets",
        "tools",
        "exclude_tools",
        "lockdown",
        "api_url",
    }

    token: SecretStr | None = Field(
        None, description="A GitHub token (fine-grained or classic PAT); GITHUB_TOKEN is read when this is unset."
    )
    api_url: str = Field(
        "https://api.github.com",
        description="REST API root: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server.",
    )
    app_id: str | None = Field(None, description="GitHub App id (with the private key and installation id).")
    app_private_key: SecretStr | None = Field(None, description="The GitHub App's private key (PEM).")
    app_private_key_file: Path | None = Field(None, description="File holding the GitHub App's private key (PEM).")
    app_installation_id: int | None = Field(None, description="The GitHub App installation to act as.")
    repos: RepoAllowlist = Field(
        default_factory=_no_entries,
        description="Repositories every tool may touch, comma-separated: owner/name or owner/* (search included).",
    )
    all_repos: bool = Field(False, description="Allow every repository the token reaches (logged as a warning).")
    toolsets: CommaList = Field(
        default_factory=lambda: list(DEFAULT_TOOLSETS),
        description="Toolsets to offer, comma-separated: context, repos, issues, pull_requests, actions, "
        "code_security (or all).",
    )
    tools: CommaList = Field(default_factory=list, description="Offer only these tools (names, comma-separated).")
    exclude_tools: CommaList = Field(default_factory=list, description="Never offer these tools (comma-separated).")
    lockdown: bool = Field(
        False,
        description="Withhold titles and bodies of issues, pull requests, comments and reviews written by users "
        "without push access to the repository.",
    )
    hide_unscoped_tools: bool = Field(
        True, description="Hide tools whose classic-token scope the token lacks (asks GitHub once at start-up)."
    )
    max_file_bytes: int = Field(1 << 20, ge=1024, description="Largest file content returned, in bytes.")
    max_diff_bytes: int = Field(64 * 1024, ge=1024, description="Largest diff returned by one call, in bytes.")
    max_log_bytes: int = Field(64 * 1024, ge=1024, description="Largest job-log tail returned, in bytes.")
    max_tree_entries: int = Field(2000, ge=10, description="Most entries get_repository_tree returns.")
    seconds_between_writes: float = Field(
        1.0, ge=0, le=60, description="Pause between writes, as GitHub asks of integrations (0 for tests)."
    )

    _split_lists = field_validator("toolsets", "tools", "exclude_tools", mode="before")(_split_csv)

    @field_validator("toolsets")
    @classmethod
    def _known_toolsets(cls, value: list[str]) -> list[str]:
        if "all" in value:
            return list(TOOLSETS)
        unknown = [name for name in value if name not in TOOLSETS]
        if unknown:
            raise ValueError(f"unknown toolset(s) {', '.join(unknown)}; choose from {', '.join(TOOLSETS)}, all")
        return value

    def private_key(self) -> str | None:
        """The GitHub App's private key, from the setting or its file."""
        if self.app_private_key is not None:
            return self.app_private_key.get_secret_value()
        if self.app_private_key_file is not None:
            return self.app_private_key_file.read_text()
        return None

    @property
    def uses_app(self) -> bool:
        """Whether a GitHub App (installation tokens) is configured rather than a token."""
        return self.app_id is not None
