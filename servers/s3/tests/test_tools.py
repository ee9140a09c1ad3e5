"""Every tool against moto over loopback, in both protocol eras: what it returns and what it sent."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

import pytest

from patchbay.testing import Answer, connect
from patchbay_s3.server import connector
from s3front import READ_TOOLS, WRITE_TOOLS, S3Front, bulk_put, settings

pytestmark = pytest.mark.anyio


def fetch(request: urllib.request.Request) -> bytes:
    """What a person holding a presigned URL gets (plain HTTP, no AWS credentials)."""
    with urllib.request.urlopen(request, timeout=10) as answer:
        data: bytes = answer.read()
        return data


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


async def test_read_only_offers_read_tools_and_writes_add_the_rest(front: S3Front, era: str) -> None:
    async with connect(connector, settings(front), era=era) as client:
        read_only = {tool.name for tool in (await client.list_tools()).tools}
    async with connect(connector, settings(front, allow_writes=True), era=era) as client:
        tools = (await client.list_tools()).tools
    assert read_only == READ_TOOLS
    assert {tool.name for tool in tools} == READ_TOOLS | WRITE_TOOLS
    for tool in tools:
        assert tool.input_schema["additionalProperties"] is False, tool.name
    hints = {tool.name: tool.annotations for tool in tools}
    assert hints["delete_objects"].destructive_hint and not hints["put_object"].read_only_hint
    # Uploads and copies may replace an object: hinted destructive for hosts that approve by annotation.
    assert hints["put_object"].destructive_hint and hints["copy_object"].destructive_hint
    assert not hints["put_object_tagging"].destructive_hint
    assert hints["get_object"].read_only_hint


async def test_unknown_arguments_are_refused_never_passed_to_boto3(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    async with connect(connector, settings(front, allow_writes=True), era=era) as client:
        result = await client.call_tool(
            "put_object", {"bucket": "data", "key": "a.txt", "text": "x", "ACL": "public-read"}
        )
        listed = await client.call_tool("list_objects", {"bucket": "data", "MaxKeys": 5000})
    assert result.is_error and listed.is_error
    assert text(result).startswith("Invalid argument 'ACL': is not an argument of this tool")
    assert "MaxKeys" in text(listed)
    assert "Contents" not in boto.list_objects_v2(Bucket="data")
    assert front.journal == []  # nothing reached S3


async def test_list_buckets_shows_only_allowed_buckets(front: S3Front, boto: Any, era: str) -> None:
    for name in ("data", "logs", "secret"):
        boto.create_bucket(Bucket=name)
    async with connect(connector, settings(front, buckets="data,logs/app/"), era=era) as client:
        result = await client.call_tool("list_buckets", {})
    found = {b["name"]: b["prefixes"] for b in result.structured_content["buckets"]}
    assert found == {"data": None, "logs": ["app/"]}
    assert result.structured_content["withheld"] == "1 buckets outside the allowlist were withheld."
    assert "secret" not in text(result)


async def test_list_objects_pages_through_2500_keys(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    keys = [f"k/{i:05d}" for i in range(2500)]
    bulk_put("data", keys)
    seen: list[str] = []
    cursors: list[str] = []
    async with connect(connector, settings(front), era=era) as client:
        cursor = None
        while True:
            args: dict[str, Any] = {"bucket": "data", "prefix": "k/", "limit": 1000}
            if cursor:
                args["cursor"] = cursor
            page = (await client.call_tool("list_objects", args)).structured_content
            seen += [item["key"] for item in page["objects"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            cursors.append(cursor)
        tampered = await client.call_tool("list_objects", {"bucket": "data", "prefix": "k/", "cursor": cursors[0][:-2]})
        foreign = await client.call_tool("list_objects", {"bucket": "data", "prefix": "", "cursor": cursors[0]})
    assert seen == keys
    assert len(cursors) == 2
    tokens = [r.arg("continuation-token") for r in front.sent("GET") if r.arg("continuation-token")]
    assert len(tokens) == 2 and not any(token in cursor for token in tokens for cursor in cursors)
    assert tampered.is_error and "was not issued by this server" in text(tampered)
    assert foreign.is_error and "belongs to a different query" in text(foreign)


async def test_list_objects_with_delimiter_gives_common_prefixes(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    bulk_put("data", ["top.txt", "a/1", "a/2", "b/c/3"])
    async with connect(connector, settings(front), era=era) as client:
        page = (await client.call_tool("list_objects", {"bucket": "data", "delimiter": "/"})).structured_content
    assert [o["key"] for o in page["objects"]] == ["top.txt"]
    assert page["common_prefixes"] == ["a/", "b/"]


async def test_head_get_and_ranges(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    boto.put_object(
        Bucket="data", Key="notes/a.txt", Body=b"hello world", ContentType="text/plain", Metadata={"by": "ada"}
    )
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    boto.put_object(Bucket="data", Key="img/p.png", Body=png, ContentType="image/png")
    async with connect(connector, settings(front), era=era) as client:
        head = (await client.call_tool("head_object", {"bucket": "data", "key": "notes/a.txt"})).structured_content
        whole = await client.call_tool("get_object", {"bucket": "data", "key": "notes/a.txt"})
        part = await client.call_tool("get_object", {"bucket": "data", "key": "notes/a.txt", "offset": 6, "length": 3})
        image = await client.call_tool("get_object", {"bucket": "data", "key": "img/p.png"})
        forced = await client.call_tool("get_object", {"bucket": "data", "key": "notes/a.txt", "mode": "base64"})
    assert head["size"] == 11 and head["content_type"] == "text/plain" and head["metadata"] == {"by": "ada"}
    assert whole.content[0].text == "hello world"
    assert part.content[1].text == "wor" and "bytes 6-8 of 9" in part.content[0].text
    assert image.content[0].type == "image" and base64.b64decode(image.content[0].data) == png
    assert base64.b64decode(forced.content[0].resource.blob) == b"hello world"
    ranges = [r.headers.get("range") for r in front.sent("GET") if r.path.startswith("/data/notes")]
    assert ranges == ["bytes=0-10", "bytes=6-8", "bytes=0-10"]


async def test_get_object_reads_a_version(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    boto.put_bucket_versioning(Bucket="data", VersioningConfiguration={"Status": "Enabled"})
    first = boto.put_object(Bucket="data", Key="v.txt", Body=b"one", ContentType="text/plain")["VersionId"]
    boto.put_object(Bucket="data", Key="v.txt", Body=b"two", ContentType="text/plain")
    async with connect(connector, settings(front), era=era) as client:
        old = await client.call_tool("get_object", {"bucket": "data", "key": "v.txt", "version_id": first})
        new = await client.call_tool("get_object", {"bucket": "data", "key": "v.txt"})
        versions = await client.call_tool("list_object_versions", {"bucket": "data"})
    assert (old.content[0].text, new.content[0].text) == ("one", "two")
    listed = versions.structured_content["versions"]
    assert [(v["key"], v["is_latest"]) for v in listed] == [("v.txt", True), ("v.txt", False)]
    assert listed[1]["version_id"] == first


async def test_binary_over_the_cap_is_refused_before_any_get(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    blob = b"\x00\x01" * (600 * 1024)  # 1.2 MB of binary, over the 1 MiB default cap
    boto.put_object(Bucket="data", Key="big.bin", Body=blob)
    boto.put_object(Bucket="data", Key="big.log", Body=b"line\n" * 300_000, ContentType="text/plain")
    async with connect(connector, settings(front), era=era) as client:
        refused = await client.call_tool("get_object", {"bucket": "data", "key": "big.bin"})
        gets_after_refusal = len(front.sent("GET"))
        ranged = await client.call_tool("get_object", {"bucket": "data", "key": "big.bin", "length": 1000})
        cut = await client.call_tool("get_object", {"bucket": "data", "key": "big.log"})
    assert refused.is_error
    assert "over the 1048576-byte cap" in text(refused) and "nothing was read" in text(refused)
    assert "length=1048576" in text(refused)
    assert [r.method for r in front.journal[:1]] == ["HEAD"] and gets_after_refusal == 0
    assert base64.b64decode(ranged.content[0].resource.blob) == blob[:1000]
    assert cut.content[1].meta["patchbay/range"] == {"start": 0, "end": 1 << 20, "size": 1_500_000}
    assert "ask for the next range" in text(cut)  # (the text is cut again to the 1 MiB result limit)
    assert front.sent("GET")[-1].headers["range"] == f"bytes=0-{(1 << 20) - 1}"


async def test_tags_read_and_replaced(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    boto.put_object(Bucket="data", Key="t.txt", Body=b"x", Tagging="team=ops")
    async with connect(connector, settings(front, allow_writes=True), era=era) as client:
        before = await client.call_tool("get_object_tagging", {"bucket": "data", "key": "t.txt"})
        await client.call_tool("put_object_tagging", {"bucket": "data", "key": "t.txt", "tags": {"stage": "done"}})
    assert before.structured_content["tags"] == {"team": "ops"}
    assert boto.get_object_tagging(Bucket="data", Key="t.txt")["TagSet"] == [{"Key": "stage", "Value": "done"}]


async def test_bucket_info(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    boto.put_bucket_versioning(Bucket="data", VersioningConfiguration={"Status": "Enabled"})
    boto.put_bucket_encryption(
        Bucket="data",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    rule = {"ID": "old-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}}
    boto.put_bucket_lifecycle_configuration(Bucket="data", LifecycleConfiguration={"Rules": [rule]})
    boto.create_bucket(Bucket="plain")
    async with connect(connector, settings(front, buckets="data,plain"), era=era) as client:
        info = (await client.call_tool("get_bucket_info", {"bucket": "data"})).structured_content
        plain = (await client.call_tool("get_bucket_info", {"bucket": "plain"})).structured_content
    assert info["region"] == "us-east-1" and info["versioning"] == "Enabled" and info["encryption"] == "AES256"
    assert info["lifecycle"] == ["old-logs (Enabled): logs/: expire after 30 days"]
    assert plain["versioning"] == "Off" and plain["lifecycle"] == []


async def test_presigned_get_works_read_only_and_put_needs_writes(
    front: S3Front, boto: Any, moto: Any, era: str
) -> None:
    boto.create_bucket(Bucket="data")
    boto.put_object(Bucket="data", Key="r.txt", Body=b"readable")
    async with connect(connector, settings(front), era=era) as client:
        got = (await client.call_tool("presign_url", {"bucket": "data", "key": "r.txt"})).structured_content
        put = await client.call_tool("presign_url", {"bucket": "data", "key": "w.txt", "method": "PUT"})
        too_long = await client.call_tool("presign_url", {"bucket": "data", "key": "r.txt", "expires_seconds": 3601})
    async with connect(
        connector, settings(front, allow_writes=True, presign_max_seconds=120, presign_default_seconds=60), era=era
    ) as client:
        writable = (
            await client.call_tool("presign_url", {"bucket": "data", "key": "w.txt", "method": "PUT"})
        ).structured_content
        capped = await client.call_tool("presign_url", {"bucket": "data", "key": "w.txt", "expires_seconds": 121})
    assert got["method"] == "GET" and got["expires_in"] == 900 and "X-Amz-Expires=900" in got["url"]
    assert fetch(urllib.request.Request(got["url"])) == b"readable"
    assert put.is_error and "this server is read-only" in text(put) and "Nothing was signed" in text(put)
    assert too_long.is_error and "must be at most 3600" in text(too_long)
    assert capped.is_error and "must be at most 120" in text(capped)
    assert writable["expires_in"] == 60 and "X-Amz-Expires=60" in writable["url"]
    request = urllib.request.Request(
        writable["url"], data=b"uploaded", method="PUT", headers={"Content-Type": "text/plain"}
    )
    fetch(request)
    assert boto.get_object(Bucket="data", Key="w.txt")["Body"].read() == b"uploaded"


async def test_throttling_is_retried_within_the_policy(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    bulk_put("data", ["a"])
    front.fail("GET", "/data", status=503, body="SlowDown", times=2)
    async with connect(connector, settings(front), era=era) as client:
        result = await client.call_tool("list_objects", {"bucket": "data"})
        front.fail("GET", "/data", status=503, body="SlowDown", times=None)
        exhausted = await client.call_tool("list_objects", {"bucket": "data"})
        front.clear_faults()
    assert [o["key"] for o in result.structured_content["objects"]] == ["a"]
    statuses = [r.status for r in front.requests("GET", "/data")]
    assert statuses[:3] == [503, 503, 200]
    assert len(statuses) == 6  # then three tries in all (retry_attempts=3), no more
    assert exhausted.is_error and "S3's request rate limit (SlowDown) is exhausted" in text(exhausted)


async def test_put_text_base64_and_create_only(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    answer = Answer("accept")
    async with connect(connector, settings(front, allow_writes=True), era=era, elicit=answer) as client:
        made = await client.call_tool("put_object", {"bucket": "data", "key": "n.txt", "text": "héllo"})
        binary = await client.call_tool(
            "put_object",
            {
                "bucket": "data",
                "key": "b.bin",
                "base64": base64.b64encode(b"\x00\x01").decode(),
                "content_type": "application/x-thing",
            },
        )
        again = await client.call_tool(
            "put_object", {"bucket": "data", "key": "n.txt", "text": "new", "if_none_match": True}
        )
        both = await client.call_tool("put_object", {"bucket": "data", "key": "x", "text": "a", "base64": "YQ=="})
        bad = await client.call_tool("put_object", {"bucket": "data", "key": "x", "base64": "not base64!"})
    assert made.structured_content["result"]["replaced"] is False
    assert boto.get_object(Bucket="data", Key="n.txt")["Body"].read() == "héllo".encode()
    assert boto.head_object(Bucket="data", Key="b.bin")["ContentType"] == "application/x-thing"
    assert binary.structured_content["result"]["size"] == 2
    assert again.is_error and "already exists" in text(again)
    assert boto.get_object(Bucket="data", Key="n.txt")["Body"].read() == "héllo".encode()
    assert both.is_error and bad.is_error and "not valid base64" in text(bad)
    assert answer.questions == []  # nothing existed to overwrite: nobody was asked
    assert [r.headers.get("if-none-match") for r in front.sent("PUT")] == ["*", "*", "*"]


async def test_large_put_is_multipart_with_progress(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    body = bytes(range(256)) * (11 * 4096)  # 11 MiB: parts of 5 + 5 + 1 MiB
    progress: list[tuple[float, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, message))

    config = settings(front, allow_writes=True, multipart_threshold_bytes=5 << 20, multipart_part_bytes=5 << 20)
    async with connect(connector, config, era=era) as client:
        result = await client.call_tool(
            "put_object",
            {"bucket": "data", "key": "big.bin", "base64": base64.b64encode(body).decode()},
            progress_callback=on_progress,
        )
    assert result.structured_content["result"]["parts"] == 3
    assert boto.get_object(Bucket="data", Key="big.bin")["Body"].read() == body
    assert len([r for r in front.sent("PUT") if r.arg("partNumber")]) == 3
    assert [message for _, message in progress] == ["5242880 bytes uploaded", "10485760 bytes uploaded"]


async def test_copy_object(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    boto.put_object(Bucket="data", Key="src/a.txt", Body=b"copy me")
    async with connect(connector, settings(front, allow_writes=True), era=era) as client:
        result = await client.call_tool(
            "copy_object", {"source_bucket": "data", "source_key": "src/a.txt", "bucket": "data", "key": "dst/a.txt"}
        )
    assert result.structured_content["result"]["replaced"] is False
    assert boto.get_object(Bucket="data", Key="dst/a.txt")["Body"].read() == b"copy me"


async def test_resource_template_reads_objects(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    boto.put_object(Bucket="data", Key="deep/path/r.txt", Body=b"as a resource", ContentType="text/plain")
    boto.create_bucket(Bucket="secret")
    boto.put_object(Bucket="secret", Key="k", Body=b"no")
    async with connect(connector, settings(front), era=era) as client:
        templates = (await client.list_resource_templates()).resource_templates
        read = await client.read_resource("s3://data/deep/path/r.txt")
        with pytest.raises(Exception, match="outside the allowed buckets"):
            await client.read_resource("s3://secret/k")
    assert [t.uri_template for t in templates] == ["s3://{bucket}/{+key}"]
    assert read.contents[0].text == "as a resource"
    assert [r.path for r in front.journal if r.path.startswith("/secret")] == []


async def test_results_are_compact_text_with_full_structured_content(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    bulk_put("data", ["a.txt"])
    async with connect(connector, settings(front), era=era) as client:
        result = await client.call_tool("list_objects", {"bucket": "data"})
    assert "a.txt" in result.content[0].text and "{" not in result.content[0].text
    assert json.dumps(result.structured_content)


async def test_large_downloads_report_progress(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    boto.put_object(Bucket="data", Key="big.csv", Body=b"a,b\n" * (9 << 18), ContentType="text/csv")  # 9 MiB
    progress: list[str | None] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    config = settings(front, max_object_bytes=10 << 20, max_result_bytes=16 << 20)
    async with connect(connector, config, era=era) as client:
        result = await client.call_tool(
            "get_object", {"bucket": "data", "key": "big.csv"}, progress_callback=on_progress
        )
    assert len(result.content[0].text) == 9 << 20
    assert progress == ["4194304 bytes downloaded", "8388608 bytes downloaded"]


async def test_s3_errors_read_as_one_clear_sentence(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    front.fail("HEAD", "/data/{key:path}", status=403, body="AccessDenied", times=1)
    async with connect(connector, settings(front), era=era) as client:
        denied = await client.call_tool("head_object", {"bucket": "data", "key": "a.txt"})
        missing = await client.call_tool("get_object", {"bucket": "data", "key": "nope.txt"})
    async with connect(connector, settings(front, buckets="data2")) as client:
        no_bucket = await client.call_tool("list_objects", {"bucket": "data2"})
    assert text(denied) == (
        "S3 denied access (HeadObject) (403): the credentials lack a permission; "
        "the README lists the IAM policy this connector needs."
    )
    assert text(missing) == "No object (HeadObject); list_objects shows the keys that exist."
    assert text(no_bucket) == "No such bucket (ListObjectsV2); list_buckets shows the buckets you may use."
    for result in (denied, missing, no_bucket):
        assert result.is_error and "Traceback" not in text(result) and "AKIA" not in text(result)


async def test_a_call_that_outlives_its_deadline_fails_cleanly(front: S3Front, boto: Any, era: str) -> None:
    boto.create_bucket(Bucket="data")
    front.delay("GET", "/data", seconds=30, times=1)
    async with connect(connector, settings(front, upstream_timeout_seconds=1, retry_attempts=1), era=era) as client:
        try:
            late = await client.call_tool("list_objects", {"bucket": "data"})
        finally:
            front.clear_faults()  # lets the held request (and its worker thread) finish
        after = await client.call_tool("list_objects", {"bucket": "data"})
    assert late.is_error and text(late) == "The operation timed out; try again, or narrow the request."
    assert not after.is_error
