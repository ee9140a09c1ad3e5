"""One retry policy for every connector, translated into each upstream SDK's own mechanism.

`RetryPolicy` comes from the settings every connector shares (`retry_attempts`,
`retry_max_wait_seconds`, `retry_idempotent_writes`) and turns itself into what each SDK
already knows how to do, instead of a loop of our own around it:

- PyGithub (requests/urllib3): `to_urllib3()` -> a `urllib3.util.retry.Retry` for
  `Github(retry=...)`;
- slack-sdk: `slack_handlers()` -> retry handlers for `WebClient(retry_handlers=...)`;
- boto3/botocore: `botocore_config()` -> `Config(retries={"mode": "standard", ...})`;
- google-api-python-client: `google_num_retries()` -> `request.execute(num_retries=...)`.

Which calls may be retried: reads always, idempotent writes (PUT, DELETE) unless
`retry_idempotent_writes` is off, non-idempotent writes (POST, PATCH, Slack's
`chat.postMessage`, Drive's `files.create`) never. urllib3 decides by HTTP method; the
other SDKs cannot tell a read from a write, so a connector asks for a write client or
a write call with `idempotent=False` (one attempt).

What the SDKs lack is added here, and only that: every wait (`Retry-After`,
`X-RateLimit-Reset`, backoff) counts against one bound per call, the longest total
wait. A rate limit whose reset lies beyond it is not waited for: it becomes
`RateLimited`, a tool error that says which limit and when it resets. Waits are taken
in short slices that check for cancellation, so a cancelled call or a deadline stops
a waiting worker thread too. Heavy SDKs are imported only inside the methods.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from patchbay.errors import ToolError
from patchbay.workers import checkpoint

if TYPE_CHECKING:
    from botocore.config import Config
    from slack_sdk.http_retry import RetryHandler
    from urllib3.util.retry import Retry

    from patchbay.settings import ConnectorSettings

__all__ = ["RateLimited", "RetryPolicy", "rate_limited_from"]

# Methods urllib3 may retry: reads, and idempotent writes when the policy allows them.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENT_WRITE_METHODS = frozenset({"PUT", "DELETE"})
# Statuses worth another attempt: throttled, or a server that failed transiently.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

# botocore "standard" mode waits rand() * min(base * 2**i, 20) s (base 1 s when throttled),
# plus up to 5 s more for an `x-amz-retry-after` header: the worst case per retry.
_BOTOCORE_MAX_BACKOFF = 20.0
_BOTOCORE_RETRY_AFTER_EXTRA = 5.0


class RateLimited(ToolError):
    """An upstream rate limit that will not reset within the wait this connector allows.

    The message names the service, the limit and when it resets, e.g. "GitHub's primary
    rate limit is exhausted; it resets at 14:05:00 UTC (in 12 min). Try again then."
    """

    def __init__(self, service: str, limit: str, resets_at: datetime | None, *, now: datetime | None = None) -> None:
        self.service = service
        self.limit = limit
        self.resets_at = resets_at
        super().__init__(_rate_limit_message(service, limit, resets_at, now or datetime.now(UTC)))


def _rate_limit_message(service: str, limit: str, resets_at: datetime | None, now: datetime) -> str:
    if resets_at is None:
        return f"{service}'s {limit} is exhausted and it did not say when it resets; try again in a minute."
    when = f"{resets_at:%H:%M:%S} UTC"
    if resets_at.date() != now.date():
        when = f"{resets_at:%Y-%m-%d} {when}"
    return f"{service}'s {limit} is exhausted; it resets at {when} (in {_span(resets_at - now)}). Try again then."


def _span(delta: timedelta) -> str:
    seconds = max(0.0, delta.total_seconds())
    if seconds < 60:
        return f"{math.ceil(seconds)} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@dataclass(frozen=True)
class RateLimit:
    """What a throttled answer said: which limit, how long until it resets, when that is."""

    limit: str
    wait: float
    resets_at: datetime

    def error(self, service: str, now: datetime | None = None) -> RateLimited:
        """The tool error for this limit."""
        return RateLimited(service, self.limit, self.resets_at, now=now)


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    """A header's value whatever its case (slack-sdk gives lists of values)."""
    for key, value in headers.items():
        if key.lower() == name.lower():
            if isinstance(value, list | tuple):
                value = value[0] if value else None
            return None if value is None else str(value).strip()
    return None


