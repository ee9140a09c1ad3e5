"""One retry policy, carried out by each SDK's own mechanism against a real loopback server.

The server answers 429 with `Retry-After`, 503, then 200, and counts what it received:
that count is what PyGithub (urllib3), slack-sdk, boto3 (botocore) and
google-api-python-client retried by themselves with the policy's translation. A
non-idempotent write is sent once; a rate limit that resets beyond the longest total
wait is reported at once with which limit and when (a wait would hang the test).
"""

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scripted_http import Answer, Scripted, scripted_server

from patchbay.retry import RateLimited, RetryPolicy, parse_rate_limit, rate_limited_from
from patchbay.settings import ConnectorSettings

FAST = RetryPolicy(attempts=3, max_wait=30, backoff=0, service="GitHub")
THROTTLED_THEN_OK = (Answer(429, {"Retry-After": "0"}), Answer(503), Answer(200))


@pytest.fixture
def server() -> Iterator[Scripted]:
    with scripted_server() as scripted:
        yield scripted


def in_seconds(seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


# -- the policy and its settings ---------------------------------------------------------------


def test_the_policy_comes_from_the_shared_settings() -> None:
    default = ConnectorSettings().retry_policy("GitHub")
    assert (default.attempts, default.max_wait, default.idempotent_writes, default.service) == (3, 30.0, True, "GitHub")
    custom = ConnectorSettings(retry_attempts=5, retry_max_wait_seconds=7, retry_idempotent_writes=False)
    policy = RetryPolicy.from_settings(custom)
    assert (policy.attempts, policy.max_wait, policy.idempotent_writes) == (5, 7.0, False)


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="retry_attempts"):
        ConnectorSettings(retry_attempts=0)
    with pytest.raises(ValueError, match="retry_max_wait_seconds"):
        ConnectorSettings(retry_max_wait_seconds=-1)


