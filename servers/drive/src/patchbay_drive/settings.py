"""Settings of the Google Drive connector (`PATCHBAY_DRIVE_*`)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from patchbay.scope import DriveAllowlist
from patchbay.settings import ConnectorSettings

DEFAULT_TOKEN_FILE = Path("~/.config/patchbay/drive-token.json")


class DriveSettings(ConnectorSettings):
    """`PATCHBAY_DRIVE_*`."""

    model_config = SettingsConfigDict(env_prefix="PATCHBAY_DRIVE_")
    cli_flags: ClassVar[frozenset[str]] = ConnectorSettings.cli_flags | {
        "folders",
        "shared_drives",
        "all_files",
        "allow_sharing",
        "allow_public_sharing",
    }

    folders: DriveAllowlist = Field(
        default_factory=DriveAllowlist,
        description="Folder ids the tools may reach (with everything under them), comma-separated.",
    )
    shared_drives: DriveAllowlist = Field(
        default_factory=DriveAllowlist, description="Shared-drive ids the tools may reach, comma-separated."
    )
    all_files: bool = Field(False, description="Allow every file the credentials reach (logged as a warning).")
    allow_sharing: bool = Field(
        False, description="Offer sharing changes (share_file, remove_permission) on top of --allow-writes."
    )
    allow_public_sharing: bool = Field(
        False, description="Also allow sharing with anyone (public links) or with people outside the domain."
    )
    domain: str | None = Field(
        None, description="Your Google Workspace domain; default: the domain of the signed-in account."
    )
    service_account_file: Path | None = Field(
        None, description="A service account key file (JSON); default: $GOOGLE_APPLICATION_CREDENTIALS."
    )
    subject: str | None = Field(None, description="User a service account acts as (domain-wide delegation).")
    token_file: Path = Field(
        DEFAULT_TOKEN_FILE, description="Where `patchbay-drive auth` stores the user's OAuth token (0600)."
    )
    api_url: str | None = Field(
        None, description="Root URL of the Drive API (default https://www.googleapis.com/; for tests and proxies)."
    )
    scope_cache_seconds: float = Field(
        30.0, ge=0, le=3600, description="How long a folder's parents are remembered for scope checks."
    )
    resumable_threshold_bytes: int = Field(
        5 * 1024 * 1024, ge=256 * 1024, description="Uploads larger than this are resumable, with progress."
    )

    @model_validator(mode="after")
    def _bind_drive_scope(self) -> DriveSettings:
        """Both lists answer to the one opt-out, --all-files (which cannot come with a list).

        Raises:
            ValueError: --all-files and a list of folders or drives together.
        """
        if self.all_files and (self.folders.entries or self.shared_drives.entries):
            raise ValueError(
                "--all-files allows every file, so PATCHBAY_DRIVE_FOLDERS / PATCHBAY_DRIVE_SHARED_DRIVES would "
                "mean nothing: give one or the other"
            )
        for name in ("folders", "shared_drives"):
            value: DriveAllowlist = getattr(self, name)
            setattr(self, name, value.bound(self.env_name(name), "--all-files", False))
        return self

    def scope(self) -> DriveAllowlist:
        """What the tools may reach: the folders and drives together, or everything with --all-files."""
        if self.all_files:
            return DriveAllowlist(setting=self._scope_setting(), opt_out="--all-files", everything=True)
        entries = [*self.folders.entries, *self.shared_drives.entries]
        return DriveAllowlist(entries, setting=self._scope_setting(), opt_out="--all-files")

    def _scope_setting(self) -> str:
        return f"{self.env_name('folders')} or {self.env_name('shared_drives')}"

    def scope_notices(self) -> list[str]:
        """One notice for the folders and drives together."""
        notice = self.scope().startup_notice()
        return [notice] if notice else []