def parse_rate_limit(status: int, headers: Mapping[str, Any], now: datetime | None = None) -> RateLimit | None:
    """The rate limit a 429 (or GitHub's 403) answer reports, from `X-RateLimit-*` or `Retry-After`.

    `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset` (epoch seconds) is the quota of a
    window, GitHub's *primary* limit; `Retry-After` (seconds or an HTTP date) is a
    throttle, GitHub's *secondary* limit when the quota headers show calls left. A 403
    without either is a plain refusal, not a rate limit.
    """
    if status not in (403, 429):
        return None
    now = now or datetime.now(UTC)
    remaining = _header(headers, "X-RateLimit-Remaining")
    reset = _header(headers, "X-RateLimit-Reset")
    retry_after = _header(headers, "Retry-After")
    if remaining == "0" and reset is not None and reset.isdigit():
        resets_at = datetime.fromtimestamp(int(reset), UTC)
        resource = _header(headers, "X-RateLimit-Resource")
        limit = "primary rate limit" + (f" for {resource}" if resource and resource != "core" else "")
        # +1 s: the reset happens at some point within that second.
        return RateLimit(limit, max(0.0, (resets_at - now).total_seconds()) + 1, resets_at)
    if retry_after is not None:
        seconds = _retry_after_seconds(retry_after, now)
        if seconds is None:
            return None
        limit = "secondary rate limit" if remaining is not None else "rate limit"
        return RateLimit(limit, seconds, now + timedelta(seconds=seconds))
    if status == 429:
        return RateLimit("rate limit", 0.0, now)  # no word on when: retried with backoff
    return None


def _retry_after_seconds(value: str, now: datetime) -> float | None:
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def pause(seconds: float) -> None:
    """Sleep `seconds` in short slices, stopping at once if the call was cancelled (or its deadline passed)."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        checkpoint()
        time.sleep(min(left, 0.1))
    checkpoint()


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long an upstream call may be retried; see the module docstring."""

    attempts: int = 3
    """Tries of one call in all, the first included (1: never retried)."""
    max_wait: float = 30.0
    """The longest total wait between the tries of one call, in seconds."""
    idempotent_writes: bool = True
    """Whether idempotent writes (PUT, DELETE, deleting an object) are retried like reads."""
    backoff: float = 0.5
    """The wait before the second retry; it doubles with each further one (the first retry is at once)."""
    service: str = "The upstream service"
    """How the service is named in a `RateLimited` message ("GitHub")."""

    @classmethod
    def from_settings(cls, settings: ConnectorSettings, service: str = "The upstream service") -> RetryPolicy:
        """The policy the connector's settings describe."""
        return cls(
            attempts=settings.retry_attempts,
            max_wait=settings.retry_max_wait_seconds,
            idempotent_writes=settings.retry_idempotent_writes,
            service=service,
        )

    def for_service(self, service: str) -> RetryPolicy:
        """The same policy naming `service` in its errors."""
        return RetryPolicy(self.attempts, self.max_wait, self.idempotent_writes, self.backoff, service)

    def tries(self, *, idempotent: bool = True, write: bool = False) -> int:
        """Attempts allowed for a call: all of them for reads (and idempotent writes if allowed), else one."""
        if not idempotent or (write and not self.idempotent_writes):
            return 1
        return self.attempts

    def delay(self, retry: int) -> float:
        """The backoff before retry number `retry` (1-based): none for the first, then doubling."""
        return 0.0 if retry <= 1 else self.backoff * 2 ** (retry - 2)

    def retry_delays(self, *, idempotent: bool = True, write: bool = False) -> Iterator[float]:
        """The wait before each retry this policy allows, ending when attempts or the total wait run out.

        For a connector's own loop over a non-HTTP upstream (the PostgreSQL connector's
        reconnect): `wait = next(delays, None)`; None means give up.
        """
        waited = 0.0
        for retry in range(1, self.tries(idempotent=idempotent, write=write)):
            wait = self.delay(retry)
            if waited + wait > self.max_wait:
                return
            waited += wait
            yield wait

    def allowed_methods(self) -> frozenset[str]:
        """HTTP methods whose calls may be retried."""
        return READ_METHODS | (IDEMPOTENT_WRITE_METHODS if self.idempotent_writes else frozenset())

    # -- urllib3 (PyGithub, anything on requests) ------------------------------------------

    def to_urllib3(self) -> Retry:
        """A `urllib3` `Retry` for this policy: `Github(retry=policy.to_urllib3())`.

        urllib3 itself retries connection failures, and 429/5xx answers to the allowed
        methods (reads; PUT/DELETE if allowed; never POST or PATCH); GitHub's rate-limit
        403 (`X-RateLimit-Remaining: 0` or `Retry-After`) too. Added: the waits for
        `Retry-After` and `X-RateLimit-Reset` count against the total-wait bound, and a
        rate limit beyond it raises `RateLimited` at once. After the last attempt the SDK
        gets the last answer itself and raises its own error for it.
        """
        from patchbay._urllib3_retry import bounded_retry

        return bounded_retry(self)

    # -- slack-sdk ----------------------------------------------------------------------------

    def slack_handlers(self, *, idempotent: bool = True, write: bool = False) -> list[RetryHandler]:
        """Retry handlers for `slack_sdk.WebClient(retry_handlers=...)`.

        slack-sdk's own `RateLimitErrorRetryHandler`, `ServerErrorRetryHandler` and
        `ConnectionErrorRetryHandler`, bounded by this policy. Every Slack method is a
        POST, so the SDK cannot tell reads from writes: give the client that posts
        messages `idempotent=False` (one attempt; a 429 becomes `RateLimited`).
        """
        from patchbay._slack_retry import slack_handlers

        return slack_handlers(self, tries=self.tries(idempotent=idempotent, write=write))

    # -- botocore (boto3) ---------------------------------------------------------------------

    def botocore_attempts(self, *, idempotent: bool = True, write: bool = False) -> int:
        """`total_max_attempts` for botocore: this policy's attempts, cut so that botocore's
        worst-case backoff (it has no total bound of its own) fits the longest total wait."""
        tries = self.tries(idempotent=idempotent, write=write)
        worst = 0.0
        allowed = 1
        for retry in range(1, tries):
            worst += min(2.0 ** (retry - 1), _BOTOCORE_MAX_BACKOFF) + _BOTOCORE_RETRY_AFTER_EXTRA
            if worst > self.max_wait:
                break
            allowed = retry + 1
        return allowed

    def botocore_config(self, *, idempotent: bool = True, write: bool = False) -> Config:
        """`botocore.config.Config(retries={"mode": "standard", "total_max_attempts": N})`.

        botocore retries throttling and transient errors of every operation alike and has
        no per-call switch, so a connector builds a second client for writes:
        `botocore_config(write=True)` for idempotent ones (PutObject, DeleteObject: retried
        unless `retry_idempotent_writes` is off), `idempotent=False` for the rest (one
        attempt). Merge your own
        settings in: `policy.botocore_config().merge(Config(s3={...}))`.
        """
        from botocore.config import Config

        attempts = self.botocore_attempts(idempotent=idempotent, write=write)
        return Config(retries={"mode": "standard", "total_max_attempts": attempts})

    # -- google-api-python-client -------------------------------------------------------------

    def google_num_retries(self, *, idempotent: bool = True, write: bool = False) -> int:
        """`num_retries` for `HttpRequest.execute(num_retries=...)` (and `next_chunk`).

        googleapiclient retries 429, 5xx, `rateLimitExceeded`/`userRateLimitExceeded` 403s
        and connection errors of any method, waiting rand() * 2**n s before retry n
        (ignoring `Retry-After`); the count is cut so that its worst-case total wait fits
        the bound, and is 0 for a non-idempotent call (`files().create(...)`).
        """
        tries = self.tries(idempotent=idempotent, write=write)
        retries = 0
        while retries + 1 < tries and 2.0 ** (retries + 2) - 2 <= self.max_wait:
            retries += 1
        return retries


