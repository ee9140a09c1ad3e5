"""Resource subscriptions: one watchfiles watcher per subscribed file or directory.

Watchers run in the connector's task group; each stops when its last subscriber
unsubscribes, and all stop when the server shuts down.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from types import TracebackType

import anyio
from anyio.abc import TaskGroup
from watchfiles import awatch

Notify = Callable[[str], Awaitable[None]]


class Watchers:
    """Watches subscribed paths and reports changes by resource URI."""

    def __init__(self) -> None:
        self._stops: dict[str, anyio.Event] = {}
        self._group: TaskGroup | None = None

    async def __aenter__(self) -> Watchers:
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for stop in self._stops.values():
            stop.set()
        self._stops.clear()
        assert self._group is not None
        self._group.cancel_scope.cancel()
        await self._group.__aexit__(kind, error, trace)

    @property
    def watched(self) -> list[str]:
        """URIs being watched."""
        return sorted(self._stops)

    def start(self, uri: str, path: str, is_directory: bool, notify: Notify) -> None:
        """Watch `path` (a directory recursively; a file through its directory, so that an
        atomic replace is seen too) and call `notify(uri)` after each batch of changes."""
        if uri in self._stops or self._group is None:
            return
        stop = self._stops[uri] = anyio.Event()
        self._group.start_soon(_watch, uri, path, is_directory, notify, stop)

    def stop(self, uri: str) -> None:
        """Stop watching `uri`."""
        if (stop := self._stops.pop(uri, None)) is not None:
            stop.set()


async def _watch(uri: str, path: str, is_directory: bool, notify: Notify, stop: anyio.Event) -> None:
    if is_directory:
        changes = awatch(path, stop_event=stop, recursive=True, debounce=200, step=20)
    else:
        changes = awatch(
            os.path.dirname(path),
            stop_event=stop,
            recursive=False,
            debounce=200,
            step=20,
            watch_filter=lambda _, changed: changed == path,
        )
    async for _ in changes:
        await notify(uri)
