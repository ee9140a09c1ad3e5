"""Loopback HTTP fakes of upstream services, for tests that run the real SDKs over real sockets.

    class FakeTracker(FakeService):
        def __init__(self) -> None:
            super().__init__(name="tracker")
            self.issues: dict[int, dict[str, Any]] = {}

        @route("GET", "/issues/{number}")
        def get_issue(self, request: FakeRequest) -> Response:
            issue = self.issues.get(int(request.params["number"]))
            return json_response(200, issue) if issue else json_response(404, {"message": "Not Found"})

    with FakeTracker() as fake:
        fake.fail("GET", "/issues/{number}", status=429, headers={"Retry-After": "1"}, times=2)
        ...  # point the SDK at fake.url; two 429s, then the real answer
        assert [r.status for r in fake.requests("GET", "/issues/1")] == [429, 429, 200]

A `FakeService` is a `ThreadingHTTPServer` on 127.0.0.1, on a free port, in a background
thread. It speaks HTTP/1.1 keep-alive, sends `Content-Length` on every answer that may have
a body and writes each answer in one buffered send (`wbufsize = -1`), so a client reusing
its connection never waits out the ~45 ms Nagle/delayed-ACK stall.

- Routes: `@route(method, pattern)` on a subclass's methods, or `@fake.route(...)` on plain
  functions; patterns are paths with `{name}` (one segment) or `{name:path}` (the rest,
  slashes included). A literal path beats one with parameters.
- Journal: every request the fake sees, answered or not (`fake.journal`,
  `fake.requests(method, path)`), with its connection number, so a test can assert what the
  SDK sent and how many connections it used.
- Faults, per route and per test, for the next `times` matching requests (None: every one):
  `fail` (an error status, e.g. 429 with `Retry-After`, or 503), `delay` (answer late) and
  `drop` (close the connection without answering). `clear()` removes them, with the journal.
- Contract: an optional `Contract` (see `patchbay.fake_contracts`) checks every request and
  every answer against the service's official API description; what it finds is collected
  and raised as `ContractViolation` by `assert_valid()` and when the `with` block ends, so a
  fake cannot invent fields. Injected faults are checked on the request side only.

The service's state is the subclass's business; `reset()` is the hook to clear it between tests.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Protocol, TypeVar

__all__ = [
    "Contract",
    "ContractViolation",
    "Fault",
    "FakeRequest",
    "FakeService",
    "Response",
    "json_response",
    "route",
    "text_response",
]

_NO_BODY_STATUSES = frozenset({204, 304})


class ContractViolation(AssertionError):
    """A fake sent or accepted something its service's official API description does not allow
    (or a route handler raised). The message lists every finding, one per line."""


@dataclass(frozen=True)
class Response:
    """An answer of the fake. `headers` may hold `Content-Type`; `Content-Length` is always computed."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        """The `Content-Type` header ("" when there is none)."""
        for name, value in self.headers.items():
            if name.lower() == "content-type":
                return value
        return ""

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def json_response(status: int = 200, body: Any = None, headers: Mapping[str, str] | None = None) -> Response:
    """An answer whose body is `body` as JSON (`application/json; charset=utf-8`)."""
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(status, payload, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})


def text_response(
    status: int = 200,
    text: str = "",
    headers: Mapping[str, str] | None = None,
    content_type: str = "text/plain; charset=utf-8",
) -> Response:
    """An answer whose body is `text` in UTF-8."""
    return Response(status, text.encode(), {"Content-Type": content_type, **(headers or {})})


@dataclass
class FakeRequest:
    """One request as the fake saw it; handlers get it, and the journal keeps it.

    `path` is the path as sent (percent-encoded, without the query); `params` are the route's
    path parameters, decoded; `headers` has lower-case names. `status` is the answer's status
    (None while unanswered, or when the connection was dropped) and `fault` names the fault
    that answered it (`fail`, `drop`; `delay` when only delayed)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    connection: int
    params: dict[str, str] = field(default_factory=dict)
    route: str | None = None
    status: int | None = None
    fault: str | None = None

    @property
    def target(self) -> str:
        """Path and query, as sent."""
        query = urllib.parse.urlencode([(k, v) for k, vs in self.query.items() for v in vs])
        return f"{self.path}?{query}" if query else self.path

    @property
    def content_type(self) -> str:
        """The `Content-Type` header ("" when there is none)."""
        return self.headers.get("content-type", "")

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of the query parameter `name`."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON (None for an empty body)."""
        return json.loads(self.body) if self.body else None

    def form(self) -> dict[str, str]:
        """The body parsed as `application/x-www-form-urlencoded` (last value wins)."""
        return dict(urllib.parse.parse_qsl(self.body.decode(), keep_blank_values=True))


