"""`RetryPolicy.slack_handlers()`: slack-sdk's own retry handlers, with the bound they lack.

slack-sdk keeps one `RetryState` per request and asks each handler in turn; its handlers
sleep as long as `Retry-After` says, without limit. These subclasses keep the SDK's
decisions (429; 500 and 503; connection resets) and add the policy's attempts, its
total-wait bound (counted in the state's `custom_values`) and `RateLimited` for a 429
that will not be retried. Imported only when a connector asks for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from patchbay.retry import RateLimited, parse_rate_limit, pause

if TYPE_CHECKING:
    from patchbay.retry import RetryPolicy

_WAITED = "patchbay_waited"


def _waited(state: RetryState) -> float:
    return float((state.custom_values or {}).get(_WAITED, 0.0))


def _wait_and_go_on(state: RetryState, wait: float) -> None:
    state.custom_values = {**(state.custom_values or {}), _WAITED: _waited(state) + wait}
    state.next_attempt_requested = True
    pause(wait)
    state.increment_current_attempt()


class _Bounded(RetryHandler):
    """The policy's backoff and bound for slack-sdk's server-error and connection-error handlers."""

    policy: RetryPolicy

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        wait = self.policy.delay(state.current_attempt + 1)
        return super().can_retry(state=state, request=request, response=response, error=error) and (
            _waited(state) + wait <= self.policy.max_wait
        )

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        _wait_and_go_on(state, self.policy.delay(state.current_attempt + 1))


class BoundedServerErrorRetryHandler(_Bounded, ServerErrorRetryHandler):
    """slack-sdk's retry of 500 and 503 answers, within the policy."""


class BoundedConnectionErrorRetryHandler(_Bounded, ConnectionErrorRetryHandler):
    """slack-sdk's retry of connection resets, within the policy."""


class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack-sdk's retry of 429 answers after `Retry-After`, within the policy; else `RateLimited`."""

    policy: RetryPolicy

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        limit = parse_rate_limit(429, response.headers)
        wait = max(limit.wait if limit else 0.0, self.policy.delay(state.current_attempt + 1))
        if state.current_attempt >= self.max_retry_count or _waited(state) + wait > self.policy.max_wait:
            method = request.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            resets_at = limit.resets_at if limit is not None and limit.wait > 0 else None
            raise RateLimited(self.policy.service, f"rate limit for {method}", resets_at)
        return True

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        limit = parse_rate_limit(429, response.headers) if response is not None else None
        _wait_and_go_on(state, max(limit.wait if limit else 0.0, self.policy.delay(state.current_attempt + 1)))


def slack_handlers(policy: RetryPolicy, *, tries: int) -> list[RetryHandler]:
    """The handlers for `policy` allowing `tries` attempts (see `RetryPolicy.slack_handlers`)."""
    handlers: list[RetryHandler] = [
        BoundedRateLimitRetryHandler(max_retry_count=tries - 1),
        BoundedServerErrorRetryHandler(max_retry_count=tries - 1),
        BoundedConnectionErrorRetryHandler(max_retry_count=tries - 1),
    ]
    for handler in handlers:
        handler.policy = policy  # type: ignore[attr-defined]
    return handlers
