"""What the S3 tools return: pydantic models, so clients get outputSchema and structuredContent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from patchbay.model_text import items_text, more, short_size, short_time, table
from patchbay.pagination import Paginated
from patchbay.untrusted import Untrusted


class Bucket(BaseModel):
    """A bucket you may use."""

    name: str
    created: str | None = None
    prefixes: list[str] | None = Field(None, description="Only these key prefixes are allowed; null: the whole bucket.")


class Buckets(BaseModel):
    """The buckets in scope."""

    buckets: list[Bucket]
    withheld: str | None = Field(None, description="How many buckets outside the allowlist were left out.")

    def model_text(self) -> str:
        rows = [(b.name, "all" if b.prefixes is None else ", ".join(b.prefixes)) for b in self.buckets]
        text = table(rows) if rows else "(no buckets in scope)"
        return text + (f"\n{self.withheld}" if self.withheld else "")


class S3Object(BaseModel):
    """One object of a listing."""

    key: str
    size: int
    last_modified: str | None = None
    etag: str | None = None
    storage_class: str | None = None

    @classmethod
    def model_text_items(cls, items: Sequence[S3Object]) -> str:
        return table([(o.key, short_size(o.size), short_time(o.last_modified)) for o in items], right={1})


class Listing(Paginated):
    """A page of objects under a prefix, and the common prefixes (folders) when a delimiter was given."""

    bucket: str
    prefix: str
    objects: list[S3Object]
    common_prefixes: list[str] = Field(default_factory=list)
    withheld: str | None = Field(None, description="How many listed names outside the allowlist were left out.")

    def model_text(self) -> str:
        parts = [f"s3://{self.bucket}/{self.prefix}"]
        parts += [f"{p} (prefix)" for p in self.common_prefixes]
        parts.append(items_text(self.objects, empty="(no objects)"))
        if self.withheld:
            parts.append(self.withheld)
        return "\n".join(parts) + more(self.next_cursor)


class ObjectHead(BaseModel):
    """An object's metadata, from a HEAD request (no body read)."""

    size: int
    bucket: str
    key: str
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    version_id: str | None = None
    storage_class: str | None = None
    metadata: dict[str, Untrusted] = Field(default_factory=dict, description="User metadata (x-amz-meta-*).")


class Tags(BaseModel):
    """An object's tags."""

    bucket: str
    key: str
    tags: dict[str, Untrusted]


class Version(BaseModel):
    """One version (or delete marker) of an object."""

    key: str
    version_id: str
    is_latest: bool
    delete_marker: bool = False
    size: int | None = None
    last_modified: str | None = None

    @classmethod
    def model_text_items(cls, items: Sequence[Version]) -> str:
        rows = [
            (v.key, v.version_id, "latest" if v.is_latest else "", "deleted" if v.delete_marker else short_size(v.size))
            for v in items
        ]
        return table(rows)


class Versions(Paginated):
    """A page of object versions under a prefix."""

    bucket: str
    prefix: str
    versions: list[Version]
    withheld: str | None = None

    def model_text(self) -> str:
        text = items_text(self.versions, empty="(no versions)")
        return text + (f"\n{self.withheld}" if self.withheld else "") + more(self.next_cursor)


class PresignedUrl(BaseModel):
    """A URL anyone holding it can use until it expires."""

    url: str
    method: Literal["GET", "PUT"]
    expires_in: int = Field(description="Seconds the URL stays valid.")
    expires_at: str


class BucketInfo(BaseModel):
    """A bucket's settings."""

    bucket: str
    region: str
    versioning: str = Field(description="Enabled, Suspended or Off.")
    encryption: str | None = Field(None, description="Default encryption (e.g. AES256, aws:kms); null: none set.")
    lifecycle: list[str] = Field(default_factory=list, description="One line per lifecycle rule.")
    prefixes: list[str] | None = Field(None, description="The key prefixes you may use; null: the whole bucket.")


class Written(BaseModel):
    """An object written by put_object or copy_object."""

    bucket: str
    key: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    parts: int = Field(1, description="Parts uploaded (more than 1: a multipart upload).")
    replaced: bool = Field(description="Whether an existing object was overwritten.")


class Deleted(BaseModel):
    """What delete_objects removed."""

    bucket: str
    deleted: list[str]
    errors: list[dict[str, str]] = Field(default_factory=list)
    versioning: str
    note: str

    def model_text(self) -> str:
        head = f"Deleted {len(self.deleted)} objects from s3://{self.bucket}. {self.note}"
        failed = "".join(f"\nfailed: {e['key']} ({e['code']})" for e in self.errors)
        return head + failed
