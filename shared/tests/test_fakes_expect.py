"""A fake answers `Expect: 100-continue` at once (botocore sends it with every PUT body)."""

from __future__ import annotations

import socket

from patchbay.testing import FakeRequest, FakeService, Response


class Echo(FakeService):
    def __init__(self) -> None:
        super().__init__(name="echo")
        self.add_route("PUT", "/{name}", lambda request: Response(200, request.body))


def test_interim_100_continue_arrives_before_the_body_is_sent() -> None:
    with Echo() as fake, socket.create_connection(("127.0.0.1", fake.port), timeout=10) as sock:
        head = f"PUT /x HTTP/1.1\r\nHost: 127.0.0.1:{fake.port}\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        sock.sendall(head.encode())
        interim = sock.recv(1024)  # with the answer held in the write buffer this waits forever (times out)
        sock.sendall(b"hello")
        final = b""
        while not final.endswith(b"hello"):
            final += sock.recv(1024)
        requests: list[FakeRequest] = fake.journal
    assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
    assert final.startswith(b"HTTP/1.1 200 ")
    assert [r.body for r in requests] == [b"hello"]
