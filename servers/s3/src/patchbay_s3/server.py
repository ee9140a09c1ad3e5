"""The S3 connector's tools: buckets and objects of S3 and S3-compatible stores, within an allowlist.

Every bucket, key and prefix a call names is checked against `--buckets` (or allowed by
`--all-buckets`) before S3 is asked, and what S3 lists back is filtered again. Reads are
always offered; writes only with `--allow-writes`; replacing or deleting objects asks the
user first. Blocking boto3 calls go through the base's upstream helper.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import mcp_types as types
from mcp.server.mcpserver import Context
from pydantic import Field

from patchbay import (
    Connector,
    Cursor,
    InvalidArgument,
    Progress,
    Question,
    ToolError,
    __version__,
    check_unchanged,
    runtime_of,
)
from patchbay.content import body_from
from patchbay.redaction import running_redactor
from patchbay.scope import BucketAllowlist
from patchbay.upstream import upstream_of
from patchbay_s3 import models
from patchbay_s3.client import S3, s3_errors
from patchbay_s3.objects import Body, Mode, doomed, overwrite_question, read_body, write_condition
from patchbay_s3.scoping import admitted, bucket_in_scope, listing_prefixes, object_name
from patchbay_s3.settings import S3Settings


@asynccontextmanager
async def _s3(settings: S3Settings) -> AsyncIterator[S3]:
    redactor = running_redactor()
    assert redactor is not None, "the runtime runs the lifespan under its redactor"
    s3 = S3(settings, redactor)
    try:
        yield s3
    finally:
        s3.close()


INSTRUCTIONS = (
    "Objects are named by bucket and key; list_buckets shows what you may use. s3://{bucket}/{key} reads one."
)

connector: Connector[S3Settings, S3] = Connector(
    "s3",
    settings=S3Settings,
    lifespan=_s3,
    error_mappers=[s3_errors],
    strict_arguments=True,  # unknown arguments are refused, never passed on to boto3
    title="Patchbay S3",
    version=__version__,
    description="Amazon S3 and S3-compatible stores: buckets and objects within an allowlist.",
    instructions=INSTRUCTIONS,
)

BucketName = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{3,63}$", description="Bucket name.")]
Key = Annotated[str, Field(min_length=1, max_length=1024, description="Object key, e.g. 'logs/2024/app.log'.")]
Prefix = Annotated[str, Field(max_length=1024, description="Only keys starting with this.")]
VersionId = Annotated[str | None, Field(max_length=1024, description="A version id (default: the latest).")]


def _state(ctx: Context) -> S3:
    return connector.state(ctx)


def _settings(ctx: Context) -> S3Settings:
    settings: S3Settings = runtime_of(ctx).settings
    return settings


def _buckets(ctx: Context) -> BucketAllowlist:
    return _settings(ctx).buckets


async def _call(ctx: Context, fn: Any, *args: Any) -> Any:
    return await upstream_of(ctx, "S3").call(fn, *args)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def _etag(value: Any) -> str | None:
    return str(value).strip('"') if value else None


# Reading ----------------------------------------------------------------------------------


@connector.tool("read")
async def list_buckets(ctx: Context) -> models.Buckets:
    """List the buckets you may use (and, for partly allowed buckets, the allowed prefixes)."""
    allowlist = _buckets(ctx)
    kept: list[models.Bucket] = []
    withheld = 0
    for bucket in await _call(ctx, _state(ctx).list_buckets):
        try:
            prefixes = bucket_in_scope(allowlist, bucket["Name"])
        except ToolError:
            withheld += 1
            continue
        kept.append(models.Bucket(name=bucket["Name"], created=_iso(bucket.get("CreationDate")), prefixes=prefixes))
    note = f"{withheld} buckets outside the allowlist were withheld." if withheld else None
    return models.Buckets(buckets=kept, withheld=note)


@connector.tool("read", paginated=True)
async def list_objects(
    ctx: Context,
    bucket: BucketName,
    prefix: Prefix = "",
    delimiter: Annotated[str | None, Field(max_length=1, description="'/' groups keys into common prefixes.")] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Field(ge=1, le=1000, description="Objects per page.")] = 100,
) -> models.Listing:
    """List objects under a prefix, a page at a time; with delimiter '/' also the sub-prefixes."""
    allowlist = _buckets(ctx)
    prefixes = listing_prefixes(allowlist, bucket, prefix)
    if len(prefixes) > 1:
        note = "Only these prefixes of the bucket are allowed: list one of them."
        return models.Listing(bucket=bucket, prefix=prefix, objects=[], common_prefixes=prefixes, withheld=note)
    page = await _call(ctx, _state(ctx).list_objects, bucket, prefixes[0], delimiter, cursor, limit)
    contents = page.get("Contents", [])
    objects = [
        models.S3Object(
            key=item["Key"],
            size=item.get("Size", 0),
            last_modified=_iso(item.get("LastModified")),
            etag=_etag(item.get("ETag")),
            storage_class=item.get("StorageClass"),
        )
        for item in contents
        if admitted(allowlist, bucket, item["Key"])
    ]
    common = [p["Prefix"] for p in page.get("CommonPrefixes", []) if admitted(allowlist, bucket, p["Prefix"])]
    withheld = len(contents) + len(page.get("CommonPrefixes", [])) - len(objects) - len(common)
    return models.Listing(
        bucket=bucket,
        prefix=prefixes[0],
        objects=objects,
        common_prefixes=common,
        withheld=f"{withheld} names outside the allowlist were withheld." if withheld else None,
        next_cursor=page.get("NextContinuationToken") if page.get("IsTruncated") else None,
    )


@connector.tool("read")
async def head_object(ctx: Context, bucket: BucketName, key: Key, version_id: VersionId = None) -> models.ObjectHead:
    """Get an object's size, type, ETag and metadata without reading it."""
    name, checked = object_name(_buckets(ctx), bucket, key)
    head = await _call(ctx, _state(ctx).head, name, checked, version_id)
    return models.ObjectHead(
        bucket=name,
        key=checked,
        size=head.get("ContentLength", 0),
        content_type=head.get("ContentType"),
        etag=_etag(head.get("ETag")),
        last_modified=_iso(head.get("LastModified")),
        version_id=head.get("VersionId"),
        storage_class=head.get("StorageClass"),
        metadata=head.get("Metadata", {}),
    )


