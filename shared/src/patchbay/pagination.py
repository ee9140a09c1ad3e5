"""Pages and opaque, tamper-evident cursors.

A list-like tool declares `cursor: Cursor = None` and returns `Page[T]`. The tool only
ever sees the *upstream* token (an S3 continuation token, a Slack cursor, an offset):
the base decodes the client's cursor before the call and seals `next_cursor` after
it. A sealed cursor carries the upstream token, a digest of the query that produced
it (the tool and its other arguments) and its issue time, signed with HMAC-SHA256.
So a cursor that was edited, belongs to another query, or has expired is refused
with a clear error instead of returning a wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from patchbay.model_text import items_text, more

T = TypeVar("T")

Cursor = Annotated[
    str | None,
    Field(description="The previous page's next_cursor; omit for the first page."),
]
"""Type of a tool's `cursor` parameter; the tool body receives the upstream token."""

_VERSION = 1
_MAC_BYTES = 16


class Paginated(BaseModel):
    """A result with a `next_cursor`: what a paginated tool returns (`Page[T]`, or a model of its own).

    The tool sets `next_cursor` to its upstream token; the base seals it for the client.
    """

    next_cursor: str | None = Field(None, description="Cursor for the next page; null on the last page.")

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """Each list of objects (`items`, `messages`, ...) as an array whose items' fields are
        said in words (`item_fields`), not typed one by one.

        A client that checks structuredContent against the output schema (mcp.Client does, on
        every call) then makes one check per list instead of several per field of every item:
        a page of ten directory entries cost it 270 us typed in full, 73 us with each item
        typed as an object, 25 us now; pages grow to thousands of items.
        """
        json_schema = handler(core_schema)
        for prop in handler.resolve_ref_schema(json_schema).get("properties", {}).values():
            if prop.get("type") != "array" or "$ref" not in prop.get("items", {}):
                continue
            item = handler.resolve_ref_schema(prop["items"])
            if item.get("type") == "object" and "properties" in item:
                del prop["items"]
                prop["description"] = " ".join(filter(None, [prop.get("description"), item_fields(item)]))
        return json_schema


class Page(Paginated, Generic[T]):
    """One page of results; pass `next_cursor` back as `cursor` to get the next one."""

    items: list[T]

    def model_text(self) -> str:
        """The items (their own rendering, or a table), then how to get the next page."""
        return items_text(self.items) + more(self.next_cursor)


def item_fields(item: Mapping[str, Any]) -> str:
    """A model's JSON schema in one sentence:
    'Each item is an object (Entry): name (string); size (integer, optional): Bytes.'"""
    required = set(item.get("required", ()))
    fields = []
    for name, field in item["properties"].items():
        kind = _kind(field) + ("" if name in required else ", optional")
        about = field.get("description")
        fields.append(f"{name} ({kind})" + (f": {about.rstrip('.')}" if about else ""))
    title = f" ({item['title']})" if "title" in item else ""
    return f"Each item is an object{title}: " + "; ".join(fields) + "."


def _kind(field: Mapping[str, Any]) -> str:
    if "enum" in field:
        return "one of " + ", ".join(str(value) for value in field["enum"])
    if "const" in field:
        return f"always {field['const']}"
    if "anyOf" in field:
        return " or ".join(_kind(option) for option in field["anyOf"])
    if field.get("type") == "array" and isinstance(field.get("items"), Mapping):
        return f"array of {_kind(field['items'])}"
    if "type" in field:
        return str(field["type"])
    return "object" if "$ref" in field else "any"


class InvalidCursor(ValueError):
    """A cursor that was not issued by this server for this query, or has expired."""


class CursorCodec:
    """Seals upstream page tokens into opaque cursors bound to a query, and opens them."""

    def __init__(self, key: bytes, *, ttl_seconds: float = 3600.0) -> None:
        self._key = key
        self._ttl = ttl_seconds

    def encode(self, token: str, query: Mapping[str, Any]) -> str:
        """An opaque cursor for `token`, valid only for `query`."""
        body = _b64(json.dumps([_VERSION, token, _digest(query), int(time.time())], separators=(",", ":")).encode())
        return f"{body}.{_b64(self._mac(body))}"

    def decode(self, cursor: str, query: Mapping[str, Any]) -> str:
        """The upstream token inside `cursor`.

        Raises:
            InvalidCursor: tampered with, issued by another server or key, for another
                query, or expired; the message says which and what to do.
        """
        body, _, mac = cursor.partition(".")
        try:
            valid = hmac.compare_digest(_unb64(mac), self._mac(body))
            version, token, digest, issued = json.loads(_unb64(body)) if valid else (None, None, None, 0)
        except (ValueError, binascii.Error, TypeError):
            valid = False
        if not valid or version != _VERSION or not isinstance(token, str):
            raise InvalidCursor(
                "this cursor was not issued by this server (it is malformed, was altered, or the server's key "
                "changed); omit the cursor to start from the first page"
            )
        if not hmac.compare_digest(str(digest), _digest(query)):
            raise InvalidCursor(
                "this cursor belongs to a different query; repeat the exact query that returned it, "
                "or omit the cursor to start over"
            )
        if time.time() - float(issued) > self._ttl:
            raise InvalidCursor("this cursor has expired; omit the cursor to start from the first page")
        return token

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:_MAC_BYTES]


def _digest(query: Mapping[str, Any]) -> str:
    canonical = json.dumps(query, sort_keys=True, separators=(",", ":"), default=str)
    return _b64(hashlib.sha256(canonical.encode()).digest()[:16])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
