"""Text that cannot be passed on (a lone surrogate, a NUL) is refused by name on every transport,
before any connection is made: the real console script, raw JSON-RPC over stdio and HTTP,
pointed at a database that is not there."""

from __future__ import annotations

import json
import shutil
from typing import Any

import httpx2

from patchbay.testing import free_port, http_server, raw_stdio

COMMAND = [shutil.which("patchbay-postgres") or "patchbay-postgres"]
ENV = {"PATCHBAY_POSTGRES_DSN": f"postgresql://nobody:secret@127.0.0.1:{free_port()}/none"}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
CASES = [
    ("execute_sql", '{"sql": "select \'\\udc00\'"}', "'sql'"),
    ("search_objects", '{"pattern": "acc\\u0000ounts"}', "'pattern'"),
    ("describe_object", '{"name": "t", "schema": "p\\ud800ublic"}', "'schema'"),
]


def call_line(request_id: int, tool: str, arguments: str) -> str:
    return (
        f'{{"jsonrpc": "2.0", "id": {request_id}, "method": "tools/call",'
        f' "params": {{"name": "{tool}", "arguments": {arguments}}}}}'
    )


def assert_refused(reply: dict[str, Any], request_id: int, argument: str) -> None:
    assert reply["id"] == request_id
    assert reply["result"]["isError"] is True
    assert reply["result"]["content"][0]["text"].startswith(f"Invalid argument {argument}: ")


def test_unencodable_arguments_are_refused_by_name_over_stdio() -> None:
    lines = [call_line(i, tool, arguments) for i, (tool, arguments, _) in enumerate(CASES, start=1)]
    replies, stderr = raw_stdio(COMMAND, lines, env=ENV)
    for request_id, (reply, (_, _, argument)) in enumerate(zip(replies, CASES, strict=True), start=1):
        assert_refused(reply, request_id, argument)
    assert "Traceback" not in stderr and "secret" not in stderr


def test_unencodable_arguments_are_refused_by_name_over_http() -> None:
    with http_server(COMMAND, env=ENV) as server:
        for request_id, (tool, arguments, argument) in enumerate(CASES, start=1):
            response = httpx2.post(server.url, content=call_line(request_id, tool, arguments), headers=HEADERS)
            body = response.text
            reply = json.loads(body) if body.startswith("{") else json.loads(body.split("data: ", 1)[1])
            assert_refused(reply, request_id, argument)
