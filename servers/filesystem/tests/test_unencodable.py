"""Text that cannot be passed on (a lone surrogate, a NUL, a path longer than any file system
takes) is refused by name on every transport, and every request line gets an answer.

The SDK client cannot send a lone surrogate, so these tests write raw JSON-RPC: lines
to the real console script over stdio, and POST bodies to it over HTTP.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx2

from patchbay.testing import http_server, raw_stdio

COMMAND = [shutil.which("patchbay-filesystem") or "patchbay-filesystem"]
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

# (raw arguments as JSON text, the argument the error must name)
CASES = [
    ('{"path": "x\\ud800y"}', "'path'"),
    ('{"path": "README.md", "encoding": "utf\\u00008"}', "'encoding'"),
    (json.dumps({"path": "a" * 100_000}), "'path'"),
    (json.dumps({"path": "/".join(["d" * 300, "x"])}), "'path'"),
]


def call_line(request_id: int, arguments: str) -> str:
    return (
        f'{{"jsonrpc": "2.0", "id": {request_id}, "method": "tools/call",'
        f' "params": {{"name": "read_text_file", "arguments": {arguments}}}}}'
    )


def assert_refused(reply: dict[str, Any], request_id: int, argument: str) -> None:
    assert reply["id"] == request_id
    result = reply["result"]
    assert result["isError"] is True
    [block] = result["content"]
    assert block["text"].startswith(f"Invalid argument {argument}: "), block["text"]
    assert "Internal error" not in block["text"] and "aaaa" not in block["text"]


def reply_of(response: httpx2.Response) -> dict[str, Any]:
    """The one JSON-RPC message of a response: a JSON body, or an SSE stream's data line."""
    if response.headers["content-type"].startswith("application/json"):
        return dict(response.json())
    [reply] = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
    return dict(reply)


def test_unencodable_arguments_are_refused_by_name_over_stdio(tree: Path) -> None:
    lines = [call_line(i, arguments) for i, (arguments, _) in enumerate(CASES, start=1)]
    lines.append(call_line(99, '{"path": "README.md"}'))  # the server still serves
    replies, stderr = raw_stdio([*COMMAND, str(tree)], lines)
    for request_id, (reply, (_, argument)) in enumerate(zip(replies, CASES, strict=False), start=1):
        assert_refused(reply, request_id, argument)
    assert replies[-1]["result"]["structuredContent"]["content"].startswith("# Project")
    assert "Traceback" not in stderr and "incident" not in stderr


def test_a_line_that_is_not_json_rpc_is_answered_with_a_parse_error(tree: Path) -> None:
    replies, _ = raw_stdio([*COMMAND, str(tree)], ['{"jsonrpc": "2.0", "id": 7, "method": ', call_line(8, "{}")])
    assert replies[0]["id"] == 7 and replies[0]["error"]["code"] == -32700
    assert replies[1]["id"] == 8 and replies[1]["result"]["isError"] is True


def test_unencodable_arguments_are_refused_by_name_over_http(tree: Path) -> None:
    with http_server([*COMMAND, str(tree)]) as server:
        for request_id, (arguments, argument) in enumerate(CASES, start=1):
            response = httpx2.post(server.url, content=call_line(request_id, arguments), headers=HEADERS, timeout=10)
            assert response.status_code == 200
            assert_refused(reply_of(response), request_id, argument)
        assert "Traceback" not in server.stderr()