def rate_limited_from(exc: BaseException, service: str = "The upstream service") -> RateLimited | None:
    """A `RateLimited` for an SDK's own rate-limit error that was not (or no longer) retried.

    Knows PyGithub's `RateLimitExceededException` and `RateLimitExceededExceedsMaxWait`,
    slack-sdk's `SlackApiError` for a 429, googleapiclient's `HttpError` 429 and
    rate-limit 403s, and botocore's throttling `ClientError`s. Looks at class names and
    attributes only, so it imports no SDK.
    """
    if isinstance(exc, RateLimited):
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "GithubException" in names and getattr(exc, "status", None) in (403, 429):
        headers = getattr(exc, "headers", None) or {}
        limit = parse_rate_limit(int(exc.status), headers)  # type: ignore[attr-defined]
        if limit is not None:
            return limit.error(service)
    elif "SlackApiError" in names:
        response = getattr(exc, "response", None)
        if response is not None and getattr(response, "status_code", None) == 429:
            limit = parse_rate_limit(429, getattr(response, "headers", {}) or {})
            if limit is not None:
                return RateLimited(service, f"rate limit for {_slack_method(response)}", limit.resets_at)
    elif "HttpError" in names and hasattr(exc, "resp"):
        status = int(getattr(exc.resp, "status", 0))
        reason = str(getattr(exc, "reason", "") or "") + str(getattr(exc, "content", b"")[:2000])
        if status == 429 or (status == 403 and "ateLimitExceeded" in reason):
            limit = parse_rate_limit(429, dict(exc.resp))
            wait = limit.resets_at if limit is not None and limit.wait > 0 else None
            return RateLimited(service, "rate limit", wait)
    elif "ClientError" in names:
        code = str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))
        if code in _BOTOCORE_THROTTLING:
            return RateLimited(service, f"request rate limit ({code})", None)
    return None


def _slack_method(response: Any) -> str:
    url = str(getattr(response, "api_url", "") or "")
    return url.rstrip("/").rsplit("/", 1)[-1] or "this method"


# botocore's own list (botocore.retries.standard.ThrottledRetryableChecker), the S3 one first.
_BOTOCORE_THROTTLING = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
