"""`RetryPolicy.to_urllib3()`: urllib3's own `Retry`, with the total-wait bound it lacks.

Imported only when a connector asks for it, so the base does not import urllib3 at start-up.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from patchbay.retry import RETRY_STATUSES, parse_rate_limit, pause

if TYPE_CHECKING:
    from patchbay.retry import RetryPolicy


class BoundedRetry(Retry):
    """urllib3's `Retry` whose waits (`Retry-After`, `X-RateLimit-Reset`, backoff) share one bound.

    urllib3 decides what is retried (methods, statuses, connection errors) and carries
    the count from attempt to attempt; this adds what it lacks: a rate limit whose
    reset lies beyond the bound raises `RateLimited` instead of sleeping (urllib3 would
    sleep up to six hours), a 403 is retried only when it is a rate limit (GitHub), and
    each wait can be cut short by cancellation.
    """

    policy: RetryPolicy
    waited: float = 0.0
    planned: float = 0.0

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.policy = self.policy
        retry.waited = self.waited
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        limit = parse_rate_limit(response.status, response.headers) if response is not None else None
        if response is not None and response.status == 403 and limit is None:
            # A plain refusal: not retried; with raise_on_status off the SDK gets the 403 itself.
            raise MaxRetryError(_pool, url, ResponseError("a 403 that is not a rate limit"))  # type: ignore[arg-type]
        known_reset = limit is not None and limit.wait > 0
        try:
            retry = super().increment(method, url, response, error, _pool, _stacktrace)
        except MaxRetryError:
            if limit is not None and known_reset:
                raise limit.error(self.policy.service) from None
            raise
        wait = limit.wait if limit is not None and known_reset else self.policy.delay(len(retry.history))
        if self.waited + wait > self.policy.max_wait:
            if limit is not None and known_reset:
                raise limit.error(self.policy.service)
            reason = error or ResponseError("the next wait would outlast the longest total wait")
            raise MaxRetryError(_pool, url, reason)  # type: ignore[arg-type]
        retry.waited = self.waited + wait
        retry.planned = wait
        return retry

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        pause(self.planned)


def bounded_retry(policy: RetryPolicy) -> BoundedRetry:
    """The `Retry` for `policy` (see `RetryPolicy.to_urllib3`)."""
    retry = BoundedRetry(
        total=policy.attempts - 1,
        allowed_methods=policy.allowed_methods(),
        status_forcelist=RETRY_STATUSES | {403},
        respect_retry_after_header=True,
        raise_on_status=False,  # after the last attempt the SDK sees the answer and raises its own error
        backoff_factor=0,  # the waits are the policy's, taken in `sleep`
    )
    retry.policy = policy
    return retry
