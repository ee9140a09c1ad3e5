"""The thin wrapper over boto3: one S3 client for reads, one for writes, both made at first use.

Every method blocks (boto3 is synchronous): tools call them through the base's upstream
helper, so they run in a worker thread with a deadline and cancellation. Retries are
botocore's own, configured from the shared retry policy (`botocore_config`): throttling
(`SlowDown`, 503) and transient errors are retried within the policy's bound, never by
a loop of ours. Each call names only the parameters the tool decided on: nothing a client
sent is passed through to boto3.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from patchbay.errors import ToolError
from patchbay.redaction import Redactor
from patchbay.retry import RetryPolicy
from patchbay.workers import checkpoint
from patchbay_s3.settings import S3Settings

DELETE_BATCH = 1000
"""Keys per DeleteObjects request (the S3 maximum)."""
READ_CHUNK = 1 << 20
"""Bytes read from a GET's body at a time."""


class S3:
    """Access to one S3 (or S3-compatible) endpoint with boto3's standard credential chain."""

    def __init__(self, settings: S3Settings, redactor: Redactor) -> None:
        self.settings = settings
        self._redactor = redactor
        self._policy = settings.retry_policy("S3")
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._session: Any = None

    # -- clients ------------------------------------------------------------------------

    def _client(self, kind: str = "read") -> Any:
        with self._lock:
            client = self._clients.get(kind)
            if client is None:
                client = self._clients[kind] = self._make(kind)
        self._register_credentials()
        return client

    def _make(self, kind: str) -> Any:
        import boto3  # heavy: imported at the first call, not at start-up
        from botocore.config import Config

        if self._session is None:
            self._session = boto3.session.Session(profile_name=self.settings.profile)
        policy: RetryPolicy = self._policy
        config = policy.botocore_config(write=kind == "write").merge(
            Config(
                s3={"addressing_style": self.settings.addressing_style},
                signature_version="s3v4",  # presigned URLs too (botocore would sign some with SigV2)
                connect_timeout=10,
                read_timeout=60,
                max_pool_connections=max(10, self.settings.workers),
                user_agent_extra="patchbay-s3",
            )
        )
        return self._session.client(
            "s3", region_name=self.settings.region, endpoint_url=self.settings.endpoint_url, config=config
        )

    def close(self) -> None:
        """Close the clients' connection pools (at the end of the server's life)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def _register_credentials(self) -> None:
        """Mask the secret key and session token (STS) in every log and result, refreshed ones too."""
        credentials = self._session.get_credentials() if self._session is not None else None
        if credentials is None:
            return
        frozen = credentials.get_frozen_credentials()
        self._redactor.add(value for value in (frozen.secret_key, frozen.token) if value)

    # -- reading ------------------------------------------------------------------------

    def list_buckets(self) -> list[dict[str, Any]]:
        """Every bucket the credentials can list."""
        buckets: list[dict[str, Any]] = self._client().list_buckets().get("Buckets", [])
        return buckets

    def list_objects(
        self, bucket: str, prefix: str, delimiter: str | None, token: str | None, limit: int
    ) -> dict[str, Any]:
        """One page of ListObjectsV2."""
        return self._page("list_objects_v2", bucket, prefix, limit, Delimiter=delimiter, ContinuationToken=token)

    def _page(self, operation: str, bucket: str, prefix: str, limit: int, **given: str | None) -> dict[str, Any]:
        """One page of a listing operation; only the markers given are sent."""
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": limit}
        params.update({name: value for name, value in given.items() if value})
        page: dict[str, Any] = getattr(self._client(), operation)(**params)
        return page

    def keys_under(self, bucket: str, prefix: str, most: int) -> list[tuple[str, str]]:
        """(key, ETag) of every object under `prefix`, at most `most` + 1 (one more tells there are more)."""
        found: list[tuple[str, str]] = []
        token: str | None = None
        while True:
            checkpoint()
            page = self.list_objects(bucket, prefix, None, token, 1000)
            found += [(item["Key"], item.get("ETag", "")) for item in page.get("Contents", [])]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token or len(found) > most:
                return found[: most + 1]

    def head(self, bucket: str, key: str, version_id: str | None = None) -> dict[str, Any]:
        """HeadObject: size, type, ETag, metadata; no body."""
        params = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        head: dict[str, Any] = self._client().head_object(**params)
        return head

    def head_or_none(self, bucket: str, key: str) -> dict[str, Any] | None:
        """HeadObject, or None when there is no such object."""
        from botocore.exceptions import ClientError

        try:
            return self.head(bucket, key)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def read(
        self,
        bucket: str,
        key: str,
        start: int,
        length: int,
        version_id: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> bytes:
        """`length` bytes from `start` (a Range GET; fewer at the end of the object), read a chunk
        at a time so that progress is reported and a cancelled call stops between chunks."""
        if length <= 0:
            return b""
        params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Range": f"bytes={start}-{start + length - 1}"}
        if version_id:
            params["VersionId"] = version_id
        body = self._client().get_object(**params)["Body"]
        chunks: list[bytes] = []
        got = 0
        try:
            while got < length:
                chunk: bytes = body.read(min(READ_CHUNK, length - got))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
                if progress is not None:
                    progress(len(chunk))  # also a cancellation checkpoint
            return b"".join(chunks)
        finally:
            body.close()

    def tagging(self, bucket: str, key: str, version_id: str | None = None) -> dict[str, str]:
        """The object's tags."""
        params = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        tags = self._client().get_object_tagging(**params).get("TagSet", [])
        return {tag["Key"]: tag["Value"] for tag in tags}

    def list_versions(
        self, bucket: str, prefix: str, key_marker: str | None, version_marker: str | None, limit: int
    ) -> dict[str, Any]:
        """One page of ListObjectVersions."""
        return self._page(
            "list_object_versions", bucket, prefix, limit, KeyMarker=key_marker, VersionIdMarker=version_marker
        )

    def versioning(self, bucket: str) -> str:
        """`Enabled`, `Suspended`, or `Off` (never enabled)."""
        return str(self._client().get_bucket_versioning(Bucket=bucket).get("Status") or "Off")

    def bucket_info(self, bucket: str) -> dict[str, Any]:
        """Region, versioning, default encryption and lifecycle rules (absent ones as None)."""
        client = self._client()
        region = client.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
        encryption = _absent_as_none(
            lambda: client.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"],
            "ServerSideEncryptionConfigurationNotFoundError",
        )
        lifecycle = _absent_as_none(
            lambda: client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"], "NoSuchLifecycleConfiguration"
        )
        return {"region": region, "versioning": self.versioning(bucket), "encryption": encryption, "rules": lifecycle}

    def presign(self, method: str, bucket: str, key: str, seconds: int) -> str:
        """A presigned GET or PUT URL for one object."""
        operation = "get_object" if method == "GET" else "put_object"
        url: str = self._client("write" if method == "PUT" else "read").generate_presigned_url(
            operation, Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds
        )
        if "X-Amz-Security-Token=" in url:
            # Temporary (STS, SSO, role) credentials put their session token in the URL: this
            # connector never reveals it (and the redactor would mask it, breaking the URL).
            raise ToolError(
                "Refused: these are temporary AWS credentials (a session token), and a presigned URL would "
                "carry the token to whoever reads it. Nothing was signed; presign with long-term credentials, "
                "or use get_object."
            )
        return url

    # -- writing ------------------------------------------------------------------------

    def put(
        self,
        bucket: str,
        key: str,
        body: bytes,
        content_type: str | None,
        condition: dict[str, str],
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """PutObject, or a multipart upload above the threshold; `condition` is IfNoneMatch/IfMatch."""
        if len(body) >= self.settings.multipart_threshold_bytes:
            return self._multipart(bucket, key, body, content_type, condition, progress)
        params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": body, **condition}
        if content_type:
            params["ContentType"] = content_type
        result: dict[str, Any] = self._client("write").put_object(**params)
        if progress is not None:
            progress(len(body))
        return result

    def _multipart(
        self,
        bucket: str,
        key: str,
        body: bytes,
        content_type: str | None,
        condition: dict[str, str],
        progress: Callable[[int], None] | None,
    ) -> dict[str, Any]:
        client = self._client("write")
        params = {"Bucket": bucket, "Key": key, **({"ContentType": content_type} if content_type else {})}
        upload = client.create_multipart_upload(**params)["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, len(body), self.settings.multipart_part_bytes), 1):
                checkpoint()
                chunk = body[start : start + self.settings.multipart_part_bytes]  # one part in memory at a time
                sent = client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=chunk)
                parts.append({"PartNumber": number, "ETag": sent["ETag"]})
                if progress is not None:
                    progress(len(chunk))
            done: dict[str, Any] = client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}, **condition
            )
            return done
        except BaseException:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
            raise

    def copy(
        self, source: tuple[str, str, str | None], bucket: str, key: str, condition: dict[str, str]
    ) -> dict[str, Any]:
        """CopyObject (up to 5 GB), with IfNoneMatch/IfMatch on the destination."""
        src_bucket, src_key, version = source
        copy_source = {"Bucket": src_bucket, "Key": src_key, **({"VersionId": version} if version else {})}
        result: dict[str, Any] = self._client("write").copy_object(
            Bucket=bucket, Key=key, CopySource=copy_source, **condition
        )
        return result

    def put_tagging(self, bucket: str, key: str, tags: dict[str, str]) -> None:
        """Replace the object's tag set."""
        tag_set = [{"Key": name, "Value": value} for name, value in tags.items()]
        self._client("write").put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": tag_set})

    def delete(self, bucket: str, keys: list[str]) -> tuple[list[str], list[dict[str, str]]]:
        """DeleteObjects in batches of 1000: the keys deleted, and the errors S3 reported."""
        deleted: list[str] = []
        errors: list[dict[str, str]] = []
        for batch in _batches(keys, DELETE_BATCH):
            checkpoint()
            answer = self._client("write").delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": False}
            )
            deleted += [item["Key"] for item in answer.get("Deleted", [])]
            errors += [
                {"key": e.get("Key", ""), "code": e.get("Code", ""), "message": e.get("Message", "")}
                for e in answer.get("Errors", [])
            ]
        return deleted, errors


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _code(exc: Any) -> str:
    return str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))