@connector.tool("read")
async def get_object(
    ctx: Context,
    bucket: BucketName,
    key: Key,
    version_id: VersionId = None,
    offset: Annotated[int, Field(ge=0, description="First byte to read.")] = 0,
    length: Annotated[int | None, Field(ge=1, description="Bytes to read (default: to the end).")] = None,
    mode: Annotated[Mode, Field(description="auto: text as text, else binary; text; base64.")] = "auto",
) -> types.CallToolResult:
    """Read an object (or a byte range): text as text, binary as base64. Over the size cap, text is
    cut and binary refused before reading; ask for a range then."""
    name, checked = object_name(_buckets(ctx), bucket, key)
    progress = Progress(ctx, "bytes downloaded", every=4 << 20)
    where = (name, checked, version_id)
    body: Body = await _call(
        ctx, read_body, _state(ctx), where, (offset, length), mode, _settings(ctx).max_object_bytes, progress.advance
    )
    got = body.content
    if not (got.truncated or got.start):
        return types.CallToolResult(content=[got.block])
    cut = "; ask for the next range with offset" if got.truncated else ""
    note = types.TextContent(type="text", text=f"[s3://{name}/{checked}: {got.range_note()}{cut}]")
    return types.CallToolResult(content=[note, got.block])  # the note first: a long text is cut at its end


@connector.tool("read")
async def get_object_tagging(ctx: Context, bucket: BucketName, key: Key, version_id: VersionId = None) -> models.Tags:
    """Get an object's tags."""
    name, checked = object_name(_buckets(ctx), bucket, key)
    tags = await _call(ctx, _state(ctx).tagging, name, checked, version_id)
    return models.Tags(bucket=name, key=checked, tags=tags)


@connector.tool("read", paginated=True)
async def list_object_versions(
    ctx: Context,
    bucket: BucketName,
    prefix: Prefix = "",
    cursor: Cursor = None,
    limit: Annotated[int, Field(ge=1, le=1000, description="Versions per page.")] = 100,
) -> models.Versions:
    """List the versions and delete markers of objects under a prefix, a page at a time."""
    allowlist = _buckets(ctx)
    prefixes = listing_prefixes(allowlist, bucket, prefix)
    if len(prefixes) > 1:
        raise InvalidArgument("prefix", f"only these prefixes are allowed here: {', '.join(prefixes)}; give one")
    key_marker, _, version_marker = (cursor or "").partition("\n")
    page = await _call(
        ctx, _state(ctx).list_versions, bucket, prefixes[0], key_marker or None, version_marker or None, limit
    )
    found = [(v, False) for v in page.get("Versions", [])] + [(m, True) for m in page.get("DeleteMarkers", [])]
    versions = [
        models.Version(
            key=item["Key"],
            version_id=str(item.get("VersionId")),
            is_latest=bool(item.get("IsLatest")),
            delete_marker=marker,
            size=None if marker else item.get("Size"),
            last_modified=_iso(item.get("LastModified")),
        )
        for item, marker in found
        if admitted(allowlist, bucket, item["Key"])
    ]
    versions.sort(key=lambda v: (v.key, not v.is_latest, v.last_modified or ""))
    following = f"{page.get('NextKeyMarker', '')}\n{page.get('NextVersionIdMarker', '')}"
    withheld = len(found) - len(versions)
    return models.Versions(
        bucket=bucket,
        prefix=prefixes[0],
        versions=versions,
        withheld=f"{withheld} versions outside the allowlist were withheld." if withheld else None,
        next_cursor=following if page.get("IsTruncated") else None,
    )


