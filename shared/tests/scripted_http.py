"""A tiny loopback HTTP server whose answers per route are scripted, and which counts requests.

Local to the retry and upstream tests (the reusable fake base is patchbay.testing's, built
separately): real SDK clients talk to it over 127.0.0.1, so what it counts is what the
SDK's own retry mechanism sent. Keep-alive with `Content-Length` on every answer and
`wbufsize = -1` (see shared/design/TESTING.md on the 45 ms stall).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # JSON-able, or bytes as they are

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/xml")
        return json.dumps(self.body if self.body is not None else {}).encode(), "application/json"


class Scripted:
    """Answers per (METHOD, path): each request takes the next answer; the last one repeats."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Answer]] = {}
        self.journal: list[tuple[str, str, str]] = []  # (method, path, thread name of the handler)
        self.lock = threading.Lock()
        self.url = ""

    def script(self, method: str, path: str, *answers: Answer) -> None:
        with self.lock:
            self.routes[(method, path)] = list(answers)

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return sum(1 for m, p, _ in self.journal if (m, p) == (method, path))

    def answer(self, method: str, path: str) -> Answer:
        with self.lock:
            self.journal.append((method, path, threading.current_thread().name))
            answers = self.routes.get((method, path))
            if not answers:
                return Answer(404, body={"message": f"no script for {method} {path}"})
            return answers.pop(0) if len(answers) > 1 else answers[0]


def _handler(scripted: Scripted) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = -1

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            answer = scripted.answer(self.command, self.path.split("?", 1)[0])
            body, content_type = answer.encoded()
            self.send_response(answer.status)
            self.send_header("Content-Type", content_type)
            for name, value in answer.headers.items():
                if name.lower() != "content-type":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def scripted_server() -> Iterator[Scripted]:
    scripted = Scripted()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(scripted))
    server.daemon_threads = True
    scripted.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield scripted
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
