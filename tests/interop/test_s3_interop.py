"""The S3 connector driven by the MCP Inspector CLI and the TypeScript SDK client.

Over stdio, stateless HTTP and stateful HTTP, against moto's S3 in server mode on a free
loopback port (started by this module): tools listed with a clean --strict schema check,
objects listed and read, the s3:// resource template read, an unknown argument refused,
and a delete (destructive) declined and then confirmed through the TypeScript client's
elicitation handler.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcp_clients import TRANSPORTS, Clients, Servers, console_script, serve, text_of

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "servers" / "s3" / "tests"))

from s3front import CREDENTIALS, MotoS3

pytestmark = pytest.mark.integration

TOOLS = {
    "list_buckets", "list_objects", "head_object", "get_object", "get_object_tagging", "list_object_versions",
    "presign_url", "get_bucket_info", "put_object", "copy_object", "put_object_tagging", "delete_objects",
}  # fmt: skip


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with MotoS3() as server:
        yield server


@pytest.fixture(scope="module")
def boto(moto: MotoS3) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="module")
def servers(moto: MotoS3, boto: Any) -> Iterator[Servers]:
    boto.create_bucket(Bucket="data")
    boto.put_object(Bucket="data", Key="docs/readme.txt", Body=b"hello from moto", ContentType="text/plain")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **CREDENTIALS}
    command = [console_script("patchbay-s3"), "--allow-writes", "--endpoint-url", moto.url, "--buckets", "data"]
    yield from serve(command, env)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_inspector_lists_and_calls_with_a_clean_strict_schema_check(
    clients: Clients, servers: Servers, transport: str
) -> None:
    entry = servers.target(transport).inspector_entry()
    listed = clients.inspector(entry, "--method", "tools/list", "--strict")
    assert listed.code == 0, listed.stderr
    assert {tool["name"] for tool in listed.result["tools"]} == TOOLS
    assert all(tool["inputSchema"]["additionalProperties"] is False for tool in listed.result["tools"])
    assert "schemaFindings" not in listed.answer, listed.answer.get("schemaFindings")

    objects = clients.inspector(entry, "--method", "tools/call", "--tool-name", "list_objects",
                                "--tool-arg", "bucket=data", "--tool-arg", "prefix=docs/")  # fmt: skip
    assert objects.code == 0, (objects.answer, objects.stderr)
    assert [o["key"] for o in objects.result["structuredContent"]["objects"]] == ["docs/readme.txt"]

    templates = clients.inspector(entry, "--method", "resources/templates/list")
    assert [t["uriTemplate"] for t in templates.result["resourceTemplates"]] == ["s3://{bucket}/{+key}"]
    read = clients.inspector(entry, "--method", "resources/read", "--uri", "s3://data/docs/readme.txt")
    assert read.result["contents"][0]["text"] == "hello from moto"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_typescript_client_lists_calls_and_confirms(
    clients: Clients, servers: Servers, transport: str, boto: Any
) -> None:
    target = servers.target(transport)
    key = f"made/{transport}.txt"
    boto.put_object(Bucket="data", Key=key, Body=b"to delete")
    delete = {"op": "callTool", "name": "delete_objects", "arguments": {"bucket": "data", "keys": [key]}}
    report = clients.typescript(
        {
            "server": target.ts_server(),
            "elicit": ["decline", "accept"],
            "steps": [
                {"op": "listTools"},
                {"op": "callTool", "name": "get_object", "arguments": {"bucket": "data", "key": "docs/readme.txt"}},
                {"op": "callTool", "name": "list_buckets", "arguments": {"bucket": "other"}},
                delete,
                delete,
            ],
        }
    )
    tools, got, unknown, first, second = [step.get("result", step) for step in report["steps"]]
    assert report["server"]["name"] == "patchbay-s3"
    assert {tool["name"] for tool in tools["tools"]} == TOOLS
    assert text_of(got) == "hello from moto"
    assert unknown["isError"] and "Invalid argument 'bucket': is not an argument of this tool" in text_of(unknown)
    remaining = [o["Key"] for o in boto.list_objects_v2(Bucket="data", Prefix="made/").get("Contents", [])]
    if target.stateless:  # no channel to ask on: refused, and nothing done
        assert first["isError"] and "--stateful" in text_of(first), first
        assert report["questions"] == [] and key in remaining
        return
    assert first["structuredContent"]["outcome"] == "declined", first
    assert second["structuredContent"]["outcome"] == "done", second
    assert key not in remaining
    assert report["questions"][0].startswith(f"Delete 1 objects from s3://data ({key})?")
