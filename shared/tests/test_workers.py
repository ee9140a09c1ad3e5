"""Blocking work runs in worker threads under the connector's limit, stops when cancelled,
and reports progress from the thread."""

import asyncio
import threading
import time
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any, cast

import anyio
import pytest

from patchbay.example.server import connector
from patchbay.testing import connect
from patchbay.toolcall import Warming
from patchbay.workers import _THREADS, WorkCancelled, Workers, _Threads, checkpoint

pytestmark = pytest.mark.anyio


def spin(stop_seen: list[str], counter: list[int]) -> None:
    """Blocking work that checks for cancellation between chunks, for ever."""
    try:
        while True:
            counter[0] += 1
            time.sleep(0.002)
            checkpoint()
    except WorkCancelled:
        stop_seen.append("stopped")
        raise


async def test_a_cancelled_call_stops_its_thread_and_frees_the_slot() -> None:
    workers = Workers(2)
    stop_seen: list[str] = []
    counter = [0]
    with anyio.move_on_after(0.1):
        await workers.run(spin, stop_seen, counter)
    freed_at = time.monotonic()
    assert workers.busy == 0  # the slot is only given back once the thread has stopped
    assert stop_seen == ["stopped"]
    reached = counter[0]
    await anyio.sleep(0.05)
    assert counter[0] == reached  # nothing runs on in the background
    assert time.monotonic() - freed_at < 1.0


async def test_a_deadline_stops_the_work_with_a_timeout() -> None:
    workers = Workers(1)
    stop_seen: list[str] = []
    with pytest.raises(TimeoutError):
        await workers.run(spin, stop_seen, [0], deadline=0.05)
    assert stop_seen == ["stopped"]
    assert workers.busy == 0


async def test_no_more_than_the_limit_run_at_once() -> None:
    workers = Workers(2)
    running = 0
    most = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(workers.run, work)
    assert most == 2


async def tick(ticks: list[int]) -> None:
    """Count the loop's turns, every 10 ms, until cancelled."""
    while True:
        ticks[0] += 1
        await anyio.sleep(0.01)


async def test_the_event_loop_stays_free_while_threads_work() -> None:
    workers = Workers(1)
    ticks = [0]
    async with anyio.create_task_group() as group:
        group.start_soon(tick, ticks)
        await workers.run(time.sleep, 0.3)  # a blocking call: the loop goes on ticking meanwhile
        group.cancel_scope.cancel()
    assert ticks[0] >= 10


async def test_progress_is_reported_from_a_worker_thread(era: str) -> None:
    updates: list[tuple[float, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        updates.append((done, message))

    async with connect(connector, {"seed_notes": 3500}, era=era) as client:
        result = await client.call_tool("count_words", {}, progress_callback=progress)
    assert result.structured_content == {"notes": 3500, "words": 14000}
    assert updates == [(1000.0, "1000 notes counted"), (2000.0, "2000 notes counted"), (3000.0, "3000 notes counted")]


WHO: ContextVar[str] = ContextVar("who", default="nobody")


async def test_the_work_sees_the_callers_context_and_raises_its_own_errors() -> None:
    workers = Workers(2)
    WHO.set("the caller")
    assert await workers.run(WHO.get) == "the caller"

    def fail() -> None:
        raise KeyError("in the thread")

    with pytest.raises(KeyError, match="in the thread"):
        await workers.run(fail)
    with pytest.raises(RuntimeError, match="StopIteration"):
        await workers.run(next, iter([]))
    assert await workers.run(lambda: threading.current_thread().daemon) is True  # never holds up the exit


async def test_a_caller_that_stops_waiting_leaves_no_result_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    released = threading.Event()
    loop_errors: list[object] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: loop_errors.append(context))
    with anyio.move_on_after(0.05):
        await _THREADS.run(released.wait, 5)  # no ticket: nothing tells it to stop
    released.set()
    await anyio.sleep(0.1)  # its result arrives for a caller that is gone
    assert loop_errors == []


async def test_idle_threads_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Threads, "IDLE_SECONDS", 0.05)
    threads = _Threads("test-pool")
    results = await asyncio.gather(*(threads.run(time.sleep, 0.02) for _ in range(4)))
    assert results == [None] * 4
    assert _workers_alive() >= 1
    await anyio.sleep(0.3)
    assert _workers_alive() == 0
    assert await threads.run(lambda: 7) == 7  # and start again when work comes


def _workers_alive() -> int:
    return sum(thread.name == "test-pool" for thread in threading.enumerate())


def test_a_result_for_a_closed_loop_does_not_cost_a_thread() -> None:
    threads = _Threads("test-closed-loop")
    released = threading.Event()

    async def abandon() -> None:
        with anyio.move_on_after(0.01):
            await threads.run(released.wait, 5)

    asyncio.run(abandon())  # the loop closes while the work still runs
    released.set()
    time.sleep(0.1)  # the thread finishes for a loop that is gone

    async def again() -> int:
        with anyio.fail_after(5):
            return await threads.run(lambda: 7)

    assert asyncio.run(again()) == 7
    assert sum(thread.name == "test-closed-loop" for thread in threading.enumerate()) == 1


