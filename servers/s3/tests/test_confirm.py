"""Destructive calls ask first, in both eras: deleting, and overwriting with put_object or copy_object.

What the user confirmed is what runs: a fingerprint of the listed keys (or the replaced
object's ETag) is checked again right before acting.
"""

from __future__ import annotations

import hashlib
from typing import Any

import anyio
import pytest

from patchbay.testing import Answer, connect
from patchbay_s3.server import connector
from s3front import S3Front, settings

pytestmark = pytest.mark.anyio


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def keys(boto: Any, bucket: str = "data") -> list[str]:
    return [item["Key"] for item in boto.list_objects_v2(Bucket=bucket).get("Contents", [])]


@pytest.fixture
def logs(boto: Any) -> Any:
    boto.create_bucket(Bucket="data")
    for i in range(7):
        boto.put_object(Bucket="data", Key=f"logs/{i}.txt", Body=b"x")
    boto.put_object(Bucket="data", Key="keep.txt", Body=b"keep")
    return boto


async def test_delete_by_prefix_asks_with_count_and_first_keys(front: S3Front, logs: Any, era: str) -> None:
    answer = Answer("accept")
    async with connect(connector, settings(front, allow_writes=True), era=era, elicit=answer) as client:
        result = await client.call_tool("delete_objects", {"bucket": "data", "prefix": "logs/"})
    (question,) = answer.questions
    assert question.startswith(
        "Delete 7 objects from s3://data (logs/0.txt, logs/1.txt, logs/2.txt, logs/3.txt, logs/4.txt and 2 more)? "
        "Versioning is off: the objects are gone for good."
    )
    assert result.structured_content["outcome"] == "done"
    assert len(result.structured_content["result"]["deleted"]) == 7
    assert keys(logs) == ["keep.txt"]


async def test_declined_or_cancelled_deletes_nothing(front: S3Front, logs: Any, era: str) -> None:
    for action in ("decline", "cancel"):
        async with connect(connector, settings(front, allow_writes=True), era=era, elicit=Answer(action)) as client:
            result = await client.call_tool("delete_objects", {"bucket": "data", "keys": ["logs/0.txt"]})
        assert not result.is_error
        assert result.structured_content["outcome"] == {"decline": "declined", "cancel": "cancelled"}[action]
    assert len(keys(logs)) == 8 and front.sent("POST") == []


async def test_a_prefix_that_gains_objects_after_the_question_is_refused(front: S3Front, logs: Any, era: str) -> None:
    async def add_one(_: str) -> None:
        await anyio.to_thread.run_sync(lambda: logs.put_object(Bucket="data", Key="logs/late.txt", Body=b"new"))

    answer = Answer("accept", before_answer=add_one)
    async with connect(connector, settings(front, allow_writes=True), era=era, elicit=answer) as client:
        result = await client.call_tool("delete_objects", {"bucket": "data", "prefix": "logs/"})
    if era == "legacy":  # the answer comes back on the same request: the action sees the change and refuses
        assert result.is_error
        assert "changed after you confirmed" in text(result) and "Nothing was done" in text(result)
        assert len(keys(logs)) == 9 and front.sent("POST") == []
    else:  # the client retries the call: the question is put again with the current facts
        assert [q.split("(")[0] for q in answer.questions] == [
            "Delete 7 objects from s3://data ",
            "Delete 8 objects from s3://data ",
        ]
        assert len(result.structured_content["result"]["deleted"]) == 8
        assert keys(logs) == ["keep.txt"]


async def test_versioned_buckets_say_that_versions_remain(front: S3Front, logs: Any, era: str) -> None:
    logs.put_bucket_versioning(Bucket="data", VersioningConfiguration={"Status": "Enabled"})
    answer = Answer("accept")
    async with connect(connector, settings(front, allow_writes=True), era=era, elicit=answer) as client:
        result = await client.call_tool("delete_objects", {"bucket": "data", "keys": ["logs/0.txt", "logs/1.txt"]})
    assert "Versioning is Enabled: S3 adds delete markers and earlier versions remain" in answer.questions[0]
    assert "earlier versions remain" in text(result)
    versions = logs.list_object_versions(Bucket="data", Prefix="logs/0.txt")
    assert len(versions["Versions"]) == 1 and len(versions["DeleteMarkers"]) == 1


async def test_a_client_that_cannot_ask_is_refused(front: S3Front, logs: Any, era: str) -> None:
    async with connect(connector, settings(front, allow_writes=True), era=era) as client:
        result = await client.call_tool("delete_objects", {"bucket": "data", "prefix": "logs/"})
    assert result.is_error and "needs the user's confirmation" in text(result) and "--confirm=never" in text(result)
    assert len(keys(logs)) == 8