def test_which_calls_may_be_retried() -> None:
    policy = RetryPolicy(attempts=4)
    assert policy.tries() == 4  # a read
    assert policy.tries(write=True) == 4  # an idempotent write
    assert policy.tries(idempotent=False) == 1  # never twice
    assert RetryPolicy(attempts=4, idempotent_writes=False).tries(write=True) == 1
    assert policy.allowed_methods() == {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
    assert "POST" not in policy.allowed_methods() and "PATCH" not in policy.allowed_methods()
    assert RetryPolicy(idempotent_writes=False).allowed_methods() == {"GET", "HEAD", "OPTIONS"}


def test_waits_between_retries_stay_within_the_longest_total_wait() -> None:
    assert list(RetryPolicy(attempts=5, backoff=1, max_wait=30).retry_delays()) == [0, 1, 2, 4]
    assert list(RetryPolicy(attempts=10, backoff=1, max_wait=10).retry_delays()) == [0, 1, 2, 4]  # 8 more: 15 > 10
    assert list(RetryPolicy(attempts=5).retry_delays(idempotent=False)) == []
    # botocore waits up to min(2**i, 20) + 5 s before retry i+1 and has no total bound: fewer attempts
    assert RetryPolicy(attempts=3, max_wait=30).botocore_attempts() == 3  # 6 + 7 = 13 s at worst
    assert RetryPolicy(attempts=10, max_wait=30).botocore_attempts() == 4  # + 9 = 22; + 13 = 35 > 30
    assert RetryPolicy(attempts=10, max_wait=0).botocore_attempts() == 1
    assert RetryPolicy(attempts=3).botocore_attempts(idempotent=False) == 1
    # googleapiclient waits rand() * 2**n before retry n: worst case 2 + 4 + 8 ...
    assert RetryPolicy(attempts=3, max_wait=30).google_num_retries() == 2
    assert RetryPolicy(attempts=10, max_wait=30).google_num_retries() == 4  # 2 + 4 + 8 + 16 = 30 s; + 32 exceeds
    assert RetryPolicy(attempts=3).google_num_retries(idempotent=False) == 0
    assert RetryPolicy(attempts=3, idempotent_writes=False).google_num_retries(write=True) == 0


def test_rate_limit_headers_say_which_limit_and_when() -> None:
    now = datetime(2026, 5, 1, 13, 53, 0, tzinfo=UTC)
    reset = int(datetime(2026, 5, 1, 14, 5, 0, tzinfo=UTC).timestamp())
    primary = parse_rate_limit(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}, now)
    assert primary is not None and primary.limit == "primary rate limit" and primary.wait == 12 * 60 + 1
    assert str(primary.error("GitHub", now)) == (
        "GitHub's primary rate limit is exhausted; it resets at 14:05:00 UTC (in 12 min). Try again then."
    )
    search = parse_rate_limit(
        429, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset), "X-RateLimit-Resource": "search"}, now
    )
    assert search is not None and search.limit == "primary rate limit for search"
    secondary = parse_rate_limit(403, {"Retry-After": "90", "X-RateLimit-Remaining": "4000"}, now)
    assert secondary is not None and secondary.limit == "secondary rate limit" and secondary.wait == 90
    assert str(secondary.error("GitHub", now)).endswith("it resets at 13:54:30 UTC (in 2 min). Try again then.")
    dated = parse_rate_limit(429, {"Retry-After": "Fri, 01 May 2026 13:53:30 GMT"}, now)
    assert dated is not None and dated.wait == 30 and dated.limit == "rate limit"
    assert parse_rate_limit(403, {"Content-Type": "application/json"}, now) is None  # a plain refusal
    assert parse_rate_limit(503, {"Retry-After": "5"}, now) is None  # unavailable, not a rate limit
    tomorrow = RateLimited("Slack", "rate limit for chat.postMessage", now + timedelta(hours=25), now=now)
    assert str(tomorrow) == (
        "Slack's rate limit for chat.postMessage is exhausted; it resets at 2026-05-02 14:53:00 UTC (in 25 h). "
        "Try again then."
    )
    unknown = RateLimited("S3", "request rate limit (SlowDown)", None)
    assert str(unknown) == (
        "S3's request rate limit (SlowDown) is exhausted and it did not say when it resets; try again in a minute."
    )


# -- PyGithub: urllib3's Retry -----------------------------------------------------------------


def github(server: Scripted, policy: RetryPolicy = FAST) -> Any:
    from github import Auth, Github

    return Github(
        base_url=server.url,
        auth=Auth.Token("ghp_test"),
        retry=policy.to_urllib3(),
        seconds_between_requests=0,
        seconds_between_writes=0,
    )


def test_github_reads_are_retried_by_urllib3(server: Scripted) -> None:
    server.script("GET", "/users/octo", *THROTTLED_THEN_OK[:2], Answer(200, body={"login": "octo", "id": 1}))
    assert github(server).get_user("octo").login == "octo"
    assert server.count("GET", "/users/octo") == 3


def test_github_gives_up_after_the_configured_attempts_with_the_sdks_own_error(server: Scripted) -> None:
    from github import GithubException

    server.script("GET", "/users/octo", Answer(503, body={"message": "Service Unavailable"}))
    with pytest.raises(GithubException) as raised:
        github(server, RetryPolicy(attempts=4, backoff=0)).get_user("octo")
    assert raised.value.status == 503
    assert server.count("GET", "/users/octo") == 4


def test_github_non_idempotent_writes_are_sent_once(server: Scripted) -> None:
    from github import GithubException

    server.script("POST", "/repos/o/r/issues", Answer(503, body={"message": "Service Unavailable"}))
    server.script("PATCH", "/repos/o/r/issues/1", Answer(503, body={"message": "Service Unavailable"}))
    client = github(server)
    with pytest.raises(GithubException):
        client.requester.requestJsonAndCheck("POST", "/repos/o/r/issues", input={"title": "once"})
    with pytest.raises(GithubException):
        client.requester.requestJsonAndCheck("PATCH", "/repos/o/r/issues/1", input={"title": "once"})
    assert server.count("POST", "/repos/o/r/issues") == 1
    assert server.count("PATCH", "/repos/o/r/issues/1") == 1


