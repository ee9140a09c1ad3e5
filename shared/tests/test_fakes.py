"""The fake-service base: the real SDKs (PyGithub, google-api-python-client, slack-sdk) and the
stdlib talk to small fakes over loopback; contracts catch fakes that drift from the official
API descriptions; faults, journal and keep-alive behave exactly as documented.

The GitHub tests need the official description (tools/ensure-github-openapi.sh): without it
they skip saying so, and under CI=true that skip is a failure (root conftest.py).
"""

from __future__ import annotations

import copy
import http.client
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from patchbay.fake_contracts import undeclared_fields
from patchbay.testing import (
    ContractViolation,
    FakeRequest,
    FakeService,
    Response,
    drive_contract,
    drive_discovery_document,
    github_contract_or_skip,
    json_response,
    route,
)

# -- a small fake and a stdlib client -----------------------------------------------------------


class FakeNotes(FakeService):
    """A tiny stateful service: notes by key."""

    def __init__(self) -> None:
        super().__init__(name="notes")
        self.notes: dict[str, str] = {}
        self.reset()

    def reset(self) -> None:
        self.notes = {"a": "first"}

    @route("GET", "/notes/{key}")
    def get_note(self, request: FakeRequest) -> Response:
        key = request.params["key"]
        if key not in self.notes:
            return json_response(404, {"message": "Not Found"})
        return json_response(200, {"key": key, "text": self.notes[key]})

    @route("PUT", "/notes/{key}")
    def put_note(self, request: FakeRequest) -> Response:
        self.notes[request.params["key"]] = request.json()["text"]
        return json_response(201, {"key": request.params["key"]})

    @route("GET", "/notes/latest")
    def latest(self, request: FakeRequest) -> dict[str, Any]:
        return {"latest": True}

    @route("GET", "/files/{path:path}")
    def file(self, request: FakeRequest) -> dict[str, Any]:
        return {"path": request.params["path"], "ref": request.arg("ref")}


@pytest.fixture(scope="module")
def running_notes() -> Iterator[FakeNotes]:
    with FakeNotes() as fake:
        yield fake


@pytest.fixture
def notes(running_notes: FakeNotes) -> Iterator[FakeNotes]:
    """One fake for the module, fresh for every test: no faults, empty journal, state reset."""
    running_notes.clear()
    yield running_notes
    running_notes.assert_valid()


