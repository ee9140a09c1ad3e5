"""The allowlist on every tool: fail-closed, exact on boundaries, checked for every key, before S3 is asked."""

from __future__ import annotations

from typing import Any

import pytest

from patchbay.testing import Answer, connect
from patchbay_s3.server import connector
from s3front import S3Front, settings

pytestmark = pytest.mark.anyio

OUTSIDE_CALLS = [
    ("list_objects", {"bucket": "secret"}),
    ("list_objects", {"bucket": "data", "prefix": "logs2/"}),
    ("head_object", {"bucket": "data", "key": "logs2/a.txt"}),
    ("get_object", {"bucket": "secret", "key": "k.txt"}),
    ("get_object_tagging", {"bucket": "data", "key": "other.txt"}),
    ("list_object_versions", {"bucket": "secret"}),
    ("presign_url", {"bucket": "data", "key": "logs2/a.txt"}),
    ("presign_url", {"bucket": "secret", "key": "k.txt", "method": "PUT"}),
    ("get_bucket_info", {"bucket": "secret"}),
    ("put_object", {"bucket": "data", "key": "logs2/new.txt", "text": "x"}),
    ("copy_object", {"source_bucket": "data", "source_key": "logs/a.txt", "bucket": "secret", "key": "stolen.txt"}),
    ("copy_object", {"source_bucket": "secret", "source_key": "k.txt", "bucket": "data", "key": "logs/k.txt"}),
    ("put_object_tagging", {"bucket": "secret", "key": "k.txt", "tags": {"a": "b"}}),
    ("delete_objects", {"bucket": "data", "keys": ["logs/a.txt", "logs2/a.txt"]}),
    ("delete_objects", {"bucket": "secret", "prefix": "k"}),
]


@pytest.fixture
def stocked(boto: Any) -> Any:
    for bucket in ("data", "secret"):
        boto.create_bucket(Bucket=bucket)
    for key in ("logs/a.txt", "logs/b.txt", "logs2/a.txt", "other.txt", "secret.txt"):
        boto.put_object(Bucket="data", Key=key, Body=key.encode(), ContentType="text/plain")
    boto.put_object(Bucket="secret", Key="k.txt", Body=b"secret")
    return boto


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def everything(boto: Any) -> dict[str, bytes]:
    found = {}
    for bucket in ("data", "secret"):
        for item in boto.list_objects_v2(Bucket=bucket).get("Contents", []):
            found[f"{bucket}/{item['Key']}"] = boto.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


@pytest.mark.parametrize(
    ("tool", "arguments"), OUTSIDE_CALLS, ids=[f"{t}-{i}" for i, (t, _) in enumerate(OUTSIDE_CALLS)]
)
async def test_every_tool_refuses_outside_names_before_asking_s3(
    front: S3Front, stocked: Any, era: str, tool: str, arguments: dict[str, Any]
) -> None:
    before = everything(stocked)
    answer = Answer("accept")
    config = settings(front, buckets="data/logs/", allow_writes=True)
    async with connect(connector, config, era=era, elicit=answer) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error, text(result)
    assert text(result).startswith("Access denied: "), text(result)
    assert "is outside the allowed buckets and prefixes (PATCHBAY_S3_BUCKETS)" in text(result)
    assert front.journal == []  # S3 was never asked
    assert answer.questions == []  # nobody was asked to confirm an out-of-scope call
    assert everything(stocked) == before


async def test_an_empty_allowlist_admits_nothing(front: S3Front, stocked: Any, era: str) -> None:
    async with connect(connector, settings(front, buckets=None), era=era) as client:
        buckets = await client.call_tool("list_buckets", {})
        listed = await client.call_tool("list_objects", {"bucket": "data"})
    assert buckets.structured_content["buckets"] == []
    assert listed.is_error and "none are allowed: set PATCHBAY_S3_BUCKETS" in text(listed)
    assert "--all-buckets" in text(listed)


async def test_all_buckets_is_the_explicit_opt_out(front: S3Front, stocked: Any, era: str) -> None:
    async with connect(connector, settings(front, buckets=None, all_buckets=True), era=era) as client:
        buckets = await client.call_tool("list_buckets", {})
        got = await client.call_tool("get_object", {"bucket": "secret", "key": "k.txt", "mode": "text"})
    assert [b["name"] for b in buckets.structured_content["buckets"]] == ["data", "secret"]
    assert got.content[0].text == "secret"


async def test_dot_dot_is_refused_not_resolved(front: S3Front, stocked: Any, era: str) -> None:
    async with connect(connector, settings(front, buckets="data/logs/"), era=era) as client:
        plain = await client.call_tool("get_object", {"bucket": "data", "key": "logs/../secret.txt"})
        encoded = await client.call_tool("get_object", {"bucket": "data", "key": "logs/%2E%2E/secret.txt"})
        twice = await client.call_tool("get_object", {"bucket": "data", "key": "logs/%252E%252E/secret.txt"})
    assert plain.is_error and "contains a '..' segment" in text(plain)
    assert encoded.is_error and "contains a '..' segment" in text(encoded)
    assert twice.is_error and "percent-encoded more than once" in text(twice)
    assert front.journal == []