@connector.tool("read")
async def presign_url(
    ctx: Context,
    bucket: BucketName,
    key: Key,
    method: Annotated[
        Literal["GET", "PUT"], Field(description="GET to download; PUT to upload (writes only).")
    ] = "GET",
    expires_seconds: Annotated[int | None, Field(ge=1, description="Validity (default 900 s; capped).")] = None,
) -> models.PresignedUrl:
    """Make a presigned URL for one object: GET always, PUT only when writes are allowed."""
    settings = _settings(ctx)
    if method == "PUT" and not settings.allow_writes:
        raise ToolError(
            "Refused: a presigned PUT URL lets anyone holding it write the object, and this server is read-only "
            "(the operator allows writes with --allow-writes). Nothing was signed."
        )
    seconds = expires_seconds or settings.presign_default_seconds
    if seconds > settings.presign_max_seconds:
        raise InvalidArgument(
            "expires_seconds", f"must be at most {settings.presign_max_seconds} (PATCHBAY_S3_PRESIGN_MAX_SECONDS)"
        )
    name, checked = object_name(_buckets(ctx), bucket, key)
    url = await _call(ctx, _state(ctx).presign, method, name, checked, seconds)
    expires = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="seconds")
    return models.PresignedUrl(url=url, method=method, expires_in=seconds, expires_at=expires)


@connector.tool("read")
async def get_bucket_info(ctx: Context, bucket: BucketName) -> models.BucketInfo:
    """Get a bucket's region, versioning, default encryption and lifecycle rules."""
    prefixes = bucket_in_scope(_buckets(ctx), bucket)
    info = await _call(ctx, _state(ctx).bucket_info, bucket)
    encryption = info["encryption"]
    algorithm = encryption[0].get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") if encryption else None
    return models.BucketInfo(
        bucket=bucket,
        region=info["region"],
        versioning=info["versioning"],
        encryption=algorithm,
        lifecycle=[_rule(rule) for rule in info["rules"] or []],
        prefixes=prefixes,
    )


def _rule(rule: dict[str, Any]) -> str:
    where = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", "")) or "all objects"
    actions = []
    if "Expiration" in rule:
        days = rule["Expiration"].get("Days")
        actions.append(f"expire after {days} days" if days else "expire")
    actions += [f"to {t.get('StorageClass')} after {t.get('Days')} days" for t in rule.get("Transitions", [])]
    if "NoncurrentVersionExpiration" in rule:
        actions.append(f"old versions expire after {rule['NoncurrentVersionExpiration'].get('NoncurrentDays')} days")
    return f"{rule.get('ID', 'rule')} ({rule.get('Status', '?')}): {where}: {', '.join(actions) or 'no actions'}"


# Writing ----------------------------------------------------------------------------------

IfNoneMatch = Annotated[bool, Field(description="Create only: fail if the object exists (never asks).")]


async def _put_question(ctx: Context, bucket: str, key: str, if_none_match: bool = False) -> Question | None:
    if if_none_match:
        return None
    name, checked = object_name(_buckets(ctx), bucket, key)
    question: Question | None = await _call(ctx, overwrite_question, _state(ctx), name, checked, "with the new content")
    return question


def _decode(text: str | None, data: str | None, limit: int) -> bytes:
    body = body_from(text, data, limit=limit)
    if body is None:
        raise InvalidArgument("text", "give the content as text or as base64")
    return body


