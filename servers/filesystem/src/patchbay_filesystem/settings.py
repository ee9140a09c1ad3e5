"""Settings of the filesystem connector (`PATCHBAY_FILESYSTEM_*`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from patchbay.settings import ConnectorSettings


class FilesystemSettings(ConnectorSettings):
    """Where the connector may go, and how much it reads at once."""

    model_config = SettingsConfigDict(env_prefix="PATCHBAY_FILESYSTEM_")
    cli_flags: ClassVar[frozenset[str]] = ConnectorSettings.cli_flags | {"client_roots"}
    roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Allowed directories (the ceiling), separated by ':' in the environment.",
    )
    max_read_bytes: int = Field(1024 * 1024, ge=1, description="Most bytes one text read returns.")
    max_media_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Largest file read_media_file returns.")
    client_roots: Literal["intersect", "ignore"] = Field(
        "intersect",
        description="intersect: the client's MCP roots narrow the directories (an empty list admits nothing); "
        "ignore: never ask the client, for hosts that send no useful roots.",
    )
    roots_timeout_seconds: float = Field(
        10.0, gt=0, description="How long a call waits for the client's roots before failing closed."
    )

    @field_validator("roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part for part in value.split(os.pathsep) if part]
        return value

    @field_validator("roots")
    @classmethod
    def _existing_directories(cls, value: list[Path]) -> list[Path]:
        if not value:
            raise ValueError(
                "no directories given: name them on the command line (patchbay-filesystem DIR...) "
                "or in PATCHBAY_FILESYSTEM_ROOTS, separated by ':'"
            )
        resolved = []
        for path in value:
            real = Path(os.path.realpath(os.path.expanduser(path)))
            if not real.is_dir():
                raise ValueError(f"{path} is not an existing directory")
            resolved.append(real)
        return resolved
