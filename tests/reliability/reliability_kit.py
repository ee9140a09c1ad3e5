"""Shared pieces of the reliability suite: the counts, raw JSON-RPC over HTTP, and the checks
every answer must pass.

Counts: `make test` runs a bounded version; `make soak` sets PATCHBAY_SOAK=1, which raises them
to the issue's numbers (20 clients x 200 calls, a few hundred fuzz cases per tool). Each count
can also be set on its own (PATCHBAY_REL_CALLS, PATCHBAY_REL_FUZZ_CASES, ...).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx

SOAK = os.environ.get("PATCHBAY_SOAK", "") not in ("", "0")


def _count(name: str, quick: int, soak: int) -> int:
    return int(os.environ.get(f"PATCHBAY_REL_{name}", soak if SOAK else quick))


CLIENTS = _count("CLIENTS", 20, 20)
"""Concurrent clients of the load test."""
CALLS = _count("CALLS", 30, 200)
"""Calls per client in the load test (after the warm-up)."""
WARMUP_CALLS = _count("WARMUP_CALLS", 10, 20)
"""Calls per client in the warm-up round, after which the baseline RSS is read."""
RESTART_SECONDS = _count("RESTART_SECONDS", 4, 20)
"""How long the clients of the restart test keep calling (the restart happens 1 s in; in soak, every 5 s)."""
FUZZ_CASES = _count("FUZZ_CASES", 25, 300)
"""Schema-derived cases per tool."""
POOL_SIZE = 5
"""Connections per pool of the postgres connector under test (its default)."""
CALL_TIMEOUT = float(os.environ.get("PATCHBAY_REL_CALL_TIMEOUT", "30"))
"""Seconds a single call may take before it counts as never answered."""
MUTATION_TIMEOUT = float(os.environ.get("PATCHBAY_REL_MUTATION_TIMEOUT", "10"))
"""The same for one mutated input (huge, NUL, ...); after one such time-out the tool's other mutations are skipped."""

TRACEBACK = re.compile(
    r"Traceback \(most recent call last\)|site-packages|File \"[^\"]+\", line \d+|(?:/[\w.-]+)+\.py\b"
)
"""What gives away the server's internals: a traceback, a frame, an installed package, a path to a .py file."""
REASONLESS = re.compile(r"^\s*(?:Error executing tool [\w-]+:?)?\s*$")
"""An error with nothing to say: empty, or the SDK's bare "Error executing tool X"."""
INTERNAL = re.compile(r"Internal error")
"""The base's last resort for an exception nobody mapped: a bug, never an answer to bad input."""


@dataclass
class Answer:
    """One JSON-RPC answer (or the lack of one)."""

    request: str
    response: dict[str, Any] | None = None
    status: int = 0
    failure: str = ""  # why no answer came (time-out, connection reset)
    seconds: float = 0.0

    @property
    def is_error(self) -> bool:
        if self.response is None:
            return True
        if "error" in self.response:
            return True
        return bool(self.response.get("result", {}).get("isError"))

    @property
    def text(self) -> str:
        """The error message or the tool result's text blocks."""
        if self.response is None:
            return ""
        if "error" in self.response:
            return str(self.response["error"].get("message", ""))
        blocks = self.response.get("result", {}).get("content") or []
        return "\n".join(str(block.get("text", "")) for block in blocks if isinstance(block, dict))


def parse_body(status: int, content_type: str, body: bytes) -> dict[str, Any] | None:
    """The JSON-RPC message in a JSON or SSE body; None when there is none."""
    text = body.decode("utf-8", errors="replace")
    if "text/event-stream" in content_type:
        found: dict[str, Any] | None = None
        for line in text.split("\n"):  # not splitlines(): it also splits at \x1c, \x85, \u2028 inside the JSON
            if line.startswith("data:"):
                data = line[5:].strip()
                if data:
                    message = json.loads(data)
                    if "id" in message and ("result" in message or "error" in message):
                        found = message
        return found
    if text.strip().startswith("{"):
        parsed: dict[str, Any] = json.loads(text)
        return parsed
    return None