@connector.tool("write", confirm=_put_question, may_destroy=True)
async def put_object(
    ctx: Context,
    bucket: BucketName,
    key: Key,
    text: Annotated[str | None, Field(description="The content as text (UTF-8).")] = None,
    base64: Annotated[str | None, Field(description="The content as base64 (binary).")] = None,
    content_type: Annotated[str | None, Field(max_length=255, description="e.g. 'text/csv'.")] = None,
    if_none_match: IfNoneMatch = False,
) -> models.Written:
    """Upload an object (multipart when large, with progress). Replacing an existing one asks the user."""
    name, checked = object_name(_buckets(ctx), bucket, key)
    settings = _settings(ctx)
    body = _decode(text, base64, settings.max_put_bytes)
    s3 = _state(ctx)
    condition, replaced = await _call(ctx, write_condition, s3, name, checked, if_none_match)
    progress = Progress(ctx, "bytes uploaded", every=settings.multipart_part_bytes)
    kind = content_type or ("text/plain; charset=utf-8" if text is not None else None)
    result = await _call(ctx, s3.put, name, checked, body, kind, condition, progress.advance)
    parts = -(-len(body) // settings.multipart_part_bytes) if len(body) >= settings.multipart_threshold_bytes else 1
    return models.Written(
        bucket=name,
        key=checked,
        size=len(body),
        etag=_etag(result.get("ETag")),
        version_id=result.get("VersionId"),
        parts=parts,
        replaced=replaced,
    )


async def _copy_question(ctx: Context, source_bucket: str, source_key: str, bucket: str, key: str) -> Question | None:
    object_name(_buckets(ctx), source_bucket, source_key, argument="source_key")
    name, checked = object_name(_buckets(ctx), bucket, key)
    what = f"with a copy of s3://{source_bucket}/{source_key}"
    question: Question | None = await _call(ctx, overwrite_question, _state(ctx), name, checked, what)
    return question


@connector.tool("write", confirm=_copy_question, may_destroy=True)
async def copy_object(
    ctx: Context,
    source_bucket: BucketName,
    source_key: Key,
    bucket: BucketName,
    key: Key,
    source_version_id: VersionId = None,
    if_none_match: IfNoneMatch = False,
) -> models.Written:
    """Copy an object (up to 5 GB) within S3; both ends must be allowed. Replacing one asks the user."""
    source = object_name(_buckets(ctx), source_bucket, source_key, argument="source_key")
    name, checked = object_name(_buckets(ctx), bucket, key)
    s3 = _state(ctx)
    condition, replaced = await _call(ctx, write_condition, s3, name, checked, if_none_match)
    result = await _call(ctx, s3.copy, (*source, source_version_id), name, checked, condition)
    copied = result.get("CopyObjectResult", {})
    return models.Written(
        bucket=name, key=checked, etag=_etag(copied.get("ETag")), version_id=result.get("VersionId"), replaced=replaced
    )


@connector.tool("write", idempotent=True)
async def put_object_tagging(
    ctx: Context,
    bucket: BucketName,
    key: Key,
    tags: Annotated[dict[str, str], Field(max_length=10, description="The new tag set (replaces the old one).")],
) -> models.Tags:
    """Replace an object's tags (at most 10)."""
    name, checked = object_name(_buckets(ctx), bucket, key)
    await _call(ctx, _state(ctx).put_tagging, name, checked, tags)
    return models.Tags(bucket=name, key=checked, tags=tags)


Keys = Annotated[list[Key] | None, Field(max_length=1000, description="Exact keys to delete.")]
DeletePrefix = Annotated[str | None, Field(min_length=1, max_length=1024, description="Delete every key under this.")]


async def _delete_question(
    ctx: Context, bucket: str, keys: list[str] | None = None, prefix: str | None = None
) -> Question:
    plan = await _call(ctx, doomed, _state(ctx), _buckets(ctx), bucket, keys, prefix)
    question: Question = plan.question()
    return question


@connector.tool("destructive", confirm=_delete_question)
async def delete_objects(
    ctx: Context, bucket: BucketName, keys: Keys = None, prefix: DeletePrefix = None
) -> models.Deleted:
    """Delete objects by exact keys or by prefix. The user confirms the count and the first keys."""
    s3 = _state(ctx)
    plan = await _call(ctx, doomed, s3, _buckets(ctx), bucket, keys, prefix)
    check_unchanged(plan.fingerprint, f"the objects to delete in s3://{bucket}")
    deleted, errors = await _call(ctx, s3.delete, plan.bucket, plan.keys)
    return models.Deleted(
        bucket=plan.bucket, deleted=deleted, errors=errors, versioning=plan.versioning, note=plan.note
    )


# Resources --------------------------------------------------------------------------------


@connector.resource(
    "s3://{bucket}/{+key}",
    name="object",
    mime_type="application/octet-stream",
    description="One object: text as text, binary as a blob (size-capped).",
)
async def object_resource(bucket: str, key: str, ctx: Context) -> str | bytes:
    name, checked = object_name(_buckets(ctx), bucket, key)
    body: Body = await _call(
        ctx, read_body, _state(ctx), (name, checked, None), (0, None), "auto", _settings(ctx).max_object_bytes
    )
    text = body.content.text
    if text is not None:
        return text
    return base64_payload(body)


def base64_payload(body: Body) -> bytes:
    """The raw bytes of a binary body (the SDK encodes them as a blob)."""
    block = body.content.block
    data = getattr(block, "data", None) or getattr(getattr(block, "resource", None), "blob", "")
    return base64.b64decode(str(data))
