"""S3: patchbay-s3 against the best community S3 server installable here, both on moto over loopback.

The peer: PyPI `aws-s3-mcp` 0.1.3 (Arclio; aioboto3), run with `uvx` (with `mcp<2`, the
SDK it was written for). It has no endpoint setting of its own, but botocore honours
`AWS_ENDPOINT_URL_S3` and an AWS config file's `addressing_style = path`, so it can be
pointed at moto. npm `aws-s3-mcp` (samuraikun), named in TESTING.md, is not on the npm
registry here (404), so it is reported and not measured. The peer is read-only: it has no
upload tool, so the upload measurement has ours alone.

Measured over the raw pipe (handshake-era JSON-RPC over stdio, no SDK client), ABBA order:

1. list 10,000 keys (ours: `list_objects` pages of 1,000; peer: `s3_list_objects_paginated`
   batches of 1,000);
2. get 500 small objects one call at a time (ours `get_object`, peer `s3_get_object_content`);
3. a 200 MB upload (ours: `put_object`, multipart in 8 MiB parts): time and the server's
   peak memory (VmHWM), against its peak before the upload.

moto runs in this process (ThreadedMotoServer on 127.0.0.1, a free port) and serves both.

    uv run --frozen python bench/s3_vs_reference.py [--keys 10000] [--gets 500] [--upload-mb 200]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from common import ROOT, RawPipe, print_header, raw_result, report_failure, run_benchmark

sys.path.insert(0, str(ROOT / "servers" / "s3" / "tests"))

from s3front import CREDENTIALS, MotoS3

PEER = "aws-s3-mcp==0.1.3"
BUCKET = "bench"


def peak_rss(pipe: RawPipe) -> int:
    """The server process's peak resident memory so far, in bytes (VmHWM)."""
    for line in Path(f"/proc/{pipe.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def result_data(line: bytes, who: str) -> dict[str, Any]:
    """A tool result's structured content (or its JSON text)."""
    result = raw_result(line, who)
    data = result.get("structuredContent")
    if isinstance(data, dict) and set(data) == {"result"} and isinstance(data["result"], dict):
        data = data["result"]
    if data is None:
        data = json.loads(result["content"][0]["text"])
    return dict(data)


def seed(keys: int, gets: int) -> None:
    """Objects straight into moto's in-process backend (arranging, not measured)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket(BUCKET, "us-east-1")
    for i in range(keys):
        backend.put_object(BUCKET, f"k/{i:05d}", b"x")
    for i in range(gets):
        backend.put_object(BUCKET, f"small/{i:03d}.txt", f"small object number {i}\n".encode() * 4)


async def list_ours(pipe: RawPipe) -> int:
    found, cursor = 0, None
    while True:
        args: dict[str, Any] = {"bucket": BUCKET, "prefix": "k/", "limit": 1000}
        if cursor:
            args["cursor"] = cursor
        page = result_data(await pipe.call_tool("list_objects", args), "ours")
        found += len(page["objects"])
        cursor = page.get("next_cursor")
        if not cursor:
            return found


async def list_peer(pipe: RawPipe) -> int:
    found, index, token = 0, 0, ""
    while True:
        args = {"bucket_name": BUCKET, "prefix": "k/", "start_index": index, "batch_size": 1000}
        page = result_data(
            await pipe.call_tool("s3_list_objects_paginated", {**args, "continuation_token": token}), "peer"
        )
        found += len(page["keys"])
        if not page.get("has_more"):
            return found
        index, token = page["next_start_index"], page.get("continuation_token") or ""


async def gets_ours(pipe: RawPipe, count: int) -> None:
    for i in range(count):
        raw_result(await pipe.call_tool("get_object", {"bucket": BUCKET, "key": f"small/{i:03d}.txt"}), "ours")


async def gets_peer(pipe: RawPipe, count: int) -> None:
    for i in range(count):
        raw_result(
            await pipe.call_tool("s3_get_object_content", {"bucket_name": BUCKET, "key": f"small/{i:03d}.txt"}), "peer"
        )


async def timed(work: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


def environment(moto: MotoS3, scratch: Path) -> dict[str, str]:
    config = scratch / "aws-config"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    return {**CREDENTIALS, "AWS_CONFIG_FILE": str(config), "AWS_ENDPOINT_URL_S3": moto.url, "S3_BUCKETS": BUCKET}


def ratio(peer: float | None, ours: float) -> str:
    return f"{peer / ours:.2f}x" if peer else "-"


async def main(args: argparse.Namespace) -> None:
    print_header(f"S3: patchbay-s3 vs {PEER} (PyPI) on moto; npm aws-s3-mcp: not on the npm registry, not measured")
    with MotoS3() as moto, tempfile.TemporaryDirectory() as tmp:
        seed(args.keys, args.gets)
        env = environment(moto, Path(tmp))
        ours_cmd = [sys.executable, "-m", "patchbay_s3", "--buckets", BUCKET, "--allow-writes", "--confirm", "never",
                    "--audit-log", str(Path(tmp) / "audit.log")]  # fmt: skip
        uvx = shutil.which("uvx")
        peer_cmd = [uvx, "--from", PEER, "--with", "mcp<2", "aws-s3-mcp"] if uvx else None
        async with RawPipe(ours_cmd, env) as ours:
            peer_pipe = RawPipe(peer_cmd, env) if peer_cmd else None
            peer = await reach_peer(peer_pipe)
            try:
                await measure(args, ours, peer)
            finally:
                if peer is not None:
                    await peer.__aexit__(None, None, None)
            await upload(args, ours)


async def reach_peer(pipe: RawPipe | None) -> RawPipe | None:
    """The peer, started and shown to reach moto (one listing); None, saying why, when it cannot."""
    if pipe is None:
        print(f"peer NOT MEASURED: uvx is not on PATH, so {PEER} cannot be started")
        return None
    try:
        await pipe.__aenter__()
        result_data(await pipe.call_tool("s3_list_objects", {"bucket_name": BUCKET, "max_keys": 1}), "peer")
    except Exception as exc:
        print(f"peer NOT MEASURED: {PEER} could not be started or could not reach moto: {type(exc).__name__}: {exc}")
        return None
    return pipe


async def measure(args: argparse.Namespace, ours: RawPipe, peer: RawPipe | None) -> None:
    samples: dict[str, list[float]] = {"list ours": [], "list peer": [], "get ours": [], "get peer": []}
    counts = {"ours": await list_ours(ours), "peer": await list_peer(peer) if peer else 0}  # warm-up, checked
    print(f"keys listed: ours {counts['ours']}, peer {counts['peer'] if peer else 'n/a'} (of {args.keys})")
    for turn in range(args.rounds):
        order = [("ours", ours), ("peer", peer)] if turn % 2 == 0 else [("peer", peer), ("ours", ours)]
        for who, pipe in order:
            if pipe is None:
                continue
            lister = list_ours if who == "ours" else list_peer
            getter = gets_ours if who == "ours" else gets_peer
            samples[f"list {who}"].append(await timed(lambda p=pipe, f=lister: f(p)))
            samples[f"get {who}"].append(await timed(lambda p=pipe, g=getter: g(p, args.gets)))
    rows = [("list", f"list {args.keys:,} keys"), ("get", f"get {args.gets} small objects, one call each")]
    print(f"\n{'measurement':<44} {'peer':>10} {'ours':>10} {'peer/ours':>10}")
    for name, label in rows:
        mine = statistics.median(samples[f"{name} ours"])
        theirs = statistics.median(samples[f"{name} peer"]) if samples[f"{name} peer"] else None
        shown = f"{theirs:.2f} s" if theirs else "n/a"
        print(f"{label:<44} {shown:>10} {mine:>8.2f} s {ratio(theirs, mine):>10}")
    peer_rss = f"{peak_rss(peer) / 2**20:.0f} MiB" if peer else "n/a"
    print(f"{'peak memory after the reads (VmHWM)':<44} {peer_rss:>10} {peak_rss(ours) / 2**20:>6.0f} MiB")


async def upload(args: argparse.Namespace, ours: RawPipe) -> None:
    body = os.urandom(args.upload_mb * 10**6)
    arguments = {"bucket": BUCKET, "key": "upload/big.bin", "base64": base64.b64encode(body).decode()}
    del body
    before = peak_rss(ours)
    started = time.perf_counter()
    written = result_data(await ours.call_tool("put_object", arguments), "ours")
    seconds = time.perf_counter() - started
    after = peak_rss(ours)
    print(
        f"\n{args.upload_mb} MB upload (put_object, base64 over stdio): ours {seconds:.1f} s, "
        f"{written['result']['parts']} parts; server peak memory {after / 2**20:.0f} MiB "
        f"(before the upload {before / 2**20:.0f} MiB)"
    )
    print("peer: not measured: aws-s3-mcp 0.1.3 is read-only (no upload tool)")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=10_000, help="keys to list (default 10000)")
    parser.add_argument("--gets", type=int, default=500, help="small objects to get (default 500)")
    parser.add_argument("--upload-mb", type=int, default=200, help="size of the upload in MB (default 200)")
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds (default 2)")
    return parser.parse_args()


if __name__ == "__main__":
    run_benchmark(main, parse(), on_failure=report_failure)