def _absent_as_none(call: Callable[[], Any], absent: str) -> Any:
    from botocore.exceptions import ClientError

    try:
        return call()
    except ClientError as exc:
        if _code(exc) == absent:
            return None
        raise


_MESSAGES = {
    "NoSuchBucket": "No such bucket{where}; list_buckets shows the buckets you may use.",
    "NoSuchKey": "No object{where}; list_objects shows the keys that exist.",
    "404": "No object{where}; list_objects shows the keys that exist.",
    "NotFound": "No object{where}; list_objects shows the keys that exist.",
    "NoSuchVersion": "No such version{where}; list_object_versions shows the versions.",
    "AccessDenied": "S3 denied access{where} (AccessDenied): the credentials lack a permission; "
    "the README lists the IAM policy this connector needs.",
    "403": "S3 denied access{where} (403): the credentials lack a permission; "
    "the README lists the IAM policy this connector needs.",
    "PreconditionFailed": "The object already exists or changed{where} (precondition failed); nothing was written.",
    "412": "The object already exists or changed{where} (precondition failed); nothing was written.",
    "InvalidRange": "The byte range lies outside the object{where}; head_object tells its size.",
    "EntityTooLarge": "The object is too large for one request{where}.",
    "InvalidObjectState": "The object is archived (e.g. Glacier){where} and must be restored before it can be read.",
}


