"""The example connector's library tools: the upstream helper, the retry policy, a scope, the
content helper and untrusted-text cleaning, against a fake library with faults injected."""

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from mcp import Client

from patchbay.example.server import connector
from patchbay.testing import connect
from patchbay.workers import Workers

from .fake_library import FakeLibrary

pytestmark = pytest.mark.anyio

BOOKS = "/shelves/{shelf}/books"


@pytest.fixture(scope="module")
def library() -> Iterator[FakeLibrary]:
    with FakeLibrary() as fake:
        yield fake


@pytest.fixture
def fake(library: FakeLibrary) -> FakeLibrary:
    library.clear()
    return library


def settings(fake: FakeLibrary, **more: Any) -> dict[str, Any]:
    return {"library_url": fake.url, "shelves": "fiction,poetry", "retry_max_wait_seconds": 5, **more}


@pytest.fixture
async def client(fake: FakeLibrary, era: str) -> AsyncIterator[Client]:
    async with connect(connector, settings(fake), era=era) as client:
        yield client


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if hasattr(block, "text"))


async def test_a_shelf_in_scope_pages_through_the_upstream(client: Client, fake: FakeLibrary) -> None:
    first = await client.call_tool("list_shelf", {"shelf": "fiction", "limit": 3})
    assert first.structured_content is not None
    cursor = first.structured_content["next_cursor"]
    rest = await client.call_tool("list_shelf", {"shelf": "fiction", "limit": 3, "cursor": cursor})
    assert rest.structured_content is not None
    ids = [b["id"] for b in first.structured_content["items"] + rest.structured_content["items"]]
    assert ids == ["f00", "f01", "f02", "f03", "f04"]
    assert cursor != "3"  # the upstream token is sealed, never shown as is
    assert [r.arg("page_token") for r in fake.requests("GET", BOOKS)] == [None, "3"]


@pytest.mark.parametrize(
    ("shelf", "message"),
    [
        ("secret", "Access denied: 'secret' is outside the allowed shelves (PATCHBAY_EXAMPLE_SHELVES)."),
        ("fiction2", "Access denied: 'fiction2' is outside the allowed shelves (PATCHBAY_EXAMPLE_SHELVES)."),
        ("%73ecret", "Access denied: '%73ecret' is outside the allowed shelves (PATCHBAY_EXAMPLE_SHELVES)."),
        ("fiction/../secret", "Invalid argument 'shelf'"),
    ],
)
async def test_shelves_outside_the_scope_are_refused_before_any_request(
    client: Client, fake: FakeLibrary, shelf: str, message: str
) -> None:
    result = await client.call_tool("list_shelf", {"shelf": shelf})
    assert result.is_error
    assert text(result).startswith(message)
    assert fake.journal == []  # nothing reached the library


async def test_search_results_from_other_shelves_are_withheld(client: Client) -> None:
    result = await client.call_tool("search_books", {"query": "fiction"})
    assert result.structured_content is not None
    assert [b["id"] for b in result.structured_content["books"]] == ["f00", "f01", "f02", "f03", "f04"]
    assert result.structured_content["withheld"] == "1 result outside the allowed shelves was withheld."


async def test_titles_written_by_others_are_cleaned_and_the_removal_said(client: Client) -> None:
    result = await client.call_tool("list_shelf", {"shelf": "poetry"})
    assert result.structured_content is not None
    titles = {b["id"]: b["title"] for b in result.structured_content["items"]}
    assert titles["p01"] == "Odes"
    assert "15 hidden tag characters" in text(result)


async def test_rate_limits_within_the_bound_are_retried_by_urllib3(client: Client, fake: FakeLibrary) -> None:
    fake.fail("GET", BOOKS, status=429, times=1, headers={"Retry-After": "0"})
    fake.fail("GET", BOOKS, status=503, times=1)
    result = await client.call_tool("list_shelf", {"shelf": "fiction"})
    assert not result.is_error, text(result)
    assert [r.status for r in fake.requests("GET", BOOKS)] == [429, 503, 200]


