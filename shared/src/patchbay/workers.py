"""Blocking work off the event loop: worker threads under a per-connector limit.

File walks, regular expressions over file contents and every call of a blocking SDK
run in a worker thread, so one client's heavy call never holds up another client's.
`Workers.run` takes a slot of the connector's limit (`--workers`), runs the function
in a thread, and when the call is cancelled (`notifications/cancelled`, a client that
went away) tells the thread to stop: code in the thread calls `checkpoint()` between
chunks of work, which raises `WorkCancelled` once the call is cancelled. The slot is
held until the thread has really stopped (or a short grace period has passed), so the
limit counts threads that still run, not calls that still wait.

`Progress` sends progress notifications from the loop or from a worker thread alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context

T = TypeVar("T")

# How long a cancelled call waits for its thread to reach a checkpoint and stop.
CANCEL_GRACE_SECONDS = 1.0


class WorkCancelled(Exception):
    """Raised inside a worker thread by `checkpoint()` once its call was cancelled."""


class _Ticket:
    """One unit of work in a thread: its cancel flag and whether it has finished.

    A flag and a lock rather than two `threading.Event`s: this is made for every call of a
    plain `def` tool, and two events cost more than the rest of the hand-over to the thread."""

    __slots__ = ("_running", "cancelled", "finished", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop  # the loop that started the work, for progress sent from the thread
        self.cancelled = False  # set on the loop, read in the thread (a plain attribute is enough)
        self.finished = False
        self._running = threading.Lock()
        self._running.acquire()  # released when the work has finished

    def finish(self) -> None:
        """Called by the thread when the work is over, however it ended."""
        self.finished = True
        self._running.release()

    def wait_finished(self, timeout: float) -> bool:
        """Wait (blocking, at most `timeout` seconds) until the work has finished."""
        if self._running.acquire(timeout=timeout):
            self._running.release()
            return True
        return False


_ticket: ContextVar[_Ticket | None] = ContextVar("patchbay_worker_ticket", default=None)


def checkpoint() -> None:
    """Stop here if this work's call was cancelled (a no-op outside `Workers.run`).

    Raises:
        WorkCancelled: the call that started this work was cancelled.
    """
    ticket = _ticket.get()
    if ticket is not None and ticket.cancelled:
        raise WorkCancelled("the call was cancelled")


def in_worker() -> bool:
    """Whether the caller runs in a worker thread started by `Workers.run`."""
    return _ticket.get() is not None


class Workers:
    """The worker threads of one connector: at most `limit` run at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._limiter: anyio.CapacityLimiter | None = None
        self._running = 0
        self.handed = 0
        """Pieces of work handed to threads so far (a caller compares it before and after)."""

    @property
    def busy(self) -> int:
        """Threads running work now (cancelled work counts until it has stopped)."""
        return self._running

    def _slots(self) -> anyio.CapacityLimiter:
        if self._limiter is None:  # made on first use: a limiter belongs to a running event loop
            self._limiter = anyio.CapacityLimiter(self.limit)
        return self._limiter

    async def run(self, fn: Callable[..., T], *args: Any, deadline: float | None = None, kind: object = None) -> T:
        """`fn(*args)` in a worker thread, within the limit, cancellable, optionally bounded in time.

        `kind` names what the work is, for how its result comes back (`_Threads.run`): by
        default `fn`'s code, so a closure made per call counts as one kind.

        Raises:
            TimeoutError: `deadline` seconds passed first (the thread is told to stop).
            Whatever `fn` raises.
        """
        self.handed += 1
        async with self._slots():
            ticket = _Ticket(asyncio.get_running_loop())
            self._running += 1
            try:
                kind = kind if kind is not None else getattr(fn, "__code__", None)
                if deadline is None:
                    return await _THREADS.run(_in_thread, ticket, fn, args, kind=kind)
                with anyio.fail_after(deadline):
                    return await _THREADS.run(_in_thread, ticket, fn, args, kind=kind)
            except BaseException:
                if not ticket.finished:
                    ticket.cancelled = True
                    await _wait_stopped(ticket)
                raise
            finally:
                self._running -= 1

    def warm(self) -> None:
        """Wake an idle worker thread ahead of work about to be handed to it.

        A CPU that has gone idle between calls takes about 0.1 ms to wake on a VM: more than
        a small call's work. Called as a call arrives, the wake-up overlaps the loop's own
        checks, and the hand-over finds the thread awake. Starts no thread; a spare wake-up
        costs the thread one empty turn.
        """
        _THREADS.warm()