def s3_errors(exc: BaseException) -> str | None:
    """What the model reads when S3 or botocore fails (an error mapper); None: not ours."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "ClientError" in names:
        code = _code(exc)
        status = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        template = _MESSAGES.get(code) or _MESSAGES.get(str(status))
        operation = getattr(exc, "operation_name", "the request")
        if template is not None:
            return template.format(where=f" ({operation})")
        return f"S3 refused {operation} ({code or status}); check the bucket, key and permissions."
    if "NoCredentialsError" in names or "PartialCredentialsError" in names:
        return (
            "No AWS credentials were found: set AWS_PROFILE (or PATCHBAY_S3_PROFILE), AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run where an instance role or web identity is available."
        )
    if "ProfileNotFound" in names:
        return "The AWS profile named in PATCHBAY_S3_PROFILE or AWS_PROFILE does not exist in the AWS config files."
    if "TokenRetrievalError" in names or "SSOTokenLoadError" in names or "UnauthorizedSSOTokenError" in names:
        return "The AWS SSO session has expired: run `aws sso login` (with the same profile) and try again."
    if "EndpointConnectionError" in names or "ConnectTimeoutError" in names or "ReadTimeoutError" in names:
        return "Could not reach S3 at its endpoint (connection failed or timed out); try again later."
    if "NoRegionError" in names:
        return "No AWS region is set: set PATCHBAY_S3_REGION (--region) or AWS_REGION."
    if "ParamValidationError" in names:
        return "S3 refused the request's parameters as invalid; check the bucket name and key."
    return None
