"""Starting a host's server entry the way the host would, to see that it works.

`patchbay install` checks the entry it is about to write; `patchbay doctor` checks every
Patchbay entry it finds. A check resolves the entry's variable references from the
environment as the host would (`${VAR}` for Claude Code, `${env:VAR}` for Cursor and
Windsurf, `${VAR}`/`$VAR` for Gemini CLI, `${input:id}` for VS Code, `env_vars` for
Codex), runs its command over stdio, sends `initialize` and `tools/list`, and stops the
process, all within a time limit. The outcome says in words the user can act on why an
entry does not start: a variable is unset, the package is not on the index, the command
is missing, the connector rejected its settings or says that what it connects to is not
reachable (a database), or it did not answer in time. Other warnings a connector logs
while starting are shown with the success.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import anyio
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

__all__ = ["DEFAULT_TIMEOUT", "Launch", "Outcome", "Unresolved", "check", "launch", "start"]

DEFAULT_TIMEOUT: Final = 60.0
"""Seconds a check may take: uvx may have to download and build the connector first."""

_LABELS: Final = {
    "claude-desktop": "Claude Desktop",
    "claude-code": "Claude Code",
    "vscode": "VS Code",
    "cursor": "Cursor",
    "windsurf": "Windsurf",
    "zed": "Zed",
    "codex": "Codex",
    "gemini": "Gemini CLI",
}

# The reference forms each host expands; the others are left as literal text.
_FORMS: Final[Mapping[str, frozenset[str]]] = {
    "claude-code": frozenset({"braced", "default"}),
    "cursor": frozenset({"env"}),
    "windsurf": frozenset({"env"}),
    "vscode": frozenset({"input", "env"}),
    "gemini": frozenset({"braced", "bare"}),
}
_REFERENCE: Final = re.compile(
    r"\$\{input:(?P<input>[^}]+)\}"
    r"|\$\{env:(?P<env>[A-Za-z_][A-Za-z0-9_]*)\}"
    r"|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


@dataclass(frozen=True)
class Outcome:
    """What a check found: the entry starts, fails (and why), or could not be checked here."""

    state: Literal["starts", "fails", "unchecked"]
    reason: str
    """Details: the number of tools when it starts, otherwise what to do."""

    @property
    def ok(self) -> bool:
        """False only when the entry fails; an unchecked entry is not a failure."""
        return self.state != "fails"

    def __str__(self) -> str:
        return f"{self.state}: {self.reason}" if self.state != "starts" else f"starts ({self.reason})"


class Unresolved(Exception):
    """A variable the entry refers to has no value here; `outcome` says what to do."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(str(outcome))
        self.outcome = outcome


@dataclass(frozen=True)
class Launch:
    """A stdio server process as the host would start it."""

    command: str
    args: list[str]
    env: dict[str, str]
    """The entry's own environment, references resolved (added to the inherited environment)."""


def launch(client: str, entry: Mapping[str, Any], environ: Mapping[str, str]) -> Launch:
    """How `client` would start `entry` (a stdio entry as written in its config file).

    Raises:
        Unresolved: a variable the entry refers to is not set in `environ`.
    """
    label = _LABELS.get(client, client)

    def expand(text: Any) -> str:
        return _REFERENCE.sub(lambda match: _value(match, client, label, environ), str(text))

    env = {str(k): expand(v) for k, v in (entry.get("env") or {}).items()}
    for name in entry.get("env_vars") or []:  # Codex forwards these from its own environment
        if str(name) not in environ:
            raise Unresolved(Outcome("fails", f"{name} is unset: set it in the environment {label} starts from"))
        env[str(name)] = environ[str(name)]
    return Launch(expand(entry["command"]), [expand(arg) for arg in entry.get("args") or []], env)