Handler = Callable[[FakeRequest], "Response | dict[str, Any] | list[Any]"]
_F = TypeVar("_F", bound=Callable[..., Any])


class Contract(Protocol):
    """Checks requests and answers against an official API description; returns what is wrong
    as messages that name the field (an empty list when all is well)."""

    def check_request(self, request: FakeRequest) -> list[str]: ...

    def check_response(self, request: FakeRequest, response: Response) -> list[str]: ...


class _Pattern:
    """A path pattern: literal text with `{name}` (one segment) and `{name:path}` (the rest)."""

    _PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(:path)?\}")

    def __init__(self, pattern: str) -> None:
        if pattern != "*" and not pattern.startswith("/"):
            raise ValueError(f"a path pattern starts with '/': {pattern!r}")
        self.text = pattern
        regex, last, params = "", 0, 0
        for match in self._PARAM.finditer(pattern):
            regex += re.escape(pattern[last : match.start()])
            regex += f"(?P<{match.group(1)}>.+)" if match.group(2) else f"(?P<{match.group(1)}>[^/]+)"
            last, params = match.end(), params + 1
        regex += re.escape(pattern[last:])
        self.regex = re.compile(".*" if pattern == "*" else regex)
        self.params = params if pattern != "*" else 1_000
        self.open_ended = pattern == "*" or ":path}" in pattern

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        return {name: urllib.parse.unquote(value) for name, value in found.groupdict().items()}

    @property
    def rank(self) -> tuple[bool, int]:
        return (self.open_ended, self.params)


def _method_matches(wanted: str, method: str) -> bool:
    return wanted == "*" or wanted.upper() == method


@dataclass
class _Route:
    method: str
    pattern: _Pattern
    handler: Handler
    order: int


@dataclass
class Fault:
    """An injected fault; `remaining` is None for one that applies to every matching request."""

    kind: str  # "fail" | "delay" | "drop"
    method: str
    pattern: _Pattern
    remaining: int | None
    status: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    seconds: float = 0.0
    released: threading.Event = field(default_factory=threading.Event)
    hits: int = 0

    def _take(self, method: str, path: str) -> bool:
        """Whether this fault applies to the request; counts it down if so (caller holds the lock)."""
        if self.remaining == 0 or not _method_matches(self.method, method) or self.pattern.match(path) is None:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        self.hits += 1
        return True


def route(method: str, pattern: str) -> Callable[[_F], _F]:
    """Mark a method of a `FakeService` subclass as the handler of `method` `pattern`
    (it gets the `FakeRequest`; returns a `Response`, or a dict/list sent as JSON with 200)."""

    def mark(function: _F) -> _F:
        routes: list[tuple[str, str]] = [*getattr(function, "_fake_routes", ()), (method.upper(), pattern)]
        function._fake_routes = routes  # type: ignore[attr-defined]
        return function

    return mark


