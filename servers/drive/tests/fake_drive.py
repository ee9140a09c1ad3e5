"""A stateful fake of the Drive v3 REST API (and Google's OAuth token endpoint) on `patchbay.fakes`.

The real google-api-python-client talks to it: the client is built from the discovery
document it ships, with `rootUrl` pointed here. Every request and answer is checked
against that document (`drive_contract()`), so the fake cannot invent fields.

Faithful where the connector's safety depends on it: `q` is parsed like Drive parses it
(drive_query.py), items in shared drives are invisible without `supportsAllDrives` /
`includeItemsFromAllDrives`, tokens are checked, errors have Google's shape, uploads are
multipart or resumable (308 between chunks), downloads honour `Range`, exports over the
limit fail with `exportSizeLimitExceeded`, and comments need `fields`.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import itertools
import json
import threading
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from drive_query import QueryError, compile_query
from patchbay.fake_contracts import drive_contract
from patchbay.fakes import FakeRequest, FakeService, Response, json_response, route

FOLDER = "application/vnd.google-apps.folder"
DOC = "application/vnd.google-apps.document"
SHEET = "application/vnd.google-apps.spreadsheet"
SLIDES = "application/vnd.google-apps.presentation"
SHORTCUT = "application/vnd.google-apps.shortcut"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ME = {"kind": "drive#user", "displayName": "Ada Owner", "emailAddress": "ada@example.com", "me": True}
_EXPORTS = {
    DOC: {"text/markdown", "text/plain", "text/html"},
    SHEET: {"text/csv", XLSX},
    SLIDES: {"text/plain"},
}


def google_error(status: int, message: str, reason: str) -> Response:
    """An error body as Google sends it."""
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }
    return json_response(status, body)


class FakeDrive(FakeService):
    """Drive v3: files, content, exports, uploads, permissions, revisions, comments, shared drives."""

    def __init__(self, *, token: str = "ya29.good-token") -> None:
        super().__init__(name="drive", contract=drive_contract())
        self.valid_tokens = {token}
        self.export_limit = 10 * 1024 * 1024
        self._state = threading.RLock()
        self.reset()

    # -- state --------------------------------------------------------------------------------

    def reset(self) -> None:
        self.files: dict[str, dict[str, Any]] = {}
        self.content: dict[str, bytes] = {}
        self.sheets: dict[str, dict[str, list[list[str]]]] = {}
        self.permissions: dict[str, list[dict[str, Any]]] = {}
        self.revisions: dict[str, list[dict[str, Any]]] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.drives: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)

    def _now(self) -> str:
        self._clock += timedelta(seconds=1)
        return self._clock.isoformat().replace("+00:00", ".000Z")

    def new_id(self, prefix: str = "f") -> str:
        return f"{prefix}{next(self._ids):04d}"

    def add_drive(self, drive_id: str, name: str) -> dict[str, Any]:
        drive = {"kind": "drive#drive", "id": drive_id, "name": name, "createdTime": self._now(), "hidden": False}
        self.drives[drive_id] = drive
        root = self.add(name, None, mime=FOLDER, file_id=drive_id)  # the drive's root folder has its id
        root.pop("owners", None)
        root["driveId"] = drive_id
        return drive

    def add(
        self,
        name: str,
        parent: str | None,
        *,
        mime: str = "text/plain",
        content: bytes | str | None = None,
        file_id: str | None = None,
        shortcut_to: str | None = None,
        description: str | None = None,
        sheets: dict[str, list[list[str]]] | None = None,
    ) -> dict[str, Any]:
        """Put a file (or folder, Doc, Sheet, shortcut) straight into the fake's state."""
        with self._state:
            file_id = file_id or self.new_id()
            now = self._now()
            item: dict[str, Any] = {
                "kind": "drive#file",
                "id": file_id,
                "name": name,
                "mimeType": SHORTCUT if shortcut_to else mime,
                "parents": [parent] if parent else [],
                "trashed": False,
                "starred": False,
                "createdTime": now,
                "modifiedTime": now,
                "version": "1",
                "webViewLink": f"https://drive.google.com/file/d/{file_id}/view",
            }
            drive = self._drive_of(parent)
            if drive:
                item["driveId"] = drive
            else:
                item["owners"] = [dict(ME)]
            if description is not None:
                item["description"] = description
            if shortcut_to:
                target = self.files[shortcut_to]
                item["shortcutDetails"] = {"targetId": shortcut_to, "targetMimeType": target["mimeType"]}
            self.files[file_id] = item
            if sheets is not None:
                self.sheets[file_id] = sheets
            if content is not None:
                self._store(file_id, content.encode() if isinstance(content, str) else content)
            self.permissions[file_id] = [
                {"kind": "drive#permission", "id": "p-owner", "type": "user", "role": "owner", **_who(ME)}
            ]
            self.comments[file_id] = []
            return item

    def _drive_of(self, parent: str | None) -> str | None:
        while parent:
            if parent in self.drives:
                return parent
            found = self.files.get(parent)
            parent = found["parents"][0] if found and found.get("parents") else None
        return None

    def _store(self, file_id: str, data: bytes) -> None:
        item = self.files[file_id]
        self.content[file_id] = data
        if not item["mimeType"].startswith("application/vnd.google-apps."):
            item["size"] = str(len(data))
        revisions = self.revisions.setdefault(file_id, [])
        item["version"] = str(int(item.get("version", "0")) + 1)
        item["modifiedTime"] = now = self._now()
        revisions.append(
            {
                "kind": "drive#revision",
                "id": f"r{len(revisions) + 1}",
                "mimeType": item["mimeType"],
                "modifiedTime": now,
                "size": str(len(data)),
                "keepForever": False,
                "lastModifyingUser": dict(ME),
            }
        )

    # -- helpers --------------------------------------------------------------------------------

    def not_found(self, request: FakeRequest) -> Response:
        return google_error(404, f"Not Found: {request.path}", "notFound")

    def fault_response(self, request: FakeRequest, status: int, body: Any) -> Response:
        if body is not None:
            return super().fault_response(request, status, body)
        reason = {429: "rateLimitExceeded", 403: "userRateLimitExceeded"}.get(status, "backendError")
        return google_error(status, f"injected {status}", reason)

    def _authorised(self, request: FakeRequest) -> Response | None:
        header = request.headers.get("authorization", "")
        if header.removeprefix("Bearer ") in self.valid_tokens and header.startswith("Bearer "):
            return None
        return google_error(401, "Request had invalid authentication credentials.", "authError")

    def _file(
        self, request: FakeRequest, file_id: str | None = None, flagged: bool = True
    ) -> dict[str, Any] | Response:
        """The file a request names; one in a shared drive is not found unless the request says
        `supportsAllDrives=true` (`flagged`: the method has that parameter at all)."""
        denied = self._authorised(request)
        if denied is not None:
            return denied
        file_id = file_id or request.params["fileId"]
        item = self.files.get(file_id)
        if item is None or (flagged and item.get("driveId") and request.arg("supportsAllDrives") != "true"):
            return google_error(404, f"File not found: {file_id}.", "notFound")
        return item

    def _field(self, item: dict[str, Any], name: str) -> Any:
        if name == "owners":
            return [o["emailAddress"] for o in item.get("owners", [])]
        if name in ("writers", "readers"):
            return [p.get("emailAddress") for p in self.permissions.get(item["id"], [])]
        if name == "fullText":
            text = self.content.get(item["id"], b"").decode("utf-8", "replace")
            return f"{item['name']} {item.get('description', '')} {text}"
        return item.get(name)

    # -- files ----------------------------------------------------------------------------------

    @route("GET", "/drive/v3/files")
    def list_files(self, request: FakeRequest) -> Response:
        denied = self._authorised(request)
        if denied is not None:
            return denied
        try:
            predicate = compile_query(request.arg("q") or "", self._field) if request.arg("q") else None
        except QueryError as error:
            return google_error(400, f"Invalid Value: q ({error})", "invalid")
        all_drives = request.arg("includeItemsFromAllDrives") == "true" and request.arg("supportsAllDrives") == "true"
        drive_id = request.arg("driveId")
        with self._state:
            found = [
                f
                for f in self.files.values()
                if (all_drives or not f.get("driveId"))
                and (drive_id is None or f.get("driveId") == drive_id)
                and (predicate is None or predicate(f))
            ]
        found.sort(key=lambda f: (f["mimeType"] != FOLDER, f["name"]))
        size = int(request.arg("pageSize") or 100)
        start = int(request.arg("pageToken") or 0)
        page: dict[str, Any] = {
            "kind": "drive#fileList",
            "incompleteSearch": False,
            "files": found[start : start + size],
        }
        if start + size < len(found):
            page["nextPageToken"] = str(start + size)
        return json_response(200, page)

    @route("GET", "/drive/v3/files/{fileId}")
    def get_file(self, request: FakeRequest) -> Response:
        item = self._file(request)
        if isinstance(item, Response):
            return item
        if request.arg("alt") != "media":
            return json_response(200, item)
        if item["mimeType"].startswith("application/vnd.google-apps."):
            return google_error(
                403, "Only files with binary content can be downloaded. Use Export.", "fileNotDownloadable"
            )
        return _ranged(self.content.get(item["id"], b""), request, item["mimeType"])

    @route("GET", "/drive/v3/files/{fileId}/export")
    def export(self, request: FakeRequest) -> Response:
        item = self._file(request, flagged=False)
        if isinstance(item, Response):
            return item
        wanted = request.arg("mimeType") or ""
        if wanted not in _EXPORTS.get(item["mimeType"], set()):
            return google_error(400, "The requested conversion is not supported.", "badRequest")
        if item["mimeType"] == SHEET and wanted == XLSX:
            data = xlsx(self.sheets.get(item["id"], {"Sheet1": []}))
        elif item["mimeType"] == SHEET:
            sheets = self.sheets.get(item["id"], {"Sheet1": []})
            rows = next(iter(sheets.values()), [])
            data = "\r\n".join(",".join(_csv_cell(c) for c in row) for row in rows).encode()
        else:
            data = self.content.get(item["id"], b"")
            if wanted == "text/plain" and item["mimeType"] == DOC:
                data = data.replace(b"# ", b"").replace(b"**", b"")
        if len(data) > self.export_limit:
            return google_error(403, "This file is too large to be exported.", "exportSizeLimitExceeded")
        return Response(200, data, {"Content-Type": wanted})

    @route("POST", "/drive/v3/files")
    def create(self, request: FakeRequest) -> Response:
        denied = self._authorised(request)
        if denied is not None:
            return denied
        return self._create(request, request.json() or {}, None, None)

    def _create(
        self, request: FakeRequest, meta: dict[str, Any], data: bytes | None, media_type: str | None
    ) -> Response:
        parents = meta.get("parents") or []
        for parent in parents:
            found = self._file(request, parent)
            if isinstance(found, Response):
                return found
        mime = meta.get("mimeType") or media_type or "application/octet-stream"
        stored_data = data
        if mime == DOC and data is not None:
            stored_data = data  # converted to a Doc: kept as its text
        item = self.add(meta.get("name", "Untitled"), parents[0] if parents else None, mime=mime)
        if meta.get("description") is not None:
            item["description"] = meta["description"]
        if stored_data is not None:
            self._store(item["id"], stored_data)
        return json_response(200, item)

    @route("PATCH", "/drive/v3/files/{fileId}")
    def update(self, request: FakeRequest) -> Response:
        item = self._file(request)
        if isinstance(item, Response):
            return item
        return self._update(request, item, request.json() or {}, None)

    def _update(self, request: FakeRequest, item: dict[str, Any], meta: dict[str, Any], data: bytes | None) -> Response:
        allowed = {"name", "description", "trashed", "mimeType"}
        unknown = set(meta) - allowed
        if unknown:
            return google_error(
                403, f"The resource body includes fields which are not directly writable: {unknown}", "fieldNotWritable"
            )
        with self._state:
            for key in ("name", "description", "trashed"):
                if key in meta:
                    item[key] = meta[key]
            adding = [p for p in (request.arg("addParents") or "").split(",") if p]
            removing = [p for p in (request.arg("removeParents") or "").split(",") if p]
            for parent in adding:
                found = self._file(request, parent)
                if isinstance(found, Response):
                    return found
            item["parents"] = [p for p in item["parents"] if p not in removing] + adding
            if data is not None:
                self._store(item["id"], data)
            else:
                item["modifiedTime"] = self._now()
        return json_response(200, item)

    @route("POST", "/drive/v3/files/{fileId}/copy")
    def copy(self, request: FakeRequest) -> Response:
        item = self._file(request)
        if isinstance(item, Response):
            return item
        meta = request.json() or {}
        parents = meta.get("parents") or item["parents"]
        for parent in parents:
            found = self._file(request, parent)
            if isinstance(found, Response):
                return found
        made = self.add(
            meta.get("name") or f"Copy of {item['name']}", parents[0] if parents else None, mime=item["mimeType"]
        )
        if item["id"] in self.content:
            self._store(made["id"], self.content[item["id"]])
        if item["id"] in self.sheets:
            self.sheets[made["id"]] = self.sheets[item["id"]]
        return json_response(200, made)

    @route("DELETE", "/drive/v3/files/{fileId}")
    def delete(self, request: FakeRequest) -> Response:
        item = self._file(request)
        if isinstance(item, Response):
            return item
        with self._state:
            del self.files[item["id"]]
        return Response(204)

    # -- uploads --------------------------------------------------------------------------------

    @route("POST", "/upload/drive/v3/files")
    def upload_create(self, request: FakeRequest) -> Response:
        return self._upload(request, None)

    @route("PATCH", "/upload/drive/v3/files/{fileId}")
    def upload_update(self, request: FakeRequest) -> Response:
        item = self._file(request)
        if isinstance(item, Response):
            return item
        return self._upload(request, item)

    def _upload(self, request: FakeRequest, item: dict[str, Any] | None) -> Response:
        denied = self._authorised(request)
        if denied is not None:
            return denied
        kind = request.arg("uploadType")
        if kind == "multipart":
            meta, data, media_type = _multipart(request)
            if item is None:
                return self._create(request, meta, data, media_type)
            return self._update(request, item, meta, data)
        if kind == "resumable":
            session = self.new_id("u")
            self.sessions[session] = {
                "meta": request.json() or {},
                "item": item["id"] if item else None,
                "type": request.headers.get("x-upload-content-type"),
                "data": b"",
                "request": request,
            }
            path = request.path
            location = f"{self.url}{path}?uploadType=resumable&upload_id={session}"
            return Response(200, b"", {"Location": location})
        if kind == "media" and item is not None:
            return self._update(request, item, {}, request.body)
        return google_error(400, f"Unsupported uploadType {kind!r}", "badRequest")

    @route("PUT", "/upload/drive/v3/files")
    def chunk_create(self, request: FakeRequest) -> Response:
        return self._chunk(request)

    @route("PUT", "/upload/drive/v3/files/{fileId}")
    def chunk_update(self, request: FakeRequest) -> Response:
        return self._chunk(request)

    def _chunk(self, request: FakeRequest) -> Response:
        session = self.sessions.get(request.arg("upload_id") or "")
        if session is None:
            return google_error(404, "No such upload session.", "notFound")
        span = request.headers.get("content-range", "")
        total_text = span.rsplit("/", 1)[-1] if "/" in span else "*"
        if not span.startswith("bytes */"):
            session["data"] += request.body
        received = len(session["data"])
        if total_text == "*" or received < int(total_text):
            headers = {"Range": f"bytes=0-{received - 1}"} if received else {}
            return Response(308, b"", headers)
        first: FakeRequest = session["request"]
        del self.sessions[request.arg("upload_id") or ""]
        if session["item"] is None:
            return self._create(first, session["meta"], session["data"], session["type"])
        return self._update(first, self.files[session["item"]], session["meta"], session["data"])

    # -- permissions, revisions, comments, drives, about ----------------------------------------------

    @route("GET", "/drive/v3/files/{fileId}/permissions")
    def list_permissions(self, request: FakeRequest) -> Response:
        item = self._file(request)
        if isinstance(item, Response):
            return item
        return json_response(200, {"kind": "drive#permissionList", "permissions": self.permissions[item["id"]]})

    @route("POST", "/drive/v3/files/{fileId}/permissions")
    def create_permission(self, request: FakeRequest) -> Response:
        item = self._file(request)
        if isinstance(item, Response):
            return item
        body = request.json() or {}
        kind = body.get("type")
        permission: dict[str, Any] = {"kind": "drive#permission", "type": kind, "role": body.get("role")}
        if kind == "anyone":
            permission["id"] = "anyoneWithLink"
            permission["allowFileDiscovery"] = bool(body.get("allowFileDiscovery", False))
        elif kind == "domain":
            permission["id"] = f"p-domain-{body.get('domain')}"
            permission["domain"] = body.get("domain")
        else:
            permission["id"] = f"p-{body.get('emailAddress')}"
            permission["emailAddress"] = body.get("emailAddress")
        self.permissions[item["id"]].append(permission)
        return json_response(200, permission)

    @route("DELETE", "/drive/v3/files/{fileId}/permissions/{permissionId}")
    def delete_permission(self, request: FakeRequest) -> Response:
        item = self._file(request)
        if isinstance(item, Response):
            return item
        kept = [p for p in self.permissions[item["id"]] if p["id"] != request.params["permissionId"]]
        if len(kept) == len(self.permissions[item["id"]]):
            return google_error(404, f"Permission not found: {request.params['permissionId']}.", "notFound")
        self.permissions[item["id"]] = kept
        return Response(204)

    @route("GET", "/drive/v3/files/{fileId}/revisions")
    def list_revisions(self, request: FakeRequest) -> Response:
        item = self._file(request, flagged=False)
        if isinstance(item, Response):
            return item
        return json_response(200, {"kind": "drive#revisionList", "revisions": self.revisions.get(item["id"], [])})

    @route("GET", "/drive/v3/files/{fileId}/comments")
    def list_comments(self, request: FakeRequest) -> Response:
        item = self._file(request, flagged=False)
        if isinstance(item, Response):
            return item
        if not request.arg("fields"):
            return google_error(400, "The 'fields' parameter is required for this method.", "required")
        return json_response(200, {"kind": "drive#commentList", "comments": self.comments[item["id"]]})

    @route("POST", "/drive/v3/files/{fileId}/comments")
    def create_comment(self, request: FakeRequest) -> Response:
        item = self._file(request, flagged=False)
        if isinstance(item, Response):
            return item
        if not request.arg("fields"):
            return google_error(400, "The 'fields' parameter is required for this method.", "required")
        now = self._now()
        comment = {
            "kind": "drive#comment",
            "id": self.new_id("c"),
            "content": (request.json() or {}).get("content", ""),
            "author": {"kind": "drive#user", "displayName": ME["displayName"]},
            "createdTime": now,
            "modifiedTime": now,
            "resolved": False,
            "deleted": False,
            "replies": [],
        }
        self.comments[item["id"]].append(comment)
        return json_response(200, comment)

    @route("GET", "/drive/v3/drives")
    def list_drives(self, request: FakeRequest) -> Response:
        denied = self._authorised(request)
        if denied is not None:
            return denied
        drives = sorted(self.drives.values(), key=lambda d: d["name"])
        size = int(request.arg("pageSize") or 10)
        start = int(request.arg("pageToken") or 0)
        page: dict[str, Any] = {"kind": "drive#driveList", "drives": drives[start : start + size]}
        if start + size < len(drives):
            page["nextPageToken"] = str(start + size)
        return json_response(200, page)

    @route("GET", "/drive/v3/about")
    def about(self, request: FakeRequest) -> Response:
        denied = self._authorised(request)
        if denied is not None:
            return denied
        return json_response(200, {"kind": "drive#about", "user": dict(ME)})