@pytest.mark.parametrize(("idempotent_writes", "sent"), [(True, 3), (False, 1)])
def test_github_idempotent_writes_follow_the_setting(server: Scripted, idempotent_writes: bool, sent: int) -> None:
    server.script("PUT", "/user/starred/o/r", *THROTTLED_THEN_OK)
    policy = RetryPolicy(attempts=3, backoff=0, idempotent_writes=idempotent_writes)
    status, _, _ = github(server, policy).requester.requestJson("PUT", "/user/starred/o/r")
    assert server.count("PUT", "/user/starred/o/r") == sent
    assert status == (200 if idempotent_writes else 429)


def test_github_primary_rate_limit_beyond_the_bound_is_reported_at_once(server: Scripted) -> None:
    reset = int(in_seconds(12 * 60).timestamp())
    headers = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    server.script("GET", "/users/octo", Answer(403, headers, {"message": "API rate limit exceeded for user."}))
    with pytest.raises(RateLimited) as raised:
        github(server).get_user("octo")
    at = datetime.fromtimestamp(reset, UTC)
    assert str(raised.value) == (
        f"GitHub's primary rate limit is exhausted; it resets at {at:%H:%M:%S} UTC (in 12 min). Try again then."
    )
    assert server.count("GET", "/users/octo") == 1  # not retried, not waited for


def test_github_secondary_rate_limit_beyond_the_bound_is_reported_at_once(server: Scripted) -> None:
    headers = {"Retry-After": "3600", "X-RateLimit-Remaining": "4990"}
    server.script("GET", "/users/octo", Answer(429, headers, {"message": "You have exceeded a secondary rate limit."}))
    with pytest.raises(RateLimited, match=r"^GitHub's secondary rate limit is exhausted; it resets at .* \(in 1 h\)"):
        github(server).get_user("octo")
    assert server.count("GET", "/users/octo") == 1


def test_github_rate_limit_waits_count_against_one_total(server: Scripted) -> None:
    # Each wait fits alone (1 s), but not the second on top of the first (bound 1.5 s): one wait, then the error.
    server.script("GET", "/users/octo", Answer(429, {"Retry-After": "1"}), Answer(429, {"Retry-After": "1"}))
    with pytest.raises(RateLimited, match="rate limit is exhausted"):
        github(server, RetryPolicy(attempts=5, max_wait=1.5, backoff=0)).get_user("octo")
    assert server.count("GET", "/users/octo") == 2


def test_github_a_403_that_is_no_rate_limit_is_not_retried(server: Scripted) -> None:
    from github import GithubException

    server.script("GET", "/repos/o/r", Answer(403, body={"message": "Resource not accessible by integration"}))
    with pytest.raises(GithubException) as raised:
        github(server).get_repo("o/r")
    assert raised.value.status == 403
    assert server.count("GET", "/repos/o/r") == 1


def test_github_rate_limit_on_a_write_is_not_retried_and_reads_clearly(server: Scripted) -> None:
    reset = int(in_seconds(5 * 60).timestamp())
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    server.script("POST", "/repos/o/r/issues", Answer(403, headers, {"message": "API rate limit exceeded for user."}))
    from github import RateLimitExceededException

    with pytest.raises(RateLimitExceededException) as raised:  # the SDK's own error: urllib3 did not retry a POST
        github(server).requester.requestJsonAndCheck("POST", "/repos/o/r/issues", input={"title": "x"})
    assert server.count("POST", "/repos/o/r/issues") == 1
    limited = rate_limited_from(raised.value, "GitHub")  # what Upstream.call reports for it
    assert limited is not None
    assert str(limited).startswith("GitHub's primary rate limit is exhausted; it resets at ")
    assert str(limited).endswith("(in 5 min). Try again then.")


