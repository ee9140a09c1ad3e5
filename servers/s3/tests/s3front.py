"""moto in server mode for tests and benchmarks, behind a recording, fault-injecting front.

`MotoS3` starts `ThreadedMotoServer` on 127.0.0.1 on a free port. `S3Front` is a
`patchbay.fakes.FakeService` that forwards every request to it unchanged: the connector
talks to the front, so a test can read what boto3 really sent (the journal: e.g. that
no GET was sent for an object over the cap) and inject S3 faults (`SlowDown` 503s) that
moto itself never gives.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from typing import Any

import urllib3

from patchbay.fakes import FakeRequest, FakeService, Response

_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "expect", "te", "upgrade"})
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAPATCHBAYTEST0001",
    "AWS_SECRET_ACCESS_KEY": "patchbay-test-secret-key-0123456789abcdef",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


class MotoS3:
    """moto's S3 in server mode on a free loopback port."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def __enter__(self) -> MotoS3:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per request otherwise
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def reset(self) -> None:
        """Forget every bucket and object (moto's reset API)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()


class S3Front(FakeService):
    """Forwards to moto; records every request; answers injected faults the way S3 does (XML)."""

    def __init__(self, upstream: str) -> None:
        super().__init__(name="s3")
        self.upstream = upstream.rstrip("/")
        self._pool = urllib3.PoolManager(maxsize=16)
        self.__init_routes()

    def __init_routes(self) -> None:
        for method in ("GET", "HEAD", "PUT", "POST", "DELETE"):
            self.add_route(method, "/", self.forward)
            self.add_route(method, "/{path:path}", self.forward)

    def forward(self, request: FakeRequest) -> Response:
        headers = {name: value for name, value in request.headers.items() if name not in _HOP}
        answer = self._pool.request(
            request.method,
            self.upstream + request.target,
            body=request.body or None,
            headers=headers,
            retries=False,
            redirect=False,
            decode_content=False,
        )
        out = {name: value for name, value in answer.headers.items() if name.lower() not in _HOP}
        body = answer.data
        if request.method == "HEAD":  # the fake sends Content-Length from the body: keep the object's size
            body = b"\0" * int(answer.headers.get("Content-Length") or 0)
        return Response(answer.status, body, out)

    def fault_response(self, request: FakeRequest, status: int, body: Any) -> Response:
        code = body if isinstance(body, str) else "SlowDown"
        xml = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>injected</Message></Error>"
        return Response(status, xml.encode(), {"Content-Type": "application/xml"})

    def sent(self, method: str) -> list[FakeRequest]:
        """Requests of one method, excluding the ones an injected fault answered."""
        return [r for r in self.journal if r.method == method and r.fault is None]


def settings(front: S3Front, buckets: str | None = "data", **more: Any) -> dict[str, Any]:
    """Connector settings pointed at the front."""
    base: dict[str, Any] = {"endpoint_url": front.url, "region": "us-east-1", "retry_max_wait_seconds": 30}
    if buckets is not None:
        base["buckets"] = buckets
    return {**base, **more}


def bulk_put(bucket: str, keys: list[str], body: bytes = b"x") -> None:
    """Put many small objects straight into moto's in-process backend (arranging state, not under test:
    thousands of PUTs over HTTP would take most of a minute)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key in keys:
        backend.put_object(bucket, key, body)


READ_TOOLS = {
    "list_buckets",
    "list_objects",
    "head_object",
    "get_object",
    "get_object_tagging",
    "list_object_versions",
    "presign_url",
    "get_bucket_info",
}
WRITE_TOOLS = {"put_object", "copy_object", "put_object_tagging", "delete_objects"}
