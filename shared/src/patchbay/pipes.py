"""Stdin and stdout pipes served by the event loop itself, without a worker thread per message.

The SDK's stdio transport reads each line and writes each message through anyio's file
wrappers: one hop to a worker thread and back per line read and per message written, two
thread wake-ups each (about 50 us of a 1 ms round trip). When stdin and stdout are pipes
or sockets, as every host makes them, the loop can do both itself, non-blocking: a line is
read as it arrives, a message is handed to the pipe at once and, if the pipe is full, the
rest waits in a buffer that the loop writes as the client reads. The writer then waits
while more than `HIGH_WATER` bytes wait, so a client that stops reading stalls its answers
rather than growing the server's memory. Likewise a line longer than the reader's limit
(the connector's `max_request_bytes`) is dropped as it arrives, never held whole. Anything
else (a file, a terminal, /dev/null, or Windows) is served the SDK's way, so nothing changes
for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
from typing import IO

HIGH_WATER = 64 * 1024
"""Bytes of written messages waiting for the client to read before the writer waits."""

TOO_LONG = "\x00patchbay: a line over the limit\x00"
"""What `PipeLines` yields in place of a line longer than its limit, followed by the line's
first `HEAD_CHARS` characters (where its id is, if anywhere). Never JSON: the SDK refuses it,
and `sdk` answers it with a clear error."""

HEAD_CHARS = 10_000


def is_pipe(fd: int) -> bool:
    """Whether `fd` is a pipe or a socket the event loop can serve (never a file or a terminal)."""
    if sys.platform == "win32":  # pragma: no cover - the Proactor loop serves pipes differently
        return False
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class PipeLines:
    """A readable pipe as an async iterator of text lines (UTF-8, errors replaced, as the SDK reads).

    A line longer than `limit` bytes is never held whole: it is read past and dropped, and
    `TOO_LONG` plus its head is yielded in its place. The reader holds at most about twice
    `limit` bytes, whatever the client sends.
    """

    def __init__(self, reader: asyncio.StreamReader, transport: asyncio.BaseTransport) -> None:
        self._reader = reader
        self._transport = transport

    @classmethod
    async def open(cls, fd: int, limit: int) -> PipeLines:
        """Serve `fd` (left open when the transport closes), lines of at most `limit` bytes.

        Raises:
            OSError, ValueError: the loop cannot watch `fd`.
        """
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader)
        transport, _ = await loop.connect_read_pipe(lambda: protocol, _unowned(fd, "rb"))
        return cls(reader, transport)

    def __aiter__(self) -> PipeLines:
        return self

    async def __anext__(self) -> str:
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:  # the last line, without a newline
            line = end.partial
        except asyncio.LimitOverrunError as over:
            return TOO_LONG + await self._drop_line(over.consumed)
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", errors="replace")

    async def _drop_line(self, held: int) -> str:
        """Read past the rest of an over-long line (`held` bytes of it are buffered); its head."""
        head = (await self._reader.readexactly(held))[: HEAD_CHARS * 4].decode("utf-8", errors="replace")
        while True:
            try:
                await self._reader.readuntil(b"\n")  # the rest fits the limit now: dropped
                return head[:HEAD_CHARS]
            except asyncio.LimitOverrunError as over:
                await self._reader.readexactly(over.consumed)
            except asyncio.IncompleteReadError:
                return head[:HEAD_CHARS]

    def close(self) -> None:
        """Stop reading; the descriptor stays open, back in blocking mode."""
        self._transport.close()


class PipeWriter:
    """A writable pipe with the `write` and `flush` the SDK's stdio writer awaits.

    `write` hands the message to the pipe at once; what the pipe cannot take yet is written
    by the loop, in order, as the client reads.

    Raises (from `write`):
        BrokenPipeError: the client closed its end.
    """

    def __init__(self, transport: asyncio.WriteTransport, protocol: _FlowControl) -> None:
        self._transport = transport
        self._protocol = protocol

    @classmethod
    async def open(cls, fd: int) -> PipeWriter:
        """Serve `fd` (left open when the transport closes).

        Raises:
            OSError, ValueError: the loop cannot watch `fd`.
        """
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.connect_write_pipe(_FlowControl, _unowned(fd, "wb"))
        transport.set_write_buffer_limits(high=HIGH_WATER)
        return cls(transport, protocol)

    async def write(self, text: str) -> int:
        self._protocol.check()
        self._transport.write(text.encode())
        await self._protocol.drained()
        return len(text)

    async def flush(self) -> None:
        """Nothing to do: `write` has handed the message to the pipe or to the loop."""

    async def aclose(self) -> None:
        """Write what still waits (for at most a second), then stop; the descriptor stays open."""
        self._transport.close()  # the transport writes its buffer out first
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._protocol.closed(), 1.0)


class _FlowControl(asyncio.Protocol):
    """Pauses the writer while the transport's buffer is over its high-water mark."""

    def __init__(self) -> None:
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._lost: BaseException | None = None

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._lost = exc or BrokenPipeError("the client closed its end of the pipe")
        self._wake()

    def check(self) -> None:
        if self._lost is not None:
            raise BrokenPipeError(str(self._lost))

    async def drained(self) -> None:
        while self._paused and self._lost is None:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        self.check()

    async def closed(self) -> None:
        while self._lost is None:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def restore_blocking(fd: int) -> None:
    """Put `fd` back in blocking mode (the transports made it non-blocking), if it is still open."""
    with contextlib.suppress(OSError):
        os.set_blocking(fd, True)


def _unowned(fd: int, mode: str) -> IO[bytes]:
    """`fd` as an unbuffered file that leaves the descriptor open when closed (the stdio claim restores it)."""
    return open(fd, mode, buffering=0, closefd=False)  # the transport closes the file, not fd