# -- slack-sdk: its retry handlers -----------------------------------------------------------------


def slack(server: Scripted, policy: RetryPolicy, *, idempotent: bool = True) -> Any:
    from slack_sdk import WebClient

    return WebClient(
        token="xoxb-test", base_url=f"{server.url}/api/", retry_handlers=policy.slack_handlers(idempotent=idempotent)
    )


def test_slack_reads_are_retried_by_its_handlers(server: Scripted) -> None:
    ok = {"ok": True, "messages": [], "has_more": False}
    server.script("POST", "/api/conversations.history", *THROTTLED_THEN_OK[:2], Answer(200, body=ok))
    response = slack(server, FAST.for_service("Slack")).conversations_history(channel="C1")
    assert response["ok"] is True
    assert server.count("POST", "/api/conversations.history") == 3


def test_slack_gives_up_after_the_configured_attempts(server: Scripted) -> None:
    from slack_sdk.errors import SlackApiError

    server.script("POST", "/api/conversations.history", Answer(503, body={"ok": False, "error": "unavailable"}))
    with pytest.raises(SlackApiError):
        slack(server, RetryPolicy(attempts=2, backoff=0)).conversations_history(channel="C1")
    assert server.count("POST", "/api/conversations.history") == 2


def test_slack_posting_client_sends_a_message_once(server: Scripted) -> None:
    from slack_sdk.errors import SlackApiError

    server.script("POST", "/api/chat.postMessage", Answer(503, body={"ok": False, "error": "unavailable"}))
    with pytest.raises(SlackApiError):
        slack(server, FAST, idempotent=False).chat_postMessage(channel="C1", text="once")
    assert server.count("POST", "/api/chat.postMessage") == 1


def test_slack_rate_limit_beyond_the_bound_is_reported_at_once(server: Scripted) -> None:
    server.script("POST", "/api/conversations.history", Answer(429, {"Retry-After": "3600"}, {"ok": False}))
    with pytest.raises(RateLimited) as raised:
        slack(server, FAST.for_service("Slack")).conversations_history(channel="C1")
    assert str(raised.value).startswith("Slack's rate limit for conversations.history is exhausted; it resets at ")
    assert str(raised.value).endswith("(in 1 h). Try again then.")
    assert server.count("POST", "/api/conversations.history") == 1


def test_slack_rate_limited_post_is_reported_not_retried(server: Scripted) -> None:
    server.script("POST", "/api/chat.postMessage", Answer(429, {"Retry-After": "0"}, {"ok": False}), Answer(200))
    with pytest.raises(RateLimited, match=r"^Slack's rate limit for chat\.postMessage is exhausted"):
        slack(server, FAST.for_service("Slack"), idempotent=False).chat_postMessage(channel="C1", text="once")
    assert server.count("POST", "/api/chat.postMessage") == 1


# -- boto3: botocore's retries config --------------------------------------------------------------

S3_ERROR = b"<Error><Code>{code}</Code><Message>try later</Message><RequestId>1</RequestId></Error>"
S3_LIST = (
    b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Name>b</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
    b"</ListBucketResult>"
)


def s3_error(status: int, code: str) -> Answer:
    return Answer(status, {"Content-Type": "application/xml"}, S3_ERROR.replace(b"{code}", code.encode()))


def s3(server: Scripted, policy: RetryPolicy, **purpose: bool) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=policy.botocore_config(**purpose).merge(Config(s3={"addressing_style": "path"})),
    )


def test_s3_reads_are_retried_by_botocore(server: Scripted) -> None:
    server.script(
        "GET", "/b", s3_error(500, "InternalError"), s3_error(503, "ServiceUnavailable"), Answer(200, body=S3_LIST)
    )
    listed = s3(server, RetryPolicy(attempts=3)).list_objects_v2(Bucket="b")
    assert listed["KeyCount"] == 0
    assert server.count("GET", "/b") == 3