async def test_a_rate_limit_beyond_the_bound_says_when_it_resets_without_waiting(
    client: Client, fake: FakeLibrary
) -> None:
    fake.fail("GET", BOOKS, status=429, times=None, headers={"Retry-After": "3600"})
    result = await client.call_tool("list_shelf", {"shelf": "fiction"})
    assert result.is_error
    assert text(result).startswith("The library's rate limit is exhausted; it resets at ")
    assert text(result).endswith(" UTC (in 1 h). Try again then.")
    assert len(fake.requests("GET", BOOKS)) == 1


async def test_server_errors_past_the_attempts_read_clearly(client: Client, fake: FakeLibrary) -> None:
    fake.fail("GET", BOOKS, status=503, times=None)
    result = await client.call_tool("list_shelf", {"shelf": "fiction"})
    assert result.is_error
    assert text(result) == "The library could not answer for shelf 'fiction' (HTTP 503); try again later."
    assert len(fake.requests("GET", BOOKS)) == 3  # retry_attempts (default 3) in all


async def test_a_dropped_connection_is_retried_then_reported(client: Client, fake: FakeLibrary) -> None:
    fake.drop("GET", BOOKS, times=None)
    result = await client.call_tool("list_shelf", {"shelf": "fiction"})
    assert result.is_error
    assert text(result) == "Could not reach the library (the connection failed or was dropped); try again later."


async def test_a_slow_library_meets_the_deadline(fake: FakeLibrary) -> None:
    fake.delay("GET", BOOKS, 5.0)
    async with connect(connector, settings(fake, upstream_timeout_seconds=0.5), era="legacy") as client:
        result = await client.call_tool("list_shelf", {"shelf": "fiction"})
    assert result.is_error
    assert "timed out" in text(result)


async def test_without_a_library_the_tools_say_what_to_set() -> None:
    async with connect(connector, {"shelves": "fiction"}, era="legacy") as client:
        result = await client.call_tool("list_shelf", {"shelf": "fiction"})
    assert text(result) == "No library is configured; the operator sets PATCHBAY_EXAMPLE_LIBRARY_URL."


async def test_a_text_book_is_read_up_to_the_cap(client: Client, fake: FakeLibrary) -> None:
    small = await client.call_tool("read_book", {"shelf": "fiction", "book": "f01"})
    big = await client.call_tool("read_book", {"shelf": "poetry", "book": "big", "max_bytes": 12})
    assert small.content[0].text == "Text of fiction book 1.\n"  # type: ignore[union-attr]
    assert len(small.content) == 1
    assert big.content[0].text == "verse\nverse\n"  # type: ignore[union-attr]
    assert big.content[1].text == "[cut: bytes 0-11 of 2400000; raise max_bytes to read more]"  # type: ignore[union-attr]


async def test_a_binary_book_over_the_cap_is_refused_before_its_body_is_read(client: Client, fake: FakeLibrary) -> None:
    cover = await client.call_tool("read_book", {"shelf": "poetry", "book": "cover"})
    refused = await client.call_tool("read_book", {"shelf": "poetry", "book": "cover", "max_bytes": 16})
    assert cover.content[0].type == "image"
    assert cover.content[0].mime_type == "image/png"  # type: ignore[union-attr]
    assert refused.is_error
    content = "/shelves/{shelf}/books/{book}/content"
    assert [r.method for r in fake.requests("*", content)] == ["HEAD", "GET", "HEAD"]  # no GET for the refusal


async def test_a_tool_that_called_its_upstream_wakes_a_worker_as_its_next_call_arrives(
    fake: FakeLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`search_books` is `async def` but hands its SDK call to a thread (`Upstream`): once a call
    of it has, its next call wakes a thread first. `echo` never hands any work over."""
    woken: list[str] = []
    monkeypatch.setattr(Workers, "warm", lambda self: woken.append("woken"))
    async with connect(connector, settings(fake), era="legacy") as client:
        await client.call_tool("echo", {"text": "hi"})
        await client.call_tool("search_books", {"query": "a"})
        assert woken == []  # not known yet
        await client.call_tool("search_books", {"query": "a"})
        assert woken == ["woken"]
        await client.call_tool("echo", {"text": "hi"})
        assert woken == ["woken"]