def call_body(tool: str, arguments: Any, request_id: int = 1) -> str:
    """A tools/call request as JSON text (ensure_ascii, so a lone surrogate goes as a `\\udXXX` escape)."""
    return json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    )


def post(http: httpx.Client, url: str, body: str | bytes, timeout: float = CALL_TIMEOUT) -> Answer:
    """POST one JSON-RPC message to a stateless Streamable HTTP endpoint and read its answer."""
    raw = body.encode("utf-8", errors="surrogatepass") if isinstance(body, str) else body
    answer = Answer(request=raw.decode("utf-8", errors="backslashreplace"))
    began = time.monotonic()
    try:
        with http.stream(
            "POST",
            url,
            content=raw,
            headers={"content-type": "application/json", "accept": "application/json, text/event-stream"},
            timeout=timeout,
        ) as response:
            answer.status = response.status_code
            chunks = []
            for chunk in response.iter_bytes():  # a deadline for the whole answer, not per read
                chunks.append(chunk)
                if time.monotonic() - began > timeout:
                    raise httpx.ReadTimeout("the whole answer took too long")
        body_bytes = b"".join(chunks)
        answer.response = parse_body(response.status_code, response.headers.get("content-type", ""), body_bytes)
        if answer.response is None:
            answer.failure = f"HTTP {response.status_code} without a JSON-RPC message: {body_bytes[:200]!r}"
    except httpx.TimeoutException:
        answer.failure = f"no answer within {timeout:.0f} s"
    except httpx.HTTPError as exc:
        answer.failure = f"{type(exc).__name__}: {exc}"
    answer.seconds = time.monotonic() - began
    return answer


def problems(answer: Answer) -> list[str]:
    """What is wrong with an answer, whatever the input: unanswered, internal, reason-less, leaking."""
    if answer.response is None:
        return [answer.failure or "no answer"]
    found = []
    text = answer.text
    if answer.is_error and REASONLESS.match(text):
        found.append(f"reason-less error {text!r}")
    if INTERNAL.search(text):
        found.append(f"internal error {text[:200]!r}")
    whole = json.dumps(answer.response)
    for match in TRACEBACK.finditer(whole):
        if match.group(0) not in answer.request:  # not merely an echo of what was sent
            found.append(f"internal detail {match.group(0)!r} in {whole[:300]!r}")
            break
    return found


def healthy(base_url: str) -> bool:
    """Whether /healthz answers 200 within 5 s."""
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def rss_kib(pid: int) -> int:
    """VmRSS of a process, in KiB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def tree_digest(root: Path) -> dict[str, str]:
    """Every entry under `root` (names as bytes, so any name works): its type, mode and content or target."""
    digest: dict[str, str] = {}
    base = os.fsencode(root)
    for folder, dirs, files in os.walk(base, followlinks=False):
        for name in sorted(dirs + files):
            path = os.path.join(folder, name)
            info = os.lstat(path)
            key = os.path.relpath(path, base).decode("utf-8", "backslashreplace")
            if stat.S_ISLNK(info.st_mode):
                digest[key] = f"link {os.readlink(path)!r}"
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as handle:
                    digest[key] = f"file {oct(info.st_mode)} {hashlib.sha256(handle.read()).hexdigest()}"
            else:
                digest[key] = f"dir {oct(info.st_mode)}"
    return digest


@dataclass
class Findings:
    """Problems found over many calls, with the input that caused each (the first few kept whole)."""

    cases: int = 0
    items: list[str] = field(default_factory=list)

    def check(self, tool: str, answer: Answer) -> None:
        self.cases += 1
        for problem in problems(answer):
            self.items.append(f"{tool}: {problem} <- {answer.request[:3000]}")

    def report(self) -> str:
        shown = "\n  ".join(self.items[:15])
        return f"{len(self.items)} problem(s) in {self.cases} cases:\n  {shown}"
