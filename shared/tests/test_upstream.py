"""Upstream calls: in a worker thread under the connector's limit, with a deadline and
cancellation that also cut a retry wait short, errors through the connector's mappers,
and one client per thread for SDKs that must not share one."""

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.server.mcpserver import Context
from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scripted_http import Answer, Scripted, scripted_server

from patchbay import Connector, ConnectorSettings, PerThread, RateLimited, ToolError, Upstream, upstream_of
from patchbay.errors import ErrorMapper
from patchbay.retry import RetryPolicy
from patchbay.testing import connect
from patchbay.workers import WorkCancelled, Workers, checkpoint

pytestmark = pytest.mark.anyio


class SDKError(Exception):
    """An upstream SDK's own exception."""


def sdk_mapper(exc: BaseException) -> str | None:
    return f"The service refused: {exc}." if isinstance(exc, SDKError) else None


def upstream(limit: int = 4, **options: Any) -> Upstream:
    return Upstream(Workers(limit), ErrorMapper([sdk_mapper]), **options)


@pytest.fixture
def server() -> Iterator[Scripted]:
    with scripted_server() as scripted:
        yield scripted


def spin_until_stopped(stopped: list[str]) -> None:
    try:
        while True:
            time.sleep(0.002)
            checkpoint()
    except WorkCancelled:
        stopped.append("stopped")
        raise


async def test_a_call_runs_in_a_worker_thread_and_returns_its_value() -> None:
    calls = upstream()
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def fetch(a: int, b: int) -> int:
        seen.append(threading.get_ident())
        return a + b

    assert await calls.call(fetch, 2, 3) == 5
    assert seen and seen[0] != loop_thread
    assert calls.workers.busy == 0


async def test_no_more_calls_run_at_once_than_the_connectors_limit() -> None:
    calls = upstream(limit=2)
    running = most = 0
    lock = threading.Lock()

    def slow() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(calls.call, slow)
    assert most == 2


async def test_the_deadline_stops_the_thread_and_reads_as_a_timeout() -> None:
    calls = upstream(deadline=0.1)
    stopped: list[str] = []
    with pytest.raises(ToolError) as raised:
        await calls.call(spin_until_stopped, stopped)
    assert str(raised.value) == "The operation timed out; try again, or narrow the request."
    assert stopped == ["stopped"]
    assert calls.workers.busy == 0


async def test_a_per_call_deadline_overrides_the_default() -> None:
    stopped: list[str] = []
    with pytest.raises(ToolError, match="timed out"):
        await upstream(deadline=3600).call(spin_until_stopped, stopped, deadline=0.05)
    assert stopped == ["stopped"]


async def test_a_cancelled_call_stops_its_thread() -> None:
    calls = upstream()
    stopped: list[str] = []
    with anyio.move_on_after(0.1):
        await calls.call(spin_until_stopped, stopped)
    assert stopped == ["stopped"]
    assert calls.workers.busy == 0


async def test_sdk_errors_go_through_the_connectors_mappers() -> None:
    def refuse() -> None:
        raise SDKError("no such repository")

    def crash() -> None:
        raise KeyError("internal detail")

    with pytest.raises(ToolError) as mapped:
        await upstream().call(refuse)
    assert str(mapped.value) == "The service refused: no such repository."
    with pytest.raises(ToolError) as unmapped:
        await upstream().call(crash)
    assert str(unmapped.value).startswith("Internal error (incident ")
    assert "internal detail" not in str(unmapped.value)


async def test_a_tool_error_passes_through_unchanged() -> None:
    def out_of_scope() -> None:
        raise ToolError("Repository o/r is not in scope.")

    with pytest.raises(ToolError, match=r"^Repository o/r is not in scope\.$"):
        await upstream().call(out_of_scope)


def github(server: Scripted, policy: RetryPolicy) -> Any:
    from github import Auth, Github

    return Github(
        base_url=server.url,
        auth=Auth.Token("ghp_test"),
        retry=policy.to_urllib3(),
        seconds_between_requests=0,
        seconds_between_writes=0,
    )


async def test_a_retry_wait_inside_the_sdk_is_cut_short_by_the_deadline(server: Scripted) -> None:
    # Retry-After 20 s fits the 30 s bound, so urllib3 waits; the 0.3 s deadline stops that wait.
    server.script("GET", "/users/octo", Answer(429, {"Retry-After": "20"}), Answer(200, body={"login": "octo"}))
    calls = upstream(deadline=0.3, service="GitHub")
    client = github(server, calls.retry)
    stopped: list[str] = []

    def get_user() -> Any:
        try:
            return client.get_user("octo")
        except WorkCancelled:
            stopped.append("stopped")
            raise

    with pytest.raises(ToolError, match="timed out"):
        await calls.call(get_user)
    # The thread left urllib3's wait when told to (a sleeping thread would still be asleep here).
    assert stopped == ["stopped"]
    assert server.count("GET", "/users/octo") == 1
    assert calls.workers.busy == 0