def _value(match: re.Match[str], client: str, label: str, environ: Mapping[str, str]) -> str:
    forms = _FORMS.get(client, frozenset())
    kind = next(k for k in ("input", "env", "braced", "bare") if match.group(k) is not None)
    if kind not in forms:
        return match.group(0)
    if kind == "input":
        name = match.group("input").upper().replace("-", "_")
        if name not in environ:
            raise Unresolved(
                Outcome(
                    "unchecked",
                    f"VS Code asks for input {match.group('input')} when it starts the server; "
                    f"set {name} in this shell to check the entry here",
                )
            )
        return environ[name]
    name = match.group(kind)
    if name in environ:
        return environ[name]
    if match.group("default") is not None and "default" in forms:
        return match.group("default")
    why = "Claude Code refuses the whole config without it" if client == "claude-code" else "the server would get ''"
    raise Unresolved(Outcome("fails", f"{name} is unset ({why}): set it in the environment {label} starts from"))


def check(
    client: str, entry: Mapping[str, Any], *, environ: Mapping[str, str], cwd: Path, timeout: float = DEFAULT_TIMEOUT
) -> Outcome:
    """Start `entry` as `client` would and list its tools; never raises for a failing entry."""
    if "command" not in entry:
        where = entry.get("url") or entry.get("serverUrl") or entry.get("httpUrl")
        return Outcome("unchecked", f"an HTTP server at {where}: the host connects to it; it is not started here")
    try:
        spec = launch(client, entry, environ)
    except Unresolved as exc:
        return exc.outcome
    return start(spec, environ=environ, cwd=cwd, timeout=timeout)


def start(spec: Launch, *, environ: Mapping[str, str], cwd: Path, timeout: float = DEFAULT_TIMEOUT) -> Outcome:
    """Run `spec`, send `initialize` and `tools/list`, stop it; the outcome says why it failed."""
    params = StdioServerParameters(command=spec.command, args=spec.args, env={**environ, **spec.env}, cwd=cwd)
    began = time.monotonic()
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        try:
            tools = anyio.run(_bounded, params, errlog, timeout)
        except TimeoutError:
            return Outcome("fails", f"no answer within {timeout:g} s (uvx may still be downloading: try --timeout 180)")
        except FileNotFoundError:
            return Outcome("fails", f"command {spec.command!r} not found on PATH")
        except Exception:  # the server went away before answering; its stderr says why
            errlog.seek(0)
            return Outcome("fails", _why(errlog.read()))
        errlog.seek(0)
        warnings = _warnings(errlog.read())
    fatal = [warning for warning in warnings if _UNREACHABLE.search(warning)]
    if fatal:  # it answers, but every tool call would fail
        return Outcome("fails", "it starts but logs: " + "; ".join(fatal))
    logged = "".join(f"; it logs: {warning}" for warning in warnings)
    return Outcome("starts", f"{tools} tools in {time.monotonic() - began:.1f} s{logged}")


async def _bounded(params: StdioServerParameters, errlog: Any, seconds: float) -> int:
    with anyio.fail_after(seconds):
        return await _list_tools(params, errlog)


async def _list_tools(params: StdioServerParameters, errlog: Any) -> int:
    async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return len((await session.list_tools()).tools)


_NOT_FOUND: Final = re.compile(r"Because (\S+) was not found in the package registry")
_NO_VERSION: Final = re.compile(r"Because there is no version of (\S+)")
_UNREACHABLE: Final = re.compile(r"not reachable|unreachable|could not connect|cannot connect|refused", re.IGNORECASE)
_LOG_LINE: Final = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (WARNING|ERROR|CRITICAL) [\w.]+: (.*)$")


def _why(stderr: str) -> str:
    """The reason a server stopped before answering, from what it (or uvx) printed."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if found := _NOT_FOUND.search(stderr) or _NO_VERSION.search(stderr):
        return (
            f"package not found: {found.group(1)} is not on the package index; install from a checkout "
            "(--source PATH) or git (--source git+URL), or name the index that has it (--index URL)"
        )
    own = [line.split(": ", 1)[1] for line in lines if re.match(r"patchbay-[\w-]+: ", line)]
    if own:
        return own[-1]
    errors = [line for line in lines if line.startswith(("error:", "Error:"))]
    if errors:
        return errors[-1]
    return lines[-1] if lines else "it exited before answering and printed nothing"


def _warnings(stderr: str) -> list[str]:
    """The warnings and errors a server logged while starting."""
    return [" ".join(match.group(2).split()) for match in map(_LOG_LINE.match, stderr.splitlines()) if match]