def call(fake: FakeService, method: str, target: str, body: Any = None, timeout: float = 10) -> tuple[int, Any, Any]:
    """(status, parsed JSON body, headers) of one request with urllib (a fresh connection each time)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(fake.url + target, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"null"), answer.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null"), error.headers


def ask(connection: http.client.HTTPConnection, method: str, target: str) -> http.client.HTTPResponse:
    """One request on a kept-alive connection."""
    connection.request(method, target)
    return connection.getresponse()


# -- routes, JSON, journal -----------------------------------------------------------------------


def test_routes_params_and_json(notes: FakeNotes) -> None:
    assert call(notes, "GET", "/notes/a")[:2] == (200, {"key": "a", "text": "first"})
    assert call(notes, "PUT", "/notes/b", {"text": "second"})[:2] == (201, {"key": "b"})
    assert notes.notes == {"a": "first", "b": "second"}
    # A literal route beats a parameter; {name:path} takes slashes; parameters are decoded.
    assert call(notes, "GET", "/notes/latest")[:2] == (200, {"latest": True})
    assert call(notes, "GET", "/files/docs/a%20b.md?ref=main")[:2] == (200, {"path": "docs/a b.md", "ref": "main"})
    # No route: the service's not-found answer; wrong method is no route either.
    assert call(notes, "GET", "/nowhere")[:2] == (404, {"message": "Not Found"})
    assert call(notes, "DELETE", "/notes/a")[0] == 404


def test_plain_function_routes() -> None:
    fake = FakeService(name="plain")

    @fake.route("POST", "/echo/{word}")
    def echo(request: FakeRequest) -> Response:
        return json_response(202, {"word": request.params["word"], "got": request.json()}, {"X-Echo": "yes"})

    with fake:
        status, body, headers = call(fake, "POST", "/echo/hi", {"n": 1})
    assert (status, body, headers["X-Echo"]) == (202, {"word": "hi", "got": {"n": 1}}, "yes")


def test_journal_records_what_the_client_sent(notes: FakeNotes) -> None:
    call(notes, "PUT", "/notes/k?dry=1&tag=x&tag=y", {"text": "t"})
    call(notes, "GET", "/notes/k")
    (put,) = notes.requests("PUT", "/notes/{key}")
    assert (put.method, put.path, put.query) == ("PUT", "/notes/k", {"dry": ["1"], "tag": ["x", "y"]})
    assert put.headers["content-type"] == "application/json"
    assert put.json() == {"text": "t"}
    assert (put.route, put.params, put.status, put.fault) == ("/notes/{key}", {"key": "k"}, 201, None)
    assert [r.method for r in notes.journal] == ["PUT", "GET"]
    assert notes.requests("GET", "/notes/k")[0].status == 200
    assert notes.requests("DELETE") == []


def test_journal_is_thread_safe(notes: FakeNotes) -> None:
    def hammer() -> None:
        for _ in range(10):
            call(notes, "GET", "/notes/a")

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal = notes.journal
    assert len(journal) == 40
    assert {r.status for r in journal} == {200}
    assert len({r.connection for r in journal}) == 40  # urllib opens one connection per request


# -- keep-alive and Content-Length ---------------------------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection(notes: FakeNotes) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", notes.port, timeout=10)
    try:
        for i in range(6):
            connection.request("PUT", f"/notes/k{i}", body=json.dumps({"text": str(i)}))
            answer = connection.getresponse()
            assert answer.status == 201
            assert answer.getheader("Content-Length") == str(len(answer.read()))
            assert answer.getheader("Connection") is None
            connection.request("GET", f"/notes/k{i}")
            answer = connection.getresponse()
            assert json.loads(answer.read()) == {"key": f"k{i}", "text": str(i)}
    finally:
        connection.close()
    assert notes.connections == 1
    assert {r.connection for r in notes.journal} == {1}
    assert len(notes.journal) == 12


def test_content_length_on_every_kind_of_answer(notes: FakeNotes) -> None:
    notes.fail("GET", "/notes/x", status=429, headers={"Retry-After": "3"})
    connection = http.client.HTTPConnection("127.0.0.1", notes.port, timeout=10)
    get_length = None  # of GET /notes/a, which comes first
    try:
        for method, target in [("GET", "/notes/a"), ("GET", "/notes/x"), ("GET", "/none"), ("HEAD", "/notes/a")]:
            connection.request(method, target)
            answer = connection.getresponse()
            body = answer.read()
            assert answer.getheader("Content-Length") is not None, (method, target)
            if method == "HEAD":  # answered by the GET route, without the body
                assert (answer.status, body, answer.getheader("Content-Length")) == (200, b"", get_length)
            else:
                assert int(answer.getheader("Content-Length", "-1")) == len(body)
                get_length = get_length or answer.getheader("Content-Length")
    finally:
        connection.close()
    assert notes.connections == 1


# -- faults ---------------------------------------------------------------------------------------


def test_429_with_retry_after_exactly_times_times_then_success(notes: FakeNotes) -> None:
    fault = notes.fail("GET", "/notes/{key}", status=429, times=2, headers={"Retry-After": "1"})
    answers = [call(notes, "GET", "/notes/a") for _ in range(3)]
    assert [a[0] for a in answers] == [429, 429, 200]
    assert [a[2]["Retry-After"] for a in answers[:2]] == ["1", "1"]
    assert answers[2][2]["Retry-After"] is None
    assert answers[0][1] == {"message": "429 Too Many Requests (injected by the fake)"}
    assert [(r.status, r.fault) for r in notes.journal] == [(429, "fail"), (429, "fail"), (200, None)]
    assert (fault.hits, fault.remaining) == (2, 0)


def test_5xx_until_cleared_with_a_given_body(notes: FakeNotes) -> None:
    notes.fail("GET", "/notes/a", status=503, times=None, body={"message": "down"})
    assert [call(notes, "GET", "/notes/a")[:2] for _ in range(3)] == [(503, {"message": "down"})] * 3
    notes.clear_faults()
    assert call(notes, "GET", "/notes/a")[0] == 200


def test_faults_apply_per_route_and_method(notes: FakeNotes) -> None:
    notes.fail("PUT", "/notes/{key}", status=500, times=None)
    notes.fail("*", "/files/{path:path}", status=502, times=None)
    assert call(notes, "GET", "/notes/a")[0] == 200
    assert call(notes, "PUT", "/notes/a", {"text": "x"})[0] == 500
    assert call(notes, "GET", "/files/x/y")[0] == 502
    assert call(notes, "GET", "/notes/latest")[0] == 200
    assert notes.notes == {"a": "first"}  # a failed write never reached the handler


def test_delay_answers_late_and_is_released_by_clear(notes: FakeNotes) -> None:
    notes.delay("GET", "/notes/a", seconds=0.05)
    assert call(notes, "GET", "/notes/a")[0] == 200  # late, but answered
    assert notes.journal[0].fault == "delay"
    notes.delay("GET", "/notes/a", seconds=60)
    with pytest.raises(TimeoutError):
        call(notes, "GET", "/notes/a", timeout=0.5)
    notes.clear_faults()  # releases the held answer at once
    assert call(notes, "GET", "/notes/a")[0] == 200


def test_dropped_connection_is_a_connection_error(notes: FakeNotes) -> None:
    notes.drop("GET", "/notes/a", times=1)
    with pytest.raises(ConnectionError) as raised:
        call(notes, "GET", "/notes/a")
    assert isinstance(raised.value, http.client.RemoteDisconnected)
    assert call(notes, "GET", "/notes/a")[0] == 200
    assert [(r.status, r.fault) for r in notes.journal] == [(None, "drop"), (200, None)]


def test_drop_on_a_kept_alive_connection(notes: FakeNotes) -> None:
    notes.drop("GET", "/notes/x")
    connection = http.client.HTTPConnection("127.0.0.1", notes.port, timeout=10)
    try:
        connection.request("GET", "/notes/a")
        assert connection.getresponse().read()
        with pytest.raises(http.client.RemoteDisconnected):
            ask(connection, "GET", "/notes/x")
    finally:
        connection.close()


def test_clear_starts_a_test_afresh(notes: FakeNotes) -> None:
    notes.fail("GET", "/notes/a", times=None)
    call(notes, "PUT", "/notes/z", {"text": "z"})
    notes.clear()
    assert (notes.journal, notes.connections, notes.notes) == ([], 0, {"a": "first"})
    assert call(notes, "GET", "/notes/a")[0] == 200


def test_times_must_be_positive(notes: FakeNotes) -> None:
    with pytest.raises(ValueError, match="times"):
        notes.fail("GET", "/x", times=0)


# -- lifecycle and findings -----------------------------------------------------------------------


def test_stop_closes_idle_and_held_connections() -> None:
    before = set(threading.enumerate())
    fake = FakeNotes().start()
    port = fake.port
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    idle.request("GET", "/notes/a")
    idle.getresponse().read()  # an idle keep-alive connection stays open
    fake.delay("GET", "/notes/a", seconds=600)
    outcome: list[object] = []

    def held_request() -> None:
        try:
            outcome.append(call(fake, "GET", "/notes/a")[0])
        except Exception as error:
            outcome.append(error)

    held = threading.Thread(target=held_request)
    held.start()
    while not fake.requests("GET", "/notes/a")[1:]:
        threading.Event().wait(0.01)
    fake.stop()  # returns: the held answer is released and both connections are closed
    held.join(timeout=10)
    assert not held.is_alive() and len(outcome) == 1
    assert set(threading.enumerate()) - before == set()  # serving and connection threads all ended
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    with pytest.raises(ConnectionError):  # the idle keep-alive connection was closed too
        ask(idle, "GET", "/notes/a")
    idle.close()


def test_a_handler_that_raises_fails_the_test() -> None:
    fake = FakeService(name="broken")

    @fake.route("GET", "/boom")
    def boom(request: FakeRequest) -> Response:
        raise KeyError("missing")

    with pytest.raises(ContractViolation, match=r"GET /boom: the fake's handler raised KeyError: 'missing'"), fake:
        assert call(fake, "GET", "/boom")[0] == 500


# -- undeclared fields ----------------------------------------------------------------------------


def test_undeclared_fields_see_through_allof_and_refs() -> None:
    schemas = {
        "a": {"type": "object", "properties": {"id": {"type": "integer"}, "owner": {"$ref": "#/owner"}}},
        "owner": {"type": "object", "properties": {"login": {"type": "string"}}},
        "both": {"allOf": [{"$ref": "#/a"}, {"type": "object", "properties": {"extra": {"type": "string"}}}]},
        "open": {"type": "object", "additionalProperties": True},
        "map": {"type": "object", "additionalProperties": {"$ref": "#/owner"}},
    }

    def resolve(ref: str) -> dict[str, Any]:
        return schemas[ref.removeprefix("#/")]  # type: ignore[return-value]

    both = schemas["both"]
    assert undeclared_fields({"id": 1, "extra": "x", "owner": {"login": "o"}}, both, resolve) == []
    assert undeclared_fields({"id": 1, "invented": 2, "owner": {"login": "o", "sneaky": 1}}, both, resolve) == [
        "$: undeclared field 'invented'",
        "$.owner: undeclared field 'sneaky'",
    ]
    assert undeclared_fields([{"anything": 1}], {"type": "array", "items": schemas["open"]}, resolve) == []
    assert undeclared_fields({"k": {"login": "x", "bad": 1}}, schemas["map"], resolve) == [
        "$.k: undeclared field 'bad'"
    ]


# -- GitHub: PyGithub against a fake checked against the official OpenAPI description ------------


def _repository(description: dict[str, Any]) -> dict[str, Any]:
    """A repository as GitHub returns it, from the description's own example with what the
    example leaves out (`language`) filled in and the optional nested repositories dropped."""
    example = description["components"]["examples"]["full-repository-default-response"]["value"]
    repository = copy.deepcopy(example)
    for nested in ("template_repository", "parent", "source", "organization"):
        repository.pop(nested, None)
    repository["language"] = "Python"
    repository["owner"]["user_view_type"] = "public"
    return repository  # type: ignore[no-any-return]


class FakeGitHub(FakeService):
    def __init__(self, repository: dict[str, Any], **options: Any) -> None:
        super().__init__(name="github", **options)
        self.repository = repository

    @route("GET", "/repos/{owner}/{repo}")
    def get_repo(self, request: FakeRequest) -> Response:
        if request.params["repo"] != self.repository["name"]:
            return json_response(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
        return json_response(200, self.repository)


@pytest.fixture(scope="module")
def github_description() -> dict[str, Any]:
    contract = github_contract_or_skip()
    return contract._description  # type: ignore[return-value]


def _pygithub(fake: FakeService) -> Any:
    from github import Auth, Github

    return Github(
        base_url=fake.url, auth=Auth.Token("ghp_test"), seconds_between_requests=0, seconds_between_writes=0, retry=0
    )


def test_pygithub_gets_a_repository_from_a_valid_fake(github_description: dict[str, Any]) -> None:
    with FakeGitHub(_repository(github_description), contract=github_contract_or_skip()) as fake:
        repo = _pygithub(fake).get_repo("octocat/Hello-World")
        assert (repo.full_name, repo.language, repo.owner.login) == ("octocat/Hello-World", "Python", "octocat")
        (seen,) = fake.requests("GET", "/repos/{owner}/{repo}")
        assert seen.params == {"owner": "octocat", "repo": "Hello-World"}
        assert seen.headers["authorization"] == "token ghp_test"
        assert fake.violations == []


def test_a_github_fake_that_invents_a_field_is_caught(github_description: dict[str, Any]) -> None:
    repository = _repository(github_description)
    repository["invented_field"] = 1
    repository["owner"]["secret_flag"] = True
    with pytest.raises(ContractViolation) as raised, FakeGitHub(repository, contract=github_contract_or_skip()) as fake:
        _pygithub(fake).get_repo("octocat/Hello-World")
    message = str(raised.value)
    assert "GitHub GET /repos/octocat/Hello-World → 200 body $: undeclared field 'invented_field'" in message
    assert "$.owner: undeclared field 'secret_flag'" in message


def test_a_github_fake_that_omits_a_required_field_is_caught(github_description: dict[str, Any]) -> None:
    repository = _repository(github_description)
    del repository["full_name"]
    repository["owner"]["id"] = "not-a-number"
    fake = FakeGitHub(repository, contract=github_contract_or_skip())
    with fake:
        _pygithub(fake).get_repo("octocat/Hello-World")
        with pytest.raises(ContractViolation) as raised:
            fake.assert_valid()
        fake.clear()
    message = str(raised.value)
    assert "'full_name' is a required property" in message
    assert "$.owner.id: 'not-a-number' is not of type 'integer'" in message


def test_a_request_outside_the_github_description_is_caught(github_description: dict[str, Any]) -> None:
    fake = FakeGitHub(_repository(github_description), contract=github_contract_or_skip())
    with fake:
        call(fake, "GET", "/repos/octocat/Hello-World/invented-endpoint")
        call(fake, "GET", "/repos/octocat/nope")  # documented 404: fine
        call(fake, "GET", "/repos/octocat/Hello-World/contents/docs/guide/a.md")  # {path} takes slashes: fine
        found = fake.violations
        fake.clear()
    assert len(found) == 1
    assert found[0].startswith("GitHub GET /repos/octocat/Hello-World/invented-endpoint request: PathNotFound")


# -- Drive: google-api-python-client against a fake checked against the discovery document -------


class FakeDrive(FakeService):
    def __init__(self, files: list[dict[str, Any]]) -> None:
        super().__init__(name="drive", contract=drive_contract())
        self.files = files

    def not_found(self, request: FakeRequest) -> Response:
        return json_response(404, {"error": {"code": 404, "message": "Not found", "errors": []}})

    @route("GET", "/drive/v3/files")
    def list_files(self, request: FakeRequest) -> Response:
        size = int(request.arg("pageSize") or 100)
        start = int(request.arg("pageToken") or 0)
        page: dict[str, Any] = {"kind": "drive#fileList", "files": self.files[start : start + size]}
        if start + size < len(self.files):
            page["nextPageToken"] = str(start + size)
        return json_response(200, page)


def _drive(fake: FakeService) -> Any:
    import httplib2
    from googleapiclient.discovery import build_from_document

    return build_from_document(drive_discovery_document(fake.url), http=httplib2.Http(timeout=10))


def _file(n: int) -> dict[str, Any]:
    return {"kind": "drive#file", "id": f"id{n}", "name": f"file {n}.txt", "mimeType": "text/plain"}


def test_googleapiclient_lists_files_from_a_valid_fake() -> None:
    with FakeDrive([_file(n) for n in range(3)]) as fake:
        drive = _drive(fake)
        first = drive.files().list(pageSize=2, fields="nextPageToken, files(id, name)").execute()
        second = drive.files().list(pageSize=2, pageToken=first["nextPageToken"]).execute()
        assert [f["id"] for f in first["files"] + second["files"]] == ["id0", "id1", "id2"]
        assert [r.arg("pageToken") for r in fake.requests("GET", "/drive/v3/files")] == [None, "2"]
        assert fake.violations == []


def test_a_drive_fake_that_invents_a_field_is_caught() -> None:
    bad = {**_file(0), "sharedSecretly": True, "size": 12}  # size is an int64 string in Drive
    with pytest.raises(ContractViolation) as raised, FakeDrive([bad]) as fake:
        _drive(fake).files().list().execute()
    message = str(raised.value)
    assert "Drive v3 drive.files.list (GET /drive/v3/files) → 200 body (FileList)" in message
    assert "$.files[0]: Additional properties are not allowed ('sharedSecretly' was unexpected)" in message
    assert "$.files[0].size: 12 is not of type 'string'" in message


def test_a_drive_request_the_document_does_not_allow_is_caught() -> None:
    fake = FakeDrive([])
    with fake:
        call(fake, "GET", "/drive/v3/files?pageSize=1&colour=blue")
        call(fake, "GET", "/drive/v3/invented")
        found = fake.violations
        fake.clear()
    assert found == [
        "Drive v3 drive.files.list (GET /drive/v3/files): unknown query parameter 'colour'",
        "Drive v3 GET /drive/v3/invented: no method of the discovery document has this path and HTTP method",
    ]


def test_a_resumable_sessions_chunks_are_checked_as_its_upload_method() -> None:
    """The session URI Google returns (`?uploadType=resumable&upload_id=...`) takes PUTs of chunks:
    allowed on an upload path, still refused elsewhere."""
    fake = FakeDrive([])
    with fake:
        call(fake, "PUT", "/upload/drive/v3/files?uploadType=resumable&upload_id=u1")
        call(fake, "PUT", "/upload/drive/v3/files/abc?uploadType=resumable&upload_id=u1")
        call(fake, "GET", "/drive/v3/files?upload_id=u1")
        found = fake.violations
        fake.clear()
    assert found == ["Drive v3 drive.files.list (GET /drive/v3/files): unknown query parameter 'upload_id'"]


# -- Slack: slack_sdk.WebClient against a fake ----------------------------------------------------


class FakeSlack(FakeService):
    def __init__(self) -> None:
        super().__init__(name="slack")
        self.messages: list[dict[str, Any]] = []

    def fault_response(self, request: FakeRequest, status: int, body: Any) -> Response:
        return json_response(status, {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"})

    @route("POST", "/api/auth.test")
    def auth_test(self, request: FakeRequest) -> dict[str, Any]:
        return {"ok": True, "team": "T", "user": "bot", "team_id": "T1", "user_id": "U1"}

    @route("POST", "/api/chat.postMessage")
    def post_message(self, request: FakeRequest) -> dict[str, Any]:
        self.messages.append(request.json())
        return {"ok": True, "channel": request.json()["channel"], "ts": "1.0"}


def test_slack_webclient_talks_to_a_fake_and_is_rate_limited() -> None:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    with FakeSlack() as fake:
        client = WebClient(token="xoxb-test", base_url=fake.url + "/api/")
        assert client.auth_test()["user_id"] == "U1"
        assert client.chat_postMessage(channel="C1", text="hi")["ts"] == "1.0"
        assert fake.messages == [{"channel": "C1", "text": "hi"}]
        assert fake.requests("POST", "/api/chat.postMessage")[0].headers["authorization"] == "Bearer xoxb-test"

        fake.fail("POST", "/api/auth.test", status=429, headers={"Retry-After": "0"})
        with pytest.raises(SlackApiError) as raised:
            client.auth_test()
        assert raised.value.response.status_code == 429
        assert raised.value.response["error"] == "ratelimited"

        fake.fail("POST", "/api/auth.test", status=429, headers={"Retry-After": "0"})
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
        assert client.auth_test()["ok"] is True
        assert [r.status for r in fake.requests("POST", "/api/auth.test")] == [200, 429, 429, 200]