class FakeService:
    """A threaded loopback HTTP server with routes, a journal, faults and an optional contract."""

    def __init__(self, *, name: str | None = None, contract: Contract | None = None) -> None:
        self.name = name or type(self).__name__
        self.contract = contract
        self._lock = threading.Lock()
        self._routes: list[_Route] = []
        self._faults: list[Fault] = []
        self._journal: list[FakeRequest] = []
        self._violations: list[str] = []
        self._connections = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        for klass in reversed(type(self).__mro__):
            for attribute, value in vars(klass).items():
                for method, pattern in getattr(value, "_fake_routes", ()):
                    self.add_route(method, pattern, getattr(self, attribute))

    # -- routes -------------------------------------------------------------------------------

    def add_route(self, method: str, pattern: str, handler: Handler) -> None:
        """Answer `method` requests whose path matches `pattern` with `handler`."""
        with self._lock:
            self._routes.append(_Route(method.upper(), _Pattern(pattern), handler, len(self._routes)))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Decorator form of `add_route` for plain functions: `@fake.route("GET", "/x/{id}")`."""

        def register(handler: Handler) -> Handler:
            self.add_route(method, pattern, handler)
            return handler

        return register

    def not_found(self, request: FakeRequest) -> Response:
        """The answer to a request no route matches (override for the service's own error shape)."""
        return json_response(404, {"message": "Not Found"})

    def fault_response(self, request: FakeRequest, status: int, body: Any) -> Response:
        """The answer of an injected `fail` (override for the service's own error shape)."""
        if isinstance(body, bytes):
            return Response(status, body, {"Content-Type": "application/octet-stream"})
        if body is None:
            body = {"message": f"{status} {_reason(status)} (injected by the fake)"}
        return json_response(status, body)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeService:
        """Listen on a free 127.0.0.1 port and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError(f"{self.name} is already running")
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: close the listening socket and every open connection, release delayed
        answers and wait for the handler threads."""
        server, self._server = self._server, None
        if server is None:
            return
        with self._lock:
            for fault in self._faults:
                fault.released.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> FakeService:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
        if kind is None:
            self.assert_valid()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self.name} is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    # -- journal ------------------------------------------------------------------------------

    @property
    def journal(self) -> list[FakeRequest]:
        """Every request seen since the last `clear()`, in arrival order."""
        with self._lock:
            return list(self._journal)

    def requests(self, method: str = "*", path: str = "*") -> list[FakeRequest]:
        """The journal's requests with that method (`*`: any) whose path matches `path` (a pattern
        or a plain path; `*`: any)."""
        pattern = _Pattern(path)
        return [r for r in self.journal if _method_matches(method, r.method) and pattern.match(r.path) is not None]

    @property
    def connections(self) -> int:
        """How many connections clients opened since the last `clear()`."""
        with self._lock:
            return self._connections

    # -- faults -------------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path: str,
        *,
        status: int = 503,
        times: int | None = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Fault:
        """Answer the next `times` matching requests (None: all) with `status`, `headers` and
        `body` (JSON unless bytes; default: the service's `fault_response`)."""
        return self._add(Fault("fail", method, _Pattern(path), times, status, dict(headers or {}), body))

    def delay(self, method: str, path: str, seconds: float, *, times: int | None = 1) -> Fault:
        """Hold the next `times` matching answers (None: all) for `seconds` before answering as
        usual (a later `fail`/`drop` still applies). `clear()` and `stop()` release held ones."""
        return self._add(Fault("delay", method, _Pattern(path), times, seconds=seconds))

    def drop(self, method: str, path: str, *, times: int | None = 1) -> Fault:
        """Close the connection of the next `times` matching requests (None: all) without answering."""
        return self._add(Fault("drop", method, _Pattern(path), times))

    def _add(self, fault: Fault) -> Fault:
        if fault.remaining is not None and fault.remaining < 1:
            raise ValueError("times must be at least 1 (or None for every request)")
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove every fault (held answers are released)."""
        with self._lock:
            faults, self._faults = self._faults, []
        for fault in faults:
            fault.released.set()

    def clear(self) -> None:
        """Start a test afresh: no faults, an empty journal, no violations, connections counted
        from zero, and the subclass's `reset()`."""
        self.clear_faults()
        with self._lock:
            self._journal.clear()
            self._violations.clear()
            self._connections = 0
        self.reset()

    def reset(self) -> None:
        """Hook: put the service's state back as it was at construction (default: nothing)."""

    # -- contract -----------------------------------------------------------------------------

    @property
    def violations(self) -> list[str]:
        """What the contract found (and handler errors) since the last `clear()`."""
        with self._lock:
            return list(self._violations)

    def assert_valid(self) -> None:
        """Raise `ContractViolation` listing every finding since the last `clear()`."""
        found = self.violations
        if found:
            listed = "\n".join(f"- {v}" for v in found)
            raise ContractViolation(f"{self.name}: {len(found)} finding(s) against the API description:\n{listed}")

    def _note(self, messages: list[str]) -> None:
        if messages:
            with self._lock:
                self._violations.extend(messages)

    def _check(self, check: Callable[[], list[str]], what: str) -> None:
        try:
            self._note(check())
        except Exception as error:  # a contract that cannot check is a finding, never a silent pass
            self._note([f"{what}: the contract check raised {type(error).__name__}: {error}"])

    # -- serving (called from handler threads) ------------------------------------------------

    def _new_connection(self) -> int:
        with self._lock:
            self._connections += 1
            return self._connections

    def _serve(self, request: FakeRequest) -> Response | None:
        """The answer to `request` (None: drop the connection)."""
        with self._lock:
            self._journal.append(request)
            delays = [f for f in self._faults if f.kind == "delay" and f._take(request.method, request.path)]
        for held in delays:
            request.fault = "delay"
            held.released.wait(held.seconds)
        with self._lock:
            fault = next((f for f in self._faults if f.kind != "delay" and f._take(request.method, request.path)), None)
            found = self._find_route(request)
        contract = self.contract
        if contract is not None:
            self._check(lambda: contract.check_request(request), f"{request.method} {request.target}")
        if fault is not None:
            request.fault = fault.kind
            if fault.kind == "drop":
                return None
            response = self.fault_response(request, fault.status, fault.body)
            return Response(response.status, response.body, {**response.headers, **fault.headers})
        if found is None:
            response = self.not_found(request)
        else:
            try:
                answer = found.handler(request)
                response = answer if isinstance(answer, Response) else json_response(200, answer)
            except Exception as error:
                what = f"{request.method} {request.target}"
                self._note([f"{what}: the fake's handler raised {type(error).__name__}: {error}"])
                return json_response(500, {"message": f"the fake's handler raised {type(error).__name__}"})
        if contract is not None:
            self._check(lambda: contract.check_response(request, response), f"{request.method} {request.target}")
        return response

    def _find_route(self, request: FakeRequest) -> _Route | None:
        methods = {request.method}
        if request.method == "HEAD" and not any(r.method == "HEAD" for r in self._routes):
            methods.add("GET")  # HEAD is GET without the body, unless the fake routes HEAD itself
        candidates = []
        for candidate in self._routes:
            if candidate.method not in methods:
                continue
            params = candidate.pattern.match(request.path)
            if params is not None:
                candidates.append((candidate.pattern.rank, candidate.order, candidate, params))
        if not candidates:
            return None
        _, _, found, params = min(candidates, key=lambda c: (c[0], c[1]))
        request.params, request.route = params, found.pattern.text
        return found


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class _Server(ThreadingHTTPServer):
    """Tracks its connections so that `stop()` can close them and join their threads."""

    daemon_threads = True
    fake: FakeService

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._open: dict[socket.socket, threading.Thread] = {}
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._work, args=(request, client_address), name=f"fake-{self.fake.name}-conn", daemon=True
        )
        with self._open_lock:
            self._open[request] = thread
        thread.start()

    def _work(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # a client that went away mid-answer is the client's business
            self.handle_error(request, client_address)
        finally:
            with self._open_lock:
                self._open.pop(request, None)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: broken connections are normal in fault tests; handler bugs are findings instead."""

    def close_connections(self) -> None:
        with self._open_lock:
            open_now = dict(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in open_now.values():
            thread.join(timeout=10)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # one buffered send per answer: no Nagle/delayed-ACK stall on keep-alive
    disable_nagle_algorithm = True
    server: _Server
    connection_number = 0

    def setup(self) -> None:
        super().setup()
        self.connection_number = self.server.fake._new_connection()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the journal is the log."""

    def handle_expect_100(self) -> bool:
        """Answer `Expect: 100-continue` at once: the buffered writer would otherwise hold the interim
        answer back, and the client (botocore sends it with every PUT body) waits a second for it."""
        self.send_response_only(HTTPStatus.CONTINUE)
        self.end_headers()
        self.wfile.flush()
        return True

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._answer()
            self.wfile.flush()
        except (TimeoutError, ConnectionError, OSError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        request = FakeRequest(
            method=self.command.upper(),
            path=split.path or "/",
            query=urllib.parse.parse_qs(split.query, keep_blank_values=True),
            headers=headers,
            body=self._read_body(),
            connection=self.connection_number,
        )
        response = self.server.fake._serve(request)
        if response is None:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        request.status = response.status
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() == "connection" and value.lower() == "close":
                self.close_connection = True
            if name.lower() != "content-length":
                self.send_header(name, value)
        if response.status not in _NO_BODY_STATUSES and response.status >= 200:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.status not in _NO_BODY_STATUSES:
            self.wfile.write(response.body)