@pytest.mark.parametrize(("idempotent_writes", "sent"), [(True, 2), (False, 1)])
def test_s3_write_client_follows_the_setting(server: Scripted, idempotent_writes: bool, sent: int) -> None:
    from botocore.exceptions import ClientError

    server.script("PUT", "/b/k", s3_error(500, "InternalError"))
    policy = RetryPolicy(attempts=2, idempotent_writes=idempotent_writes)
    with pytest.raises(ClientError):
        s3(server, policy, write=True).put_object(Bucket="b", Key="k", Body=b"x")
    assert server.count("PUT", "/b/k") == sent


def test_s3_non_idempotent_client_sends_once(server: Scripted) -> None:
    from botocore.exceptions import ClientError

    server.script("POST", "/b/k", s3_error(500, "InternalError"))
    with pytest.raises(ClientError):
        s3(server, RetryPolicy(attempts=3), idempotent=False).create_multipart_upload(Bucket="b", Key="k")
    assert server.count("POST", "/b/k") == 1


def test_s3_throttling_that_outlasts_the_attempts_reads_clearly(server: Scripted) -> None:
    from botocore.exceptions import ClientError

    server.script("GET", "/b", s3_error(503, "SlowDown"))
    with pytest.raises(ClientError) as raised:
        s3(server, RetryPolicy(attempts=1)).list_objects_v2(Bucket="b")
    limited = rate_limited_from(raised.value, "S3")
    assert limited is not None
    assert str(limited) == (
        "S3's request rate limit (SlowDown) is exhausted and it did not say when it resets; try again in a minute."
    )


# -- google-api-python-client: num_retries ---------------------------------------------------------


def drive(server: Scripted) -> Any:
    import googleapiclient
    import httplib2
    from googleapiclient.discovery import build_from_document

    documents = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
    doc = json.loads((documents / "drive.v3.json").read_text())
    doc["rootUrl"] = f"{server.url}/"
    return build_from_document(doc, http=httplib2.Http())


def test_drive_reads_are_retried_by_num_retries(server: Scripted) -> None:
    server.script("GET", "/drive/v3/files", *THROTTLED_THEN_OK[:2], Answer(200, body={"files": []}))
    request = drive(server).files().list()
    waits: list[float] = []
    request._sleep = waits.append  # the SDK's own loop sleeps rand() * 2**n; recorded instead of slept
    assert request.execute(num_retries=FAST.google_num_retries()) == {"files": []}
    assert server.count("GET", "/drive/v3/files") == 3
    assert len(waits) == 2


def test_drive_creates_are_sent_once(server: Scripted) -> None:
    from googleapiclient.errors import HttpError

    server.script("POST", "/drive/v3/files", Answer(503, body={"error": {"code": 503, "message": "backend"}}))
    with pytest.raises(HttpError):
        drive(server).files().create(body={"name": "x"}).execute(num_retries=FAST.google_num_retries(idempotent=False))
    assert server.count("POST", "/drive/v3/files") == 1


def test_drive_rate_limit_after_the_retries_reads_clearly(server: Scripted) -> None:
    body = {"error": {"code": 429, "message": "Rate limit", "errors": [{"reason": "rateLimitExceeded"}]}}
    server.script("GET", "/drive/v3/files", Answer(429, {"Retry-After": "120"}, body))
    request = drive(server).files().list()
    request._sleep = lambda _seconds: None
    from googleapiclient.errors import HttpError

    with pytest.raises(HttpError) as raised:
        request.execute(num_retries=FAST.google_num_retries())
    assert server.count("GET", "/drive/v3/files") == 3
    limited = rate_limited_from(raised.value, "Google Drive")
    assert limited is not None
    assert str(limited).startswith("Google Drive's rate limit is exhausted; it resets at ")
    assert str(limited).endswith("(in 2 min). Try again then.")
