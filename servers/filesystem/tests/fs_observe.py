"""Watching a server from outside: its CPU time and its open inotify instances, from /proc.

An outside view of worker threads and watchers, so the server needs no test-only hook:
a walk that kept running after its call was cancelled would keep using CPU, and a
watcher that kept running would keep its inotify instance open.
"""

import os
import time
from collections.abc import Callable
from pathlib import Path

import anyio


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def seconds_until_idle(pid: int, since: float, quiet: float = 0.3, give_up: float = 5.0) -> float:
    """How long after `since` the process's CPU time stopped growing (and then stayed flat `quiet` s).

    Infinity when it never settles within `give_up` s, as with work that ignores its cancellation.
    """
    samples: list[tuple[float, float]] = []
    with anyio.move_on_after(give_up):
        while True:
            samples.append((time.perf_counter(), cpu_seconds(pid)))
            now, used = samples[-1]
            settled = [t for t, cpu in samples if now - t >= quiet and used - cpu < 0.02]
            if settled:
                return settled[0] - since
            await anyio.sleep(0.02)
    return float("inf")


def inotify_instances() -> int:
    """This process's open inotify instances (watchfiles watches through inotify on Linux)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify"
        except FileNotFoundError:  # closed meanwhile (the listing's own descriptor, for one)
            continue
    return count


async def wait_until(condition: Callable[[], bool], within: float) -> None:
    """Return once `condition()` holds; TimeoutError after `within` seconds."""
    with anyio.fail_after(within):
        while True:
            if condition():
                return
            await anyio.sleep(0.01)
