"""Calls into a blocking upstream SDK: off the event loop, under the limit, bounded, errors mapped.

`Upstream.call(fn, *args)` runs `fn(*args)` through the connector's `Workers` (a slot of
`--workers`, cancellable, a deadline: `upstream_timeout_seconds` unless given), and turns
what it raises into the tool error the client reads: an SDK rate-limit error that was
not retried becomes `RateLimited` (which limit, when it resets), anything else goes
through the connector's error mappers (`Connector(error_mappers=...)`), so the message is
the same whether the call fails inside a tool or in the helper. Retries are the SDK's
own, configured from `upstream.retry` (see retry.py); this helper never loops.

`PerThread(factory)` gives each worker thread its own client, made on first use in that
thread, for SDKs whose clients must not be shared between threads (httplib2 under
google-api-python-client). Worker threads are reused, so each makes its client once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from mcp.server.mcpserver import Context

from patchbay.errors import ErrorMapper, ToolError
from patchbay.retry import RetryPolicy, rate_limited_from
from patchbay.workers import WorkCancelled, Workers

__all__ = ["PerThread", "Upstream", "upstream_of"]

T = TypeVar("T")
ClientT = TypeVar("ClientT")


class Upstream:
    """One connector's way to call its upstream SDK (see the module docstring)."""

    def __init__(
        self,
        workers: Workers,
        errors: ErrorMapper,
        *,
        retry: RetryPolicy | None = None,
        deadline: float | None = None,
        service: str | None = None,
    ) -> None:
        self.workers = workers
        self.errors = errors
        policy = retry or RetryPolicy()
        self.retry = policy.for_service(service) if service is not None else policy
        self.deadline = deadline
        self.service = self.retry.service

    async def call(self, fn: Callable[..., T], *args: Any, deadline: float | None = None, what: str = "") -> T:
        """`fn(*args)` in a worker thread; its result, or a `ToolError` saying what went wrong.

        `deadline` (seconds) overrides the connector's `upstream_timeout_seconds`; when it
        passes, the thread is told to stop (waits between retries stop at once) and the
        call fails as timed out. `what` names the call in the server log's incident line.

        Raises:
            ToolError: `RateLimited`, the deadline passed, or the mapped SDK error.
        """
        try:
            return await self.workers.run(fn, *args, deadline=deadline if deadline is not None else self.deadline)
        except (ToolError, WorkCancelled):
            raise
        except Exception as exc:
            limited = rate_limited_from(exc, self.service)
            if limited is not None:
                raise limited from None
            raise self.errors.to_tool_error(what or getattr(fn, "__qualname__", "upstream call"), exc) from None


def upstream_of(ctx: Context[Any, Any], service: str = "The upstream service") -> Upstream:
    """The `Upstream` of the connector behind a tool's `ctx`: its workers, error mappers, retry policy and deadline."""
    from patchbay.runtime import runtime_of

    runtime = runtime_of(ctx)
    settings = runtime.settings
    return Upstream(
        runtime.workers,
        runtime.errors,
        retry=RetryPolicy.from_settings(settings, service),
        deadline=settings.upstream_timeout_seconds,
        service=service,
    )


class PerThread(Generic[ClientT]):
    """A client per worker thread, made by `factory()` in that thread the first time it asks.

    ```python
    drive = PerThread(lambda: build_from_document(doc, http=AuthorizedHttp(creds, httplib2.Http())))
    await upstream.call(lambda: drive.get().files().list().execute(num_retries=n))
    ```
    """

    def __init__(self, factory: Callable[[], ClientT]) -> None:
        self._factory = factory
        self._local = threading.local()
        self._lock = threading.Lock()
        self._made: list[ClientT] = []

    def get(self) -> ClientT:
        """This thread's client."""
        client: ClientT | None = getattr(self._local, "client", None)
        if client is None:
            client = self._factory()
            self._local.client = client
            with self._lock:
                self._made.append(client)
        return client

    @property
    def clients(self) -> list[ClientT]:
        """Every client made so far, one per thread that asked (e.g. to close them at shutdown)."""
        with self._lock:
            return list(self._made)