async def test_overwriting_with_put_object_asks_and_decline_keeps_the_old_content(
    front: S3Front, logs: Any, era: str
) -> None:
    declined = Answer("decline")
    async with connect(connector, settings(front, allow_writes=True), era=era, elicit=declined) as client:
        kept = await client.call_tool("put_object", {"bucket": "data", "key": "keep.txt", "text": "replaced"})
    accepted = Answer("accept")
    async with connect(connector, settings(front, allow_writes=True), era=era, elicit=accepted) as client:
        done = await client.call_tool("put_object", {"bucket": "data", "key": "keep.txt", "text": "replaced"})
    assert declined.questions[0].startswith("Overwrite s3://data/keep.txt (4 bytes, last modified ")
    assert kept.structured_content["outcome"] == "declined"
    assert done.structured_content["result"]["replaced"] is True
    assert logs.get_object(Bucket="data", Key="keep.txt")["Body"].read() == b"replaced"
    # Only the version the user confirmed may be replaced: the PUT carries its ETag.
    assert front.sent("PUT")[-1].headers["if-match"] == f'"{hashlib.md5(b"keep").hexdigest()}"'


async def test_an_object_changed_after_the_question_is_not_overwritten(front: S3Front, logs: Any, era: str) -> None:
    async def change(_: str) -> None:
        await anyio.to_thread.run_sync(lambda: logs.put_object(Bucket="data", Key="keep.txt", Body=b"theirs"))

    answer = Answer("accept", before_answer=change)
    async with connect(connector, settings(front, allow_writes=True), era=era, elicit=answer) as client:
        result = await client.call_tool("put_object", {"bucket": "data", "key": "keep.txt", "text": "mine"})
    if era == "legacy":
        assert result.is_error and "changed after you confirmed" in text(result)
        assert logs.get_object(Bucket="data", Key="keep.txt")["Body"].read() == b"theirs"
        assert front.sent("PUT") == []
    else:  # asked again about the object as it is now (6 bytes), and that is what was replaced
        assert [q.split(",")[0] for q in answer.questions] == [
            "Overwrite s3://data/keep.txt (4 bytes",
            "Overwrite s3://data/keep.txt (6 bytes",
        ]
        assert result.structured_content["result"]["replaced"] is True
        assert logs.get_object(Bucket="data", Key="keep.txt")["Body"].read() == b"mine"


async def test_an_object_created_after_the_check_is_not_overwritten_unasked(
    front: S3Front, logs: Any, era: str
) -> None:
    # Nothing existed when the question was considered, so nobody was asked; the write is create-only.
    front.fail("PUT", "/data/new.txt", status=412, body="PreconditionFailed", times=1)
    answer = Answer("accept")
    async with connect(connector, settings(front, allow_writes=True), era=era, elicit=answer) as client:
        result = await client.call_tool("put_object", {"bucket": "data", "key": "new.txt", "text": "mine"})
    assert answer.questions == []
    assert result.is_error and "already exists or changed" in text(result)
    assert [r.headers.get("if-none-match") for r in front.requests("PUT", "/data/new.txt")] == ["*"]


async def test_if_none_match_never_asks_and_never_overwrites(front: S3Front, logs: Any, era: str) -> None:
    answer = Answer("accept")
    async with connect(connector, settings(front, allow_writes=True), era=era, elicit=answer) as client:
        result = await client.call_tool(
            "put_object", {"bucket": "data", "key": "keep.txt", "text": "no", "if_none_match": True}
        )
    assert answer.questions == [] and result.is_error and "already exists" in text(result)
    assert logs.get_object(Bucket="data", Key="keep.txt")["Body"].read() == b"keep"


async def test_copy_over_an_existing_object_asks(front: S3Front, logs: Any, era: str) -> None:
    answer = Answer("accept")
    async with connect(connector, settings(front, allow_writes=True), era=era, elicit=answer) as client:
        result = await client.call_tool(
            "copy_object", {"source_bucket": "data", "source_key": "logs/0.txt", "bucket": "data", "key": "keep.txt"}
        )
    assert answer.questions[0].startswith("Overwrite s3://data/keep.txt")
    assert "with a copy of s3://data/logs/0.txt" in answer.questions[0]
    assert result.structured_content["result"]["replaced"] is True
    assert logs.get_object(Bucket="data", Key="keep.txt")["Body"].read() == b"x"


async def test_confirm_never_trusts_the_host(front: S3Front, logs: Any, era: str) -> None:
    config = settings(front, allow_writes=True, confirm="never")
    async with connect(connector, config, era=era) as client:
        put = await client.call_tool("put_object", {"bucket": "data", "key": "keep.txt", "text": "host said yes"})
        deleted = await client.call_tool("delete_objects", {"bucket": "data", "prefix": "logs/"})
    assert put.structured_content["result"]["replaced"] is True
    assert deleted.structured_content["outcome"] == "done"
    assert keys(logs) == ["keep.txt"]
