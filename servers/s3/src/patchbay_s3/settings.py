"""Settings of the S3 connector (`PATCHBAY_S3_*`; boto3's own `AWS_*` variables are honoured too)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from patchbay.scope import BucketAllowlist
from patchbay.settings import ConnectorSettings, request_room


class S3Settings(ConnectorSettings):
    """`PATCHBAY_S3_*`. Credentials come from boto3's standard chain (environment, profile, SSO, role)."""

    model_config = SettingsConfigDict(env_prefix="PATCHBAY_S3_")

    buckets: BucketAllowlist = Field(
        default_factory=BucketAllowlist,
        description="Buckets (and bucket/prefix/ of keys) the tools may touch, comma-separated; empty allows none.",
    )
    all_buckets: bool = Field(False, description="Allow every bucket the credentials reach (logged as a warning).")
    region: str | None = Field(None, description="AWS region (default: boto3's, from AWS_REGION or the profile).")
    endpoint_url: str | None = Field(
        None, description="Endpoint of an S3-compatible store (MinIO, R2, Ceph), e.g. http://127.0.0.1:9000."
    )
    profile: str | None = Field(None, description="Named profile of the AWS config files (SSO profiles too).")
    path_style: bool | None = Field(
        None, description="Path-style addressing (bucket in the path); default: on with an endpoint URL, else off."
    )
    max_object_bytes: int = Field(
        1 << 20, ge=1, le=64 << 20, description="Largest object body get_object returns; larger ones need a range."
    )
    max_put_bytes: int = Field(
        256 << 20, ge=1, le=5 << 30, description="Largest body put_object accepts (decoded bytes)."
    )
    max_request_bytes: int = Field(
        request_room(256 << 20),
        ge=1024,
        description="Largest request accepted: an HTTP request body, or a line on stdio. "
        "By default room for MAX_PUT_BYTES as base64.",
    )
    multipart_threshold_bytes: int = Field(
        8 << 20, ge=5 << 20, description="put_object uploads bodies this large or larger in parts."
    )
    multipart_part_bytes: int = Field(8 << 20, ge=5 << 20, le=5 << 30, description="Size of each uploaded part.")
    presign_max_seconds: int = Field(
        3600, ge=1, le=604800, description="Longest expiry presign_url grants (S3 allows at most 7 days)."
    )
    presign_default_seconds: int = Field(900, ge=1, description="Expiry of a presigned URL when none is asked for.")

    # The settings with a command-line flag of their own (__main__.py adds them to the parser).
    cli_flags: ClassVar[frozenset[str]] = ConnectorSettings.cli_flags | {
        "buckets",
        "all_buckets",
        "region",
        "endpoint_url",
        "profile",
        "path_style",
    }

    @model_validator(mode="after")
    def _presign_default_within_maximum(self) -> S3Settings:
        if self.presign_default_seconds > self.presign_max_seconds:
            raise ValueError(
                f"PATCHBAY_S3_PRESIGN_DEFAULT_SECONDS ({self.presign_default_seconds}) is more than "
                f"PATCHBAY_S3_PRESIGN_MAX_SECONDS ({self.presign_max_seconds})"
            )
        return self

    @model_validator(mode="after")
    def _requests_fit_uploads(self) -> S3Settings:
        self.make_room_for_uploads(self.max_put_bytes)
        return self

    @property
    def addressing_style(self) -> str:
        """botocore's `addressing_style`: path for custom endpoints unless told otherwise."""
        path = self.path_style if self.path_style is not None else self.endpoint_url is not None
        return "path" if path else "auto"
