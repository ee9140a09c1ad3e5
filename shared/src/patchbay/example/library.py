"""The example connector's upstream: a small HTTP library service (shelves of books).

It shows how a connector stands on the base's upstream pieces. The client is urllib3
(what PyGithub and botocore use underneath); its retries are urllib3's own, configured
by the shared retry policy (`policy.to_urllib3()`), never a loop of ours; a rate limit
that outlasts the policy's bound comes back as `RateLimited`. Every call runs through
`upstream_of(ctx).call(...)` in the tools: a worker thread, a deadline, cancellation,
and the connector's error mappers for what goes wrong.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from patchbay.content import Content, read_content
from patchbay.retry import RetryPolicy, parse_rate_limit


class LibraryError(Exception):
    """The library answered with an error (mapped to a tool error by the connector)."""

    def __init__(self, status: int, what: str) -> None:
        super().__init__(f"{what}: the library answered {status}")
        self.status = status
        self.what = what


class Library:
    """A client of one library service; thread-safe (urllib3's pool), so one serves every worker."""

    def __init__(self, url: str, policy: RetryPolicy) -> None:
        import urllib3  # the example's only upstream dependency, loaded when a library is configured

        self.url = url.rstrip("/")
        self._policy = policy
        self._pool = urllib3.PoolManager(retries=policy.to_urllib3(), timeout=urllib3.Timeout(connect=5, read=30))

    def books(self, shelf: str, token: str | None, limit: int) -> dict[str, Any]:
        """One page of a shelf's books: `{"books": [...], "next_page_token": ...}`."""
        fields = {"limit": str(limit), **({"page_token": token} if token else {})}
        return self._json("GET", f"/shelves/{quote(shelf, safe='')}/books", fields, f"shelf {shelf!r}")

    def search(self, query: str) -> dict[str, Any]:
        """Books whose titles contain `query`, on any shelf: `{"books": [...]}`."""
        return self._json("GET", "/search", {"q": query}, "the search")

    def head(self, shelf: str, book: str) -> tuple[int | None, str | None]:
        """A book's content size in bytes and its type, from a HEAD request (None: not told)."""
        response = self._pool.request("HEAD", self._content(shelf, book))
        self._check(response, f"book {shelf}/{book}")
        length = response.headers.get("Content-Length")
        kind = response.headers.get("Content-Type")
        return (int(length) if length is not None and length.isdigit() else None), (
            kind.split(";")[0] if kind else None
        )

    def read(self, shelf: str, book: str, limit: int) -> bytes:
        """At most the first `limit` bytes of a book's content (the rest is never transferred whole)."""
        response = self._pool.request("GET", self._content(shelf, book), preload_content=False)
        try:
            self._check(response, f"book {shelf}/{book}")
            data: bytes = response.read(limit)
            return data
        finally:
            if response.length_remaining:
                response.close()  # the rest is not wanted: drop the connection rather than read it
            else:
                response.release_conn()

    def content(self, shelf: str, book: str, max_bytes: int) -> Content:
        """A book's content as MCP content: the size is asked first, so a binary book over
        `max_bytes` is refused before its body is read, and a text book is read up to the cap."""
        size, kind = self.head(shelf, book)

        def read(offset: int, length: int) -> bytes:
            return self.read(shelf, book, offset + length)[offset:]

        uri = f"library://{quote(shelf, safe='')}/{quote(book, safe='')}"
        return read_content(size, read, max_bytes=max_bytes, name=book, uri=uri, mime_type=kind)

    def _content(self, shelf: str, book: str) -> str:
        return f"{self.url}/shelves/{quote(shelf, safe='')}/books/{quote(book, safe='')}/content"

    def _json(self, method: str, path: str, fields: dict[str, str], what: str) -> dict[str, Any]:
        response = self._pool.request(method, self.url + path, fields=fields)
        self._check(response, what)
        data: dict[str, Any] = json.loads(response.data)
        return data

    def _check(self, response: Any, what: str) -> None:
        if response.status < 400:
            return
        limit = parse_rate_limit(response.status, response.headers)
        if limit is not None:
            raise limit.error(self._policy.service)
        raise LibraryError(response.status, what)


def library_errors(exc: BaseException) -> str | None:
    """What the model reads when the library fails (an error mapper)."""
    import urllib3.exceptions

    if isinstance(exc, LibraryError):
        if exc.status == 404:
            return f"No {exc.what} in the library; list_shelf shows what there is."
        return f"The library could not answer for {exc.what} (HTTP {exc.status}); try again later."
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return "Could not reach the library (the connection failed or was dropped); try again later."
    return None