async def test_an_sdk_rate_limit_error_becomes_rate_limited(server: Scripted) -> None:
    reset = int(time.time()) + 30 * 60
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    server.script("POST", "/repos/o/r/issues", Answer(403, headers, {"message": "API rate limit exceeded for user."}))
    calls = upstream(service="GitHub")
    client = github(server, calls.retry)
    with pytest.raises(RateLimited) as raised:
        await calls.call(client.requester.requestJsonAndCheck, "POST", "/repos/o/r/issues")
    assert str(raised.value).startswith("GitHub's primary rate limit is exhausted; it resets at ")
    assert str(raised.value).endswith(" UTC (in 30 min). Try again then.")
    assert server.count("POST", "/repos/o/r/issues") == 1


# -- one client per thread ----------------------------------------------------------------------


async def test_each_worker_thread_gets_its_own_client_and_keeps_it() -> None:
    made_in: list[int] = []

    def factory() -> object:
        made_in.append(threading.get_ident())
        return object()

    clients = PerThread(factory)
    calls = upstream(limit=4)
    together = threading.Barrier(4, timeout=30)  # four calls provably in four threads at once

    def use() -> tuple[int, int]:
        client = clients.get()
        together.wait()
        assert clients.get() is client  # the same thread keeps its client
        return threading.get_ident(), id(client)

    results: list[tuple[int, int]] = []

    async def one() -> None:
        results.append(await calls.call(use))

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(one)
    threads = {thread for thread, _ in results}
    assert len(threads) == 4
    assert len({client for _, client in results}) == 4  # never one shared object
    assert sorted(made_in) == sorted(threads)  # each made in the thread that uses it
    assert len(clients.clients) == 4


def drive_document(server: Scripted) -> dict[str, Any]:
    import googleapiclient

    documents = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
    doc: dict[str, Any] = json.loads((documents / "drive.v3.json").read_text())
    doc["rootUrl"] = f"{server.url}/"
    return doc


async def test_drive_clients_on_httplib2_are_never_shared_between_threads(server: Scripted) -> None:
    import httplib2
    from googleapiclient.discovery import build_from_document

    server.script("GET", "/drive/v3/files", Answer(200, body={"files": []}))
    doc = drive_document(server)
    drives = PerThread(lambda: build_from_document(doc, http=httplib2.Http()))
    calls = upstream(limit=3)
    together = threading.Barrier(3, timeout=30)

    def list_files() -> tuple[int, int]:
        drive = drives.get()
        together.wait()
        assert drive.files().list().execute(num_retries=calls.retry.google_num_retries()) == {"files": []}
        return id(drive), id(drive._http)

    results: list[tuple[int, int]] = []

    async def one() -> None:
        results.append(await calls.call(list_files))

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(one)
    assert len({service for service, _ in results}) == 3
    assert len({http for _, http in results}) == 3  # three httplib2.Http objects, one per thread
    assert server.count("GET", "/drive/v3/files") == 3


# -- through a connector ------------------------------------------------------------------------


class Echo(BaseModel):
    text: str


class DemoSettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="PATCHBAY_UPSTREAMDEMO_")


demo = Connector(
    "upstreamdemo", title="Upstream demo", version="0.1.0", settings=DemoSettings, error_mappers=[sdk_mapper]
)


@demo.tool("read")
async def fetch(ctx: Context, what: str) -> Echo:
    """Fetch something from the upstream."""

    def blocking() -> str:
        if what == "refused":
            raise SDKError("no access")
        if what == "limited":
            raise RateLimited("GitHub", "primary rate limit", None)
        return f"{what} from thread {threading.current_thread().name}"

    return Echo(text=await upstream_of(ctx, "GitHub").call(blocking))


async def test_a_connector_tool_uses_its_runtimes_workers_mappers_and_settings() -> None:
    async with connect(demo, {"retry_attempts": 2, "upstream_timeout_seconds": 5}) as client:
        ok = await client.call_tool("fetch", {"what": "issue"})
        refused = await client.call_tool("fetch", {"what": "refused"})
        limited = await client.call_tool("fetch", {"what": "limited"})
    assert not ok.is_error and ok.structured_content is not None
    assert ok.structured_content["text"].startswith("issue from thread ")
    assert refused.is_error and refused.content[0].text == "The service refused: no access."
    assert limited.is_error
    assert limited.content[0].text == (
        "GitHub's primary rate limit is exhausted and it did not say when it resets; try again in a minute."
    )


def test_the_service_name_comes_from_the_policy_unless_given() -> None:
    assert upstream(retry=RetryPolicy(service="GitHub")).retry.service == "GitHub"
    assert upstream(retry=RetryPolicy(service="GitHub"), service="Slack").service == "Slack"
    assert upstream().service == "The upstream service"


def test_upstream_of_takes_the_policy_and_deadline_from_the_settings() -> None:
    settings = ConnectorSettings(retry_attempts=4, retry_max_wait_seconds=9, upstream_timeout_seconds=42)
    # upstream_of reads runtime_of(ctx): the request's lifespan context (a Runtime in a real server)
    runtime = type("R", (), {"settings": settings, "workers": Workers(1), "errors": ErrorMapper()})()
    ctx = Context(request_context=type("RC", (), {"lifespan_context": runtime})())
    calls = upstream_of(ctx, "Slack")
    assert (calls.retry.attempts, calls.retry.max_wait, calls.retry.service, calls.deadline) == (4, 9.0, "Slack", 42.0)