def _in_thread(ticket: _Ticket, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    token = _ticket.set(ticket)
    try:
        return fn(*args)
    finally:
        _ticket.reset(token)
        ticket.finish()


class _Threads:
    """Daemon threads that run work handed over from the event loop, started as needed and
    ended after `IDLE_SECONDS` without work.

    Leaner than `anyio.to_thread.run_sync` (no second limiter, no cancel scope; `Workers`
    keeps the limit): the work runs in a copy of the caller's context, and its result is
    handed straight back when the loop thread waits for it (quick work, see `run`), else set
    on the caller's loop. A cancelled caller stops waiting at once; the thread runs on (told
    to stop through its ticket) and its result is dropped. Daemon threads, so a call stuck in
    the kernel never holds up the server's exit.
    """

    IDLE_SECONDS = 10.0

    def __init__(self, name: str = "patchbay-worker") -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()  # None: only wake up
        self._lock = threading.Lock()
        self._idle = 0
        self._quick: dict[object, bool] = {}  # kind of work -> whether its last run took under QUICK_SECONDS

    async def run(self, fn: Callable[..., T], *args: Any, kind: object = None) -> T:
        """`fn(*args)` in a thread; its result on the caller's loop.

        Work of a `kind` whose last run took under `QUICK_SECONDS` is waited for on the loop
        thread itself, at most that long: the thread hands the result straight back, and the
        loop skips being woken through its self-pipe. Two thread wake-ups a call cost about
        0.3 ms of a small stdio call on a 2-CPU VM, more than the work they wrapped. Work that
        took longer, or takes longer this time, is awaited as usual, so a slow kind of work
        never holds the loop up by more than `QUICK_SECONDS` once.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        job = _Job(future, contextvars.copy_context(), fn, args, kind)
        with self._lock:  # a waiting thread takes it, else a new one (started first: that may fail)
            if self._idle:
                self._idle -= 1
            else:
                threading.Thread(target=self._serve, name=self.name, daemon=True).start()
            self._jobs.put(job)
        if self._quick.get(kind, True) and job.handed.acquire(timeout=QUICK_SECONDS):
            outcome = job.outcome
        else:
            with job.lock:  # from now on the thread sets the result on the loop
                job.waiting = False
                outcome = job.outcome
        if outcome is None:
            return await future
        return cast(T, _unwrap(outcome))

    def warm(self) -> None:
        """Wake an idle thread (if any, and none is already being woken) for work about to come."""
        with self._lock:
            if self._idle and self._jobs.empty():
                self._jobs.put(None)

    def _serve(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():  # no job was handed to this thread meanwhile
                        self._idle -= 1
                        return
                continue
            if job is None:  # `warm`: awake now, still idle
                continue
            started = time.perf_counter()
            try:
                outcome: tuple[bool, Any] = (True, job.context.run(job.fn, *job.args))
            except BaseException as exc:  # handed to the caller, whatever it is
                outcome = (False, exc)
            self._quick[job.kind] = time.perf_counter() - started < QUICK_SECONDS
            with self._lock:
                self._idle += 1
            with job.lock:
                job.outcome = outcome
                if job.waiting:  # the loop thread waits for it: hand it over directly
                    job.handed.release()
                    continue
            with contextlib.suppress(RuntimeError):  # its loop has closed: nobody waits for it
                job.future.get_loop().call_soon_threadsafe(_settle, job.future, outcome)


QUICK_SECONDS = 0.0005
"""Work that took less than this last time is waited for on the loop thread, at most this long."""


class _Job:
    """One piece of work handed to a thread, and how its result comes back."""

    __slots__ = ("args", "context", "fn", "future", "handed", "kind", "lock", "outcome", "waiting")

    def __init__(
        self,
        future: asyncio.Future[Any],
        context: contextvars.Context,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kind: object,
    ) -> None:
        self.future, self.context, self.fn, self.args, self.kind = future, context, fn, args, kind
        self.lock = threading.Lock()  # orders `waiting` and `outcome` between the two threads
        self.handed = threading.Lock()  # released by the thread when the loop thread waits for it
        self.handed.acquire()
        self.waiting = True
        self.outcome: tuple[bool, Any] | None = None


def _unwrap(outcome: tuple[bool, Any]) -> Any:
    ok, value = outcome
    if ok:
        return value
    if isinstance(value, StopIteration):  # as `_settle` says it
        raise RuntimeError(f"StopIteration raised in a worker thread: {value}")
    raise value


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.cancelled():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    elif isinstance(value, StopIteration):  # a future refuses it (it would end the awaiting coroutine)
        future.set_exception(RuntimeError(f"StopIteration raised in a worker thread: {value}"))
    else:
        future.set_exception(value)


_THREADS = _Threads()


async def _wait_stopped(ticket: _Ticket) -> None:
    """Wait (shielded from the cancellation itself, bounded) for a told-to-stop thread."""
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(ticket.wait_finished, CANCEL_GRACE_SECONDS)


class Progress:
    """Progress notifications for one call, every `every` units, from the loop or a worker thread.

    A no-op when the client did not ask for progress. Each `advance` is also a
    cancellation checkpoint, so a loop that reports progress stops when its call is
    cancelled.
    """

    def __init__(self, ctx: Context[Any, Any], unit: str, *, every: int = 2000) -> None:
        self._ctx = ctx
        self._unit = unit
        self._every = every
        self.count = 0

    def advance(self, amount: int = 1) -> None:
        """Count `amount` more units; in a worker thread, stop here if the call was cancelled.

        Raises:
            WorkCancelled: (in a worker thread) the call was cancelled.
        """
        before = self.count
        self.count += amount
        checkpoint()
        if self.count // self._every != before // self._every:  # the SDK drops it if nobody asked
            message = f"{self.count} {self._unit}"
            ticket = _ticket.get()
            if ticket is not None:
                sending = self._ctx.report_progress(self.count, None, message)
                asyncio.run_coroutine_threadsafe(sending, ticket.loop).result()
            # On the loop the caller awaits `report()` itself; a sync call cannot send.

    async def report(self) -> None:
        """Send the current count now (for async callers on the event loop)."""
        await self._ctx.report_progress(self.count, None, f"{self.count} {self._unit}")