async def test_work_that_turns_slow_never_holds_the_loop_up() -> None:
    """A kind of work that was quick is waited for on the loop thread, but only briefly."""
    threads = _Threads("test-quick")
    ticks = [0]

    def work(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    assert await threads.run(work, 0, kind="lookup") == 0
    assert threads._quick["lookup"] is True  # so the next one is waited for on the loop thread
    async with anyio.create_task_group() as group:
        group.start_soon(tick, ticks)
        assert await threads.run(work, 0.3, kind="lookup") == 0.3  # this time it is slow
        group.cancel_scope.cancel()
    assert ticks[0] >= 10  # the loop went on ticking meanwhile
    assert threads._quick["lookup"] is False  # and is not waited for next time


@pytest.mark.parametrize("seconds", [0, 0.05], ids=["handed back", "through the loop"])
async def test_results_and_errors_come_back_either_way(seconds: float) -> None:
    threads = _Threads("test-either-way")

    def fail() -> None:
        time.sleep(seconds)
        raise KeyError("in the thread")

    def stop() -> None:
        time.sleep(seconds)
        raise StopIteration

    for _ in range(2):  # the first run of a kind, then one whose speed is known
        assert await threads.run(lambda: time.sleep(seconds) or WHO.get(), kind="who") == WHO.get()
        with pytest.raises(KeyError, match="in the thread"):
            await threads.run(fail, kind="fail")
        with pytest.raises(RuntimeError, match="StopIteration"):
            await threads.run(stop, kind="stop")
    assert set(threads._quick.values()) == {seconds == 0}


async def test_warm_wakes_an_idle_thread_which_then_takes_the_work() -> None:
    """`warm` starts no thread, leaves the woken one idle, and the next work runs on it."""
    threads = _Threads("test-warm")
    threads.warm()  # no thread yet: nothing to wake, none started
    assert _named("test-warm") == 0 and threads._jobs.empty()
    first = await threads.run(threading.get_ident)
    for _ in range(3):
        threads.warm()
        threads.warm()  # a second wake-up while one is pending adds nothing
        assert threads._jobs.qsize() <= 1
        await anyio.sleep(0.01)  # the thread has taken its wake-up and waits again
        with anyio.fail_after(5):  # a wake-up the thread mistook for work would leave this unserved
            assert await threads.run(threading.get_ident) == first
    assert _named("test-warm") == 1
    assert threads._idle == 1


async def test_warm_while_the_only_thread_is_busy_starts_none_and_loses_no_work() -> None:
    threads = _Threads("test-warm-busy")
    released = threading.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: threads.run(released.wait, 5))
        await anyio.sleep(0.05)
        threads.warm()  # nobody idle
        assert threads._jobs.empty()
        released.set()
    threads.warm()  # now idle: woken
    with anyio.fail_after(5):
        assert await threads.run(lambda: 7) == 7
    assert _named("test-warm-busy") == 1


def _named(name: str) -> int:
    return sum(thread.name == name for thread in threading.enumerate())


async def test_a_call_of_a_plain_def_tool_wakes_a_worker_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tool that runs in a thread has one woken as its call arrives; an `async def` tool not."""
    woken: list[int] = []
    monkeypatch.setattr(Workers, "warm", lambda self: woken.append(1))
    sync_tools = [name for name, spec in connector.tools.items() if not asyncio.iscoroutinefunction(spec.fn)]
    async_tools = [name for name, spec in connector.tools.items() if asyncio.iscoroutinefunction(spec.fn)]
    assert "echo" in async_tools and sync_tools
    async with connect(connector) as client:
        await client.call_tool("echo", {"text": "hi"})
        assert woken == []
        await client.call_tool("count_words", {})
        assert woken == [1]


def test_warming_learns_which_async_tools_hand_work_over_and_only_registered_ones() -> None:
    async def reads_a_sdk() -> None: ...
    async def answers_alone() -> None: ...
    def walks() -> None: ...

    tools = {
        name: SimpleNamespace(fn=fn) for name, fn in [("sdk", reads_a_sdk), ("alone", answers_alone), ("walk", walks)]
    }
    warming = Warming(cast(Any, SimpleNamespace(workers=Workers(2), tools=tools)))
    assert warming.threaded == {"walk"}  # a plain def runs in a thread
    for name in ("sdk", "no_such_tool", "walk"):  # each hands work over
        mark = warming.arriving(name)
        warming.workers.handed += 1
        warming.done(name, mark)
    assert warming.threaded == {"walk", "sdk"}  # a name the client made up is not kept
    for name in ("sdk", "walk"):  # neither hands work over this time
        warming.done(name, warming.arriving(name))
    assert warming.threaded == {"walk"}  # the async tool is forgotten, the plain def never
