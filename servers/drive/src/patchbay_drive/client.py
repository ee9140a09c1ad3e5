"""The thin wrapper over google-api-python-client (Drive v3).

Each worker thread gets its own service object (`PerThread`: httplib2 is not
thread-safe), built from the discovery document the library ships, with `rootUrl`
pointed at `api_url` when one is set; no network is needed to build it. Every
request sets `supportsAllDrives` (and listings `includeItemsFromAllDrives`), sends the
base's current access token, and retries with the base's policy (`num_retries`).
All methods block: tools call them through `upstream_of(ctx).call(...)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from patchbay.credentials import CredentialError, RefreshingCredential
from patchbay.retry import RetryPolicy
from patchbay.upstream import PerThread

FILE_FIELDS = (
    "id,name,mimeType,parents,driveId,size,createdTime,modifiedTime,trashed,description,webViewLink,"
    "version,owners(displayName,emailAddress),shortcutDetails(targetId,targetMimeType)"
)
LIST_FIELDS = f"nextPageToken,incompleteSearch,files({FILE_FIELDS})"
NO_CREDENTIALS = (
    "No Google credentials are configured: run `patchbay-drive auth` to sign in, or set "
    "GOOGLE_APPLICATION_CREDENTIALS (or PATCHBAY_DRIVE_SERVICE_ACCOUNT_FILE) to a service account key."
)
Progress = Callable[[int, int], None]
"""Told (bytes sent, total) after each chunk of a resumable upload."""


def _document(api_url: str | None) -> dict[str, Any]:
    from importlib import resources

    path = resources.files("googleapiclient") / "discovery_cache" / "documents" / "drive.v3.json"
    document: dict[str, Any] = json.loads(path.read_text("utf-8"))
    if api_url:
        document["rootUrl"] = api_url.rstrip("/") + "/"
    return document


class Drive:
    """Drive v3 for one connector run: a service per thread, the credential, the retry counts."""

    def __init__(
        self,
        credential: RefreshingCredential | None,
        policy: RetryPolicy,
        *,
        api_url: str | None = None,
        timeout: float = 60.0,
        chunk_bytes: int = 5 * 1024 * 1024,
    ) -> None:
        self.credential = credential
        self.reads = policy.google_num_retries()
        self.writes = policy.google_num_retries(idempotent=False, write=True)
        self.chunk_bytes = chunk_bytes
        self._api_url = api_url
        self._timeout = timeout
        self._document: dict[str, Any] | None = None
        self._services: PerThread[Any] = PerThread(self._build)

    def _build(self) -> Any:
        import httplib2
        from googleapiclient.discovery import build_from_document

        if self._document is None:
            self._document = _document(self._api_url)
        plain = httplib2.Http(timeout=self._timeout)
        plain.redirect_codes = plain.redirect_codes - {308}  # Drive's "resume incomplete", not a redirect
        http = _authorized(self.credential, plain)
        return build_from_document(self._document, http=http)

    @property
    def files(self) -> Any:
        """This thread's `files()` collection."""
        if self.credential is None:
            raise CredentialError(NO_CREDENTIALS)
        return self._services.get().files()

    def service(self) -> Any:
        """This thread's service object."""
        if self.credential is None:
            raise CredentialError(NO_CREDENTIALS)
        return self._services.get()

    # -- reading ----------------------------------------------------------------------------

    def list_files(self, q: str, page_token: str | None, page_size: int, order_by: str | None = None) -> dict[str, Any]:
        """One page of files matching `q`, in every drive the account reaches."""
        options: dict[str, Any] = {"orderBy": order_by} if order_by else {}
        request = self.files.list(
            q=q,
            pageSize=page_size,
            pageToken=page_token,
            fields=LIST_FIELDS,
            corpora="allDrives",
            includeItemsFromAllDrives=True,
            supportsAllDrives=True,
            **options,
        )
        result: dict[str, Any] = request.execute(num_retries=self.reads)
        return result

    def get(self, file_id: str, fields: str = FILE_FIELDS) -> dict[str, Any]:
        """A file's metadata."""
        result: dict[str, Any] = self.files.get(fileId=file_id, fields=fields, supportsAllDrives=True).execute(
            num_retries=self.reads
        )
        return result

    def parents(self, file_id: str) -> tuple[list[str], str | None]:
        """A file's parent ids and shared drive (for scope checks)."""
        found = self.get(file_id, "id,parents,driveId")
        return list(found.get("parents") or []), found.get("driveId")

    def download(self, file_id: str, start: int, length: int) -> bytes:
        """`length` bytes of a file's content from `start` (a ranged `alt=media`)."""
        request = self.files.get_media(fileId=file_id, supportsAllDrives=True)
        request.headers["Range"] = f"bytes={start}-{start + length - 1}"
        data: bytes = request.execute(num_retries=self.reads)
        return data

    def export(self, file_id: str, mime_type: str) -> bytes:
        """A Google Docs editors file converted to `mime_type`."""
        data: bytes = self.files.export(fileId=file_id, mimeType=mime_type).execute(num_retries=self.reads)
        return data

    def page(self, kind: str, file_id: str, fields: str, page_token: str | None, page_size: int) -> dict[str, Any]:
        """One page of a file's `permissions`, `revisions` or `comments`."""
        collection = getattr(self.service(), kind)()
        options: dict[str, Any] = {"fileId": file_id, "fields": fields, "pageSize": page_size, "pageToken": page_token}
        if kind == "permissions":
            options["supportsAllDrives"] = True
        result: dict[str, Any] = collection.list(**options).execute(num_retries=self.reads)
        return result

    def drives(self, page_token: str | None, page_size: int) -> dict[str, Any]:
        """One page of the shared drives the account reaches."""
        request = (
            self.service()
            .drives()
            .list(pageSize=page_size, pageToken=page_token, fields="nextPageToken,drives(id,name,createdTime)")
        )
        result: dict[str, Any] = request.execute(num_retries=self.reads)
        return result

    def account_email(self) -> str:
        """The signed-in account's email address."""
        about: dict[str, Any] = self.service().about().get(fields="user(emailAddress)").execute(num_retries=self.reads)
        return str(about.get("user", {}).get("emailAddress", ""))

    # -- writing ----------------------------------------------------------------------------

    def create(
        self, metadata: dict[str, Any], data: bytes | None, mime_type: str | None, progress: Progress | None
    ) -> dict[str, Any]:
        """A new file (or folder, without data); resumable above the chunk size, telling `progress`."""
        if data is None:
            request = self.files.create(body=metadata, fields=FILE_FIELDS, supportsAllDrives=True)
            return dict(request.execute(num_retries=self.writes))
        media = self._media(data, mime_type)
        request = self.files.create(body=metadata, media_body=media, fields=FILE_FIELDS, supportsAllDrives=True)
        return self._send(request, media, len(data), progress)

    def update(
        self,
        file_id: str,
        metadata: dict[str, Any],
        data: bytes | None = None,
        mime_type: str | None = None,
        progress: Progress | None = None,
        add_parents: str | None = None,
        remove_parents: str | None = None,
    ) -> dict[str, Any]:
        """Change a file's metadata, content, or parents."""
        options: dict[str, Any] = {
            "fileId": file_id,
            "body": metadata,
            "fields": FILE_FIELDS,
            "supportsAllDrives": True,
        }
        if add_parents:
            options["addParents"] = add_parents
        if remove_parents:
            options["removeParents"] = remove_parents
        if data is None:
            return dict(self.files.update(**options).execute(num_retries=self.writes))
        media = self._media(data, mime_type)
        return self._send(self.files.update(media_body=media, **options), media, len(data), progress)

    def copy(self, file_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
        """A copy of a file."""
        request = self.files.copy(fileId=file_id, body=metadata, fields=FILE_FIELDS, supportsAllDrives=True)
        return dict(request.execute(num_retries=self.writes))

    def add_comment(self, file_id: str, content: str) -> dict[str, Any]:
        """A new comment on a file."""
        request = (
            self.service()
            .comments()
            .create(fileId=file_id, body={"content": content}, fields="id,content,createdTime,author(displayName)")
        )
        return dict(request.execute(num_retries=self.writes))

    def share(self, file_id: str, permission: dict[str, Any], notify: bool) -> dict[str, Any]:
        """A new permission on a file."""
        request = (
            self.service()
            .permissions()
            .create(
                fileId=file_id,
                body=permission,
                sendNotificationEmail=notify,
                supportsAllDrives=True,
                fields="id,type,role,emailAddress,domain,allowFileDiscovery",
            )
        )
        return dict(request.execute(num_retries=self.writes))

    def remove_permission(self, file_id: str, permission_id: str) -> None:
        """Remove one permission from a file."""
        request = (
            self.service().permissions().delete(fileId=file_id, permissionId=permission_id, supportsAllDrives=True)
        )
        request.execute(num_retries=self.reads)

    def _media(self, data: bytes, mime_type: str | None) -> Any:
        from googleapiclient.http import MediaInMemoryUpload

        resumable = len(data) > self.chunk_bytes
        return MediaInMemoryUpload(
            data, mimetype=mime_type or "application/octet-stream", chunksize=self.chunk_bytes, resumable=resumable
        )

    def _send(self, request: Any, media: Any, total: int, progress: Progress | None) -> dict[str, Any]:
        if not media.resumable():
            return dict(request.execute(num_retries=self.writes))
        response = None
        while response is None:  # each chunk is a PUT of a known range: safe to retry (reads count)
            status, response = request.next_chunk(num_retries=self.reads)
            if progress is not None:
                progress(status.resumable_progress if status is not None else total, total)
        return dict(response)


def _authorized(credential: RefreshingCredential | None, http: Any) -> Any:
    """`http` sending the base credential's current token on every request."""
    import google_auth_httplib2
    from google.auth.credentials import Credentials

    class Bearer(Credentials):
        """google-auth's view of the base's credential: the base refreshes, google-auth only applies."""

        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call]

        def refresh(self, request: Any) -> None:
            """Nothing: the base's `RefreshingCredential` renews the token before it expires."""

        def before_request(self, request: Any, method: Any, url: Any, headers: dict[str, str]) -> None:
            if credential is None:
                raise CredentialError(NO_CREDENTIALS)
            headers["authorization"] = f"Bearer {credential.get().value}"

    return google_auth_httplib2.AuthorizedHttp(Bearer(), http=http, refresh_status_codes=())
