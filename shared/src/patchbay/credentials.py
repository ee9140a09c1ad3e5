"""Credentials for upstream services: static or refreshing, always known to the redactor.

A connector gets the secret it sends upstream from a `CredentialProvider`:

- `StaticCredential`: a token, key or password that does not change during the run;
- `RefreshingCredential`: one that expires (OAuth user tokens, GitHub App installation
  tokens, STS session credentials). `get()` returns the current one and, within a
  margin before it expires, calls the connector's `refresh` function for a new one,
  silently. It is thread-safe: many worker threads may call it, one of them refreshes
  and the others wait for that refresh instead of starting their own. When the refresh
  fails for good, `CredentialError` says which command authorises the connector again.

Every value a provider loads, each refreshed one included (and the long-lived secrets a
refresh uses, such as a refresh token or an app's private key), is added to the running
connector's `Redactor` before anyone can use it, so it is masked in results, errors,
logs and the audit log. A provider made in the connector's lifespan finds that redactor
by itself (the runtime runs the lifespan under `Redactor.running()`); anywhere else, pass
`redactor=runtime_of(ctx).redactor`. A provider never made with a redactor refuses to
exist rather than leak.

`write_private_file(path, data)` writes a credential file the way it must be written:
created owner-only (0600) from the first byte, atomically (a temporary file in the same
directory, flushed to disk, renamed over the old one, which stays whole if anything
fails), never through a symlink.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import SecretStr

from patchbay.redaction import Redactor, running_redactor

logger = logging.getLogger("patchbay.credentials")

DEFAULT_MARGIN_SECONDS = 300.0
"""Refresh this long before a credential expires, so that no call is sent with an expired one."""


class CredentialError(ToolError):
    """A credential could not be loaded or refreshed; the message says what to run to fix it."""


class RefreshRefused(Exception):
    """Raised by a refresh function when the service refused for good (revoked grant, deleted
    app installation, expired refresh token), as opposed to a failure worth retrying later."""


@dataclass(frozen=True)
class Credential:
    """One loaded credential: what is sent upstream, when it expires, and its other secret parts."""

    value: str
    expires_at: float | None = None
    """When it stops working, in `time.time()` seconds; None if it does not expire."""
    parts: Mapping[str, str] = field(default_factory=dict)
    """Further secret parts that come with it: an STS secret key and session token, a rotated
    refresh token. Masked like `value`."""

    def secrets(self) -> list[str]:
        """Every secret string in this credential."""
        return [self.value, *self.parts.values()]

    def __repr__(self) -> str:  # never the values, e.g. in a traceback's locals
        return f"Credential(value='**********', expires_at={self.expires_at!r}, parts={sorted(self.parts)!r})"


class CredentialProvider(Protocol):
    """Where a connector gets the credential to send upstream; call `get()` for each use."""

    def get(self) -> Credential: ...


def _register(redactor: Redactor | None, kind: str) -> Callable[[Iterable[str]], None]:
    found = redactor or running_redactor()
    if found is None:
        raise RuntimeError(
            f"A {kind} needs the running connector's redactor: make it in the connector's lifespan, "
            "or pass redactor=runtime_of(ctx).redactor"
        )
    return found.add


class StaticCredential:
    """A credential that stays the same for the whole run (an API key, a personal access token)."""

    def __init__(self, value: str | SecretStr | Credential, *, redactor: Redactor | None = None) -> None:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        self._credential = value if isinstance(value, Credential) else Credential(value)
        _register(redactor, "StaticCredential")(self._credential.secrets())

    def get(self) -> Credential:
        """The credential."""
        return self._credential


class RefreshingCredential:
    """A credential that expires and is refreshed silently shortly before it does.

    `name` says what it is in messages ("Google token"); `reauthorize` is the command that
    authorises again when refreshing fails for good (`patchbay-drive auth`), and `action`
    how the message ends after it. `secrets` are what the refresh itself uses (a refresh
    token, a private key), registered now. `on_refresh` is told about each new credential
    (e.g. to store a rotated refresh token with `write_private_file`). `clock` is for tests.
    """

    def __init__(
        self,
        name: str,
        refresh: Callable[[], Credential],
        *,
        reauthorize: str,
        action: str = "to sign in again",
        redactor: Redactor | None = None,
        margin: float = DEFAULT_MARGIN_SECONDS,
        initial: Credential | None = None,
        secrets: Iterable[str] = (),
        on_refresh: Callable[[Credential], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.reauthorize = reauthorize
        self.action = action
        self.margin = margin
        self.refreshes = 0
        self._refresh = refresh
        self._on_refresh = on_refresh
        self._clock = clock
        self._register = _register(redactor, "RefreshingCredential")
        self._register(secrets)
        if initial is not None:
            self._register(initial.secrets())
        self._current = initial
        self._lock = threading.Lock()

    def get(self) -> Credential:
        """The current credential, refreshed first if it expires within the margin.

        Raises:
            CredentialError: it has expired (or there is none yet) and could not be refreshed.
        """
        current = self._current
        if current is not None and self._fresh(current):
            return current
        with self._lock:  # one refresh at a time; the others wait and use its result
            current = self._current
            if current is not None and self._fresh(current):
                return current
            try:
                new = self._refresh()
            except Exception as exc:
                if current is not None and not self._expired(current):
                    # Still valid for a while: keep using it, and try again on the next call.
                    logger.warning(
                        "Refreshing the %s failed (%s); the current one is still valid", self.name, _why(exc)
                    )
                    return current
                raise CredentialError(self._failure(exc)) from exc
            self._register(new.secrets())  # before anyone can see it
            self._current = new
            self.refreshes += 1
        if self._on_refresh is not None:
            try:
                self._on_refresh(new)
            except Exception:
                logger.exception("Could not store the refreshed %s; it is used anyway", self.name)
        return new

    def _fresh(self, credential: Credential) -> bool:
        return credential.expires_at is None or self._clock() < credential.expires_at - self.margin

    def _expired(self, credential: Credential) -> bool:
        return credential.expires_at is not None and self._clock() >= credential.expires_at

    def _failure(self, exc: Exception) -> str:
        if isinstance(exc, RefreshRefused):
            return (
                f"The {self.name} was revoked or expired and could not be refreshed ({_why(exc)}); "
                f"run `{self.reauthorize}` {self.action}."
            )
        return (
            f"The {self.name} expired and could not be refreshed ({_why(exc)}); try again later, "
            f"and if this persists run `{self.reauthorize}` {self.action}."
        )


def _why(exc: Exception) -> str:
    """A short reason for a message (masked later like every message: it may name a secret)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= 200 else text[:200] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# Credential files --------------------------------------------------------------------


def write_private_file(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write `data` to `path` readable by its owner only (0600), atomically, never via a symlink.

    The data goes to a new 0600 file in the same directory, is flushed to disk and renamed
    over `path`; a failure leaves the old file as it was and no temporary file behind. A
    missing directory is created 0700. A world-readable file already at `path` is
    replaced by a 0600 one.

    Raises:
        OSError: writing failed, or `path` is a symlink (`ELOOP`) or not a regular file.
    """
    target = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        existing = os.lstat(target)
    except FileNotFoundError:
        existing = None
    if existing is not None and stat.S_ISLNK(existing.st_mode):
        raise OSError(errno.ELOOP, "refusing to write a credential file through a symlink", str(target))
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        raise OSError(errno.EEXIST, "not a regular file", str(target))
    temp = target.with_name(f".{target.name}.{os.urandom(6).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(temp, flags, 0o600)  # owner-only from the start: the umask can only take bits away
    try:
        try:
            os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)  # replaces a symlink put there meanwhile, never follows it
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (where the platform allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = [
    "DEFAULT_MARGIN_SECONDS",
    "Credential",
    "CredentialError",
    "CredentialProvider",
    "RefreshRefused",
    "RefreshingCredential",
    "StaticCredential",
    "write_private_file",
]