async def test_percent_encoded_keys_are_decoded_once_and_then_checked(front: S3Front, stocked: Any, era: str) -> None:
    async with connect(connector, settings(front, buckets="data/logs/"), era=era) as client:
        inside = await client.call_tool("get_object", {"bucket": "data", "key": "logs%2Fa.txt"})
        outside = await client.call_tool("get_object", {"bucket": "data", "key": "logs2%2Fa.txt"})
    assert inside.content[0].text == "logs/a.txt"
    assert outside.is_error and text(outside).startswith("Access denied")
    assert [r.path for r in front.journal] == ["/data/logs/a.txt", "/data/logs/a.txt"]  # HEAD, then GET


async def test_a_prefix_is_a_whole_segment(front: S3Front, stocked: Any, era: str) -> None:
    async with connect(connector, settings(front, buckets="data/logs/"), era=era) as client:
        sibling = await client.call_tool("list_objects", {"bucket": "data", "prefix": "logs2/"})
        partial = await client.call_tool("list_objects", {"bucket": "data", "prefix": "lo"})
        bare = await client.call_tool("list_objects", {"bucket": "data", "prefix": "logs"})
    assert sibling.is_error and partial.is_error
    # "logs" without its slash is inside the entry, but S3 also lists logs2/...: withheld.
    assert [o["key"] for o in bare.structured_content["objects"]] == ["logs/a.txt", "logs/b.txt"]
    assert bare.structured_content["withheld"] == "1 names outside the allowlist were withheld."


async def test_an_empty_prefix_lists_only_the_allowed_prefix(front: S3Front, stocked: Any, era: str) -> None:
    async with connect(connector, settings(front, buckets="data/logs/"), era=era) as client:
        listed = await client.call_tool("list_objects", {"bucket": "data", "prefix": ""})
    async with connect(connector, settings(front, buckets="data/logs/,data/other.txt"), era=era) as client:
        several = await client.call_tool("list_objects", {"bucket": "data"})
    assert [o["key"] for o in listed.structured_content["objects"]] == ["logs/a.txt", "logs/b.txt"]
    assert front.sent("GET")[0].arg("prefix") == "logs/"
    assert several.structured_content["objects"] == []
    assert several.structured_content["common_prefixes"] == ["logs/", "other.txt/"]


async def test_delete_batch_with_one_outside_key_deletes_nothing(front: S3Front, stocked: Any, era: str) -> None:
    before = everything(stocked)
    answer = Answer("accept")
    config = settings(front, buckets="data/logs/", allow_writes=True)
    async with connect(connector, config, era=era, elicit=answer) as client:
        result = await client.call_tool("delete_objects", {"bucket": "data", "keys": ["logs/a.txt", "other.txt"]})
    async with connect(connector, {**config, "confirm": "never"}, era=era) as client:
        unasked = await client.call_tool("delete_objects", {"bucket": "data", "keys": ["logs/b.txt", "secret.txt"]})
    assert result.is_error and "'data/other.txt' is outside" in text(result)
    assert unasked.is_error and "'data/secret.txt' is outside" in text(unasked)
    assert everything(stocked) == before
    assert front.sent("POST") == [] and answer.questions == []


async def test_delete_by_a_prefix_that_reaches_outside_is_refused(front: S3Front, stocked: Any, era: str) -> None:
    before = everything(stocked)
    config = settings(front, buckets="data/logs", allow_writes=True, confirm="never")
    async with connect(connector, config, era=era) as client:
        result = await client.call_tool("delete_objects", {"bucket": "data", "prefix": "logs"})
    assert result.is_error and "'data/logs2/a.txt' is outside" in text(result)
    assert "end the prefix with '/'" in text(result)
    assert everything(stocked) == before and front.sent("POST") == []


async def test_copy_checks_both_ends(front: S3Front, stocked: Any, era: str) -> None:
    config = settings(front, buckets="data/logs/,data/out/", allow_writes=True)
    async with connect(connector, config, era=era) as client:
        inside = await client.call_tool(
            "copy_object", {"source_bucket": "data", "source_key": "logs/a.txt", "bucket": "data", "key": "out/a.txt"}
        )
        outside = await client.call_tool(
            "copy_object", {"source_bucket": "data", "source_key": "logs/a.txt", "bucket": "data", "key": "outx/a.txt"}
        )
    assert not inside.is_error
    assert outside.is_error and "'data/outx/a.txt' is outside" in text(outside)
    assert [r.path for r in front.sent("PUT")] == ["/data/out/a.txt"]
