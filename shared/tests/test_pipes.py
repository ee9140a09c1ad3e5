"""Stdio over pipes served by the event loop (`patchbay.pipes`): whole, in order, bounded,
and the SDK's way for anything that is not a pipe."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path

import pytest

from patchbay import pipes, sdk

pytestmark = pytest.mark.anyio

CMD = [sys.executable, "-m", "patchbay.example"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextmanager
def os_pipe() -> Iterator[tuple[int, int]]:
    read_fd, write_fd = os.pipe()
    try:
        yield read_fd, write_fd
    finally:
        for fd in (read_fd, write_fd):
            with suppress(OSError):
                os.close(fd)


@asynccontextmanager
async def writer_on(fd: int) -> AsyncIterator[pipes.PipeWriter]:
    writer = await pipes.PipeWriter.open(fd)
    try:
        yield writer
    finally:
        await writer.aclose()


def drain(fd: int, size: int) -> bytes:
    """Read exactly `size` bytes (blocking) from `fd`."""
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        assert chunk, "the pipe closed early"
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


async def test_messages_reach_the_pipe_whole_and_in_order() -> None:
    messages = [json.dumps({"n": i, "pad": "x" * (i * 37 % 5000)}) + "\n" for i in range(400)]
    expected = "".join(messages).encode()
    with os_pipe() as (read_fd, write_fd):
        reading = asyncio.get_running_loop().run_in_executor(None, drain, read_fd, len(expected))
        async with writer_on(write_fd) as writer:
            for message in messages:
                await writer.write(message)
        assert await reading == expected


async def test_a_client_that_stops_reading_stalls_the_writer_instead_of_growing_its_buffer() -> None:
    message = "y" * 100_000 + "\n"
    with os_pipe() as (read_fd, write_fd):
        async with writer_on(write_fd) as writer:
            writing = asyncio.ensure_future(_write_times(writer, message, 50))
            await asyncio.sleep(0.2)  # the writer fills the pipe, then the buffer, then waits
            assert not writing.done()
            waiting = writer._transport.get_write_buffer_size()
            assert 0 < waiting <= pipes.HIGH_WATER + len(message)
            reading = asyncio.get_running_loop().run_in_executor(None, drain, read_fd, 50 * len(message))
            await writing
            assert await reading == message.encode() * 50


async def _write_times(writer: pipes.PipeWriter, message: str, times: int) -> None:
    for _ in range(times):
        await writer.write(message)


async def test_a_closed_client_end_is_a_broken_pipe_not_a_silent_loss() -> None:
    with os_pipe() as (read_fd, write_fd):
        async with writer_on(write_fd) as writer:
            await writer.write("first\n")
            os.close(read_fd)
            with pytest.raises(BrokenPipeError):
                await _write_until_refused(writer)


async def _write_until_refused(writer: pipes.PipeWriter) -> None:
    for _ in range(100):  # the loss shows at the next write the loop attempts
        await writer.write("more\n")
        await asyncio.sleep(0.01)


async def test_lines_up_to_the_limit_are_read_whole_and_bad_utf8_is_replaced() -> None:
    long_line = b'{"text": "' + b"z" * 3_000_000 + b'"}\n'
    with os_pipe() as (read_fd, write_fd):
        lines = await pipes.PipeLines.open(read_fd, len(long_line))
        try:
            sending = asyncio.get_running_loop().run_in_executor(
                None, _send_and_close, write_fd, [b"short\n", long_line, b"bad \xff byte\n", b"no newline at the end"]
            )
            got = [line async for line in lines]
            await sending
        finally:
            lines.close()
    assert got == ["short\n", long_line.decode(), "bad \ufffd byte\n", "no newline at the end"]


@pytest.mark.parametrize("tail", [b"\n", b""], ids=["newline", "end of input"])
async def test_a_line_over_the_limit_is_dropped_as_it_arrives(tail: bytes) -> None:
    """50 MB on one line through a 64 KiB reader: its head comes out marked, the rest is read past,
    and the lines around it come through; the reader never holds more than about twice the limit."""
    head = b'{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"text": "'
    huge = head + b"y" * 50_000_000 + b'"}' + tail
    chunks = [b"before\n", *(huge[i : i + (1 << 20)] for i in range(0, len(huge), 1 << 20))]
    chunks += [b"after\n"] if tail else []
    tracemalloc.start()
    try:
        with os_pipe() as (read_fd, write_fd):
            lines = await pipes.PipeLines.open(read_fd, 64 * 1024)
            try:
                sending = asyncio.get_running_loop().run_in_executor(None, _send_and_close, write_fd, chunks)
                got = [line async for line in lines]
                await sending
            finally:
                lines.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    expected_head = pipes.TOO_LONG + (head + b"y" * (pipes.HEAD_CHARS - len(head))).decode()
    assert got == ["before\n", expected_head, *(["after\n"] if tail else [])]
    assert peak < 4 << 20, f"held {peak:,} bytes at most"  # the 1 MiB chunks sent, the 64 KiB buffer: not 50 MB


def _send_and_close(fd: int, chunks: list[bytes]) -> None:
    for chunk in chunks:
        os.write(fd, chunk)
    os.close(fd)


def test_only_pipes_and_sockets_are_served_by_the_loop(tmp_path: Path) -> None:
    with os_pipe() as (read_fd, _):
        assert pipes.is_pipe(read_fd)
    with open(tmp_path / "file", "wb") as regular, open(os.devnull, "rb") as null:
        assert not pipes.is_pipe(regular.fileno())
        assert not pipes.is_pipe(null.fileno())  # a character device: a terminal is left alone too


def test_a_server_with_files_for_stdin_and_stdout_still_answers(tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    answers = tmp_path / "answers.jsonl"
    hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}
    echo = {"name": "echo", "arguments": {"text": "from a file"}}
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": echo},
    ]
    requests.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with requests.open("rb") as stdin, answers.open("wb") as stdout:
        subprocess.run(CMD, stdin=stdin, stdout=stdout, stderr=subprocess.DEVNULL, timeout=60, check=True)
    replies = {reply["id"]: reply for reply in map(json.loads, answers.read_text().splitlines())}
    assert replies[2]["result"]["structuredContent"] == {"text": "from a file"}


async def test_the_stdio_transport_serves_pipes_on_the_loop_and_files_the_sdks_way(tmp_path: Path) -> None:
    with os_pipe() as (read_fd, write_fd), open(tmp_path / "file", "w+b") as regular:
        with open(read_fd, "rb", closefd=False) as pipe_in, open(write_fd, "wb", closefd=False) as pipe_out:
            lines, writer = await sdk._stdin(pipe_in, 1 << 20), await sdk._stdout(pipe_out)
            assert isinstance(lines, pipes.PipeLines) and isinstance(writer, pipes.PipeWriter)
            lines.close()
            await writer.aclose()
        assert not isinstance(await sdk._stdin(regular, 1 << 20), pipes.PipeLines)
        assert not isinstance(await sdk._stdout(regular), pipes.PipeWriter)