def xlsx(sheets: dict[str, list[list[str]]]) -> bytes:
    """A minimal .xlsx as Google writes them: shared strings for text, numbers as values."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    shared: list[str] = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        entries, rels = [], []
        for n, (title, rows) in enumerate(sheets.items(), start=1):
            lines = []
            for r, row in enumerate(rows, start=1):
                cells = []
                for c, value in enumerate(row):
                    ref = f"{chr(65 + c)}{r}"
                    if value.isdigit():
                        cells.append(f'<c r="{ref}"><v>{value}</v></c>')
                    else:
                        shared.append(value)
                        cells.append(f'<c r="{ref}" t="s"><v>{len(shared) - 1}</v></c>')
                lines.append(f'<row r="{r}">{"".join(cells)}</row>')
            book.writestr(
                f"xl/worksheets/sheet{n}.xml",
                f'<worksheet xmlns="{main}"><sheetData>{"".join(lines)}</sheetData></worksheet>',
            )
            entries.append(f'<sheet name="{escape(title, {chr(34): "&quot;"})}" sheetId="{n}" r:id="rId{n}"/>')
            rels.append(f'<Relationship Id="rId{n}" Target="worksheets/sheet{n}.xml" Type="{rel}/worksheet"/>')
        book.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>{"".join(entries)}</sheets></workbook>',
        )
        book.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{"".join(rels)}</Relationships>',
        )
        strings = "".join(f"<si><t>{escape(v)}</t></si>" for v in shared)
        book.writestr("xl/sharedStrings.xml", f'<sst xmlns="{main}">{strings}</sst>')
    return buffer.getvalue()


def _who(user: dict[str, Any]) -> dict[str, Any]:
    return {"emailAddress": user["emailAddress"], "displayName": user["displayName"]}


def _csv_cell(value: str) -> str:
    return f'"{value.replace(chr(34), chr(34) * 2)}"' if any(c in value for c in ',"\n') else value


def _ranged(data: bytes, request: FakeRequest, mime: str) -> Response:
    wanted = request.headers.get("range", "")
    if not wanted.startswith("bytes="):
        return Response(200, data, {"Content-Type": mime})
    start_text, _, end_text = wanted.removeprefix("bytes=").partition("-")
    start = int(start_text)
    end = min(int(end_text) if end_text else len(data) - 1, len(data) - 1)
    if start >= len(data) and data:
        return google_error(416, "Requested range not satisfiable.", "requestedRangeNotSatisfiable")
    headers = {"Content-Type": mime, "Content-Range": f"bytes {start}-{end}/{len(data)}"}
    return Response(206, data[start : end + 1], headers)


def _multipart(request: FakeRequest) -> tuple[dict[str, Any], bytes, str | None]:
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    parts = list(message.iter_parts())  # type: ignore[attr-defined]
    meta = json.loads(parts[0].get_payload(decode=True) or b"{}")
    media = parts[1]
    return meta, media.get_payload(decode=True) or b"", media.get_content_type()


class FakeGoogleAuth(FakeService):
    """Google's OAuth 2.0 endpoints: the token endpoint (refresh and code exchange) and a
    consent page that approves at once (redirects with a code), for the installed-app flow."""

    def __init__(self, drive: FakeDrive) -> None:
        super().__init__(name="google-oauth")
        self.drive = drive
        self.refresh_tokens = {"1//refresh-good"}
        self.codes: dict[str, str] = {}
        self.issued = 0
        self.lifetime = 3600
        self.assertions: list[dict[str, Any]] = []

    @route("POST", "/token")
    def token(self, request: FakeRequest) -> Response:
        form = request.form()
        grant = form.get("grant_type")
        if grant == "refresh_token" and form.get("refresh_token") in self.refresh_tokens:
            return self._issue(None)
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            payload = form.get("assertion", "").split(".")[1]
            self.assertions.append(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
            return self._issue(None)
        if grant == "authorization_code" and form.get("code") in self.codes:
            verifier = self.codes.pop(form["code"])
            if verifier and form.get("code_verifier") is None:
                return json_response(400, {"error": "invalid_request", "error_description": "Missing code verifier."})
            refresh = f"1//refresh-{self.issued + 1}"
            self.refresh_tokens.add(refresh)
            return self._issue(refresh)
        return json_response(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})

    def _issue(self, refresh: str | None) -> Response:
        self.issued += 1
        token = f"ya29.issued-{self.issued}"
        self.drive.valid_tokens.add(token)
        body: dict[str, Any] = {"access_token": token, "expires_in": self.lifetime, "token_type": "Bearer"}
        if refresh:
            body["refresh_token"] = refresh
        return json_response(200, body)

    @route("GET", "/auth")
    def consent(self, request: FakeRequest) -> Response:
        code = f"code-{len(self.codes) + 1}"
        self.codes[code] = request.arg("code_challenge") or ""
        target = f"{request.arg('redirect_uri')}?code={code}&state={request.arg('state')}"
        return Response(302, b"", {"Location": target})
