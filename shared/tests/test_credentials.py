"""Credentials: refreshed silently, masked from the moment they are loaded, stored owner-only."""

import errno
import logging
import os
import stat
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp.server.mcpserver import Context
from pydantic import BaseModel, SecretStr
from pydantic_settings import SettingsConfigDict

from patchbay import Connector, ConnectorSettings
from patchbay.credentials import (
    Credential,
    CredentialError,
    RefreshingCredential,
    RefreshRefused,
    StaticCredential,
    write_private_file,
)
from patchbay.redaction import MASK, Redactor
from patchbay.testing import connect


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Issuer:
    """A refresh function handing out numbered tokens valid for an hour, or failing as told."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.issued: list[str] = []
        self.failure: Exception | None = None

    def __call__(self) -> Credential:
        if self.failure is not None:
            raise self.failure
        token = f"token-{len(self.issued) + 1:04d}-c0ffee"
        self.issued.append(token)
        return Credential(token, expires_at=self.clock.now + 3600, parts={"refresh_token": f"rt-{token}"})


def provider(redactor: Redactor, **options: object) -> tuple[RefreshingCredential, Issuer, Clock]:
    clock = Clock()
    issuer = Issuer(clock)
    cred = RefreshingCredential(
        "Google token", issuer, reauthorize="patchbay-drive auth", redactor=redactor, clock=clock, **options
    )  # type: ignore[arg-type]
    return cred, issuer, clock


# Static ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["ghp_static_secret", SecretStr("ghp_static_secret")])
def test_a_static_credential_is_masked_as_soon_as_it_exists(value: str | SecretStr) -> None:
    redactor = Redactor()
    cred = StaticCredential(value, redactor=redactor)
    assert cred.get().value == "ghp_static_secret"
    assert redactor.text("sent ghp_static_secret") == f"sent {MASK}"


def test_a_provider_without_a_redactor_refuses_to_exist() -> None:
    with pytest.raises(RuntimeError, match="make it in the connector's lifespan, or pass redactor="):
        StaticCredential("ghp_static_secret")
    with pytest.raises(RuntimeError, match="RefreshingCredential needs the running connector's redactor"):
        RefreshingCredential("token", lambda: Credential("x"), reauthorize="x auth")


def test_credential_repr_never_shows_a_value() -> None:
    cred = Credential("secret-value", expires_at=5.0, parts={"secret_key": "other-secret"})
    assert "secret" not in repr(cred).replace("secret_key", "")


# Refreshing -------------------------------------------------------------------------------


def test_refreshes_silently_before_expiry_and_masks_each_new_value_before_it_is_used() -> None:
    redactor = Redactor()
    seen_masked: list[bool] = []

    def stored(new: Credential) -> None:  # told after registration: already masked
        seen_masked.append(redactor.text(new.value) == MASK and redactor.text(new.parts["refresh_token"]) == MASK)

    cred, _, clock = provider(redactor, on_refresh=stored, secrets=["initial-refresh-token"])
    assert redactor.text("initial-refresh-token") == MASK  # what the refresh uses, masked from the start
    first = cred.get()  # nothing yet: the first use loads one
    assert first.value == "token-0001-c0ffee"
    clock.now += 3600 - 301  # still outside the 5-minute margin
    assert cred.get() is first
    clock.now += 2  # inside the margin: a new one, though the old still works
    second = cred.get()
    assert second.value == "token-0002-c0ffee"
    assert cred.refreshes == 2
    assert seen_masked == [True, True]
    assert redactor.text(f"{first.value} {second.value}") == f"{MASK} {MASK}"  # old ones stay masked


def test_an_initial_credential_is_masked_and_used_until_its_margin() -> None:
    redactor = Redactor()
    clock = Clock()
    initial = Credential("from-the-token-file", expires_at=clock.now + 600)
    cred = RefreshingCredential(
        "Google token",
        Issuer(clock),
        reauthorize="patchbay-drive auth",
        redactor=redactor,
        initial=initial,
        clock=clock,
    )
    assert redactor.text("from-the-token-file") == MASK
    assert cred.get() is initial
    clock.now += 301
    assert cred.get().value == "token-0001-c0ffee"


def test_a_revoked_grant_names_the_command_that_signs_in_again() -> None:
    cred, issuer, clock = provider(Redactor())
    cred.get()
    clock.now += 3600
    issuer.failure = RefreshRefused("invalid_grant: Token has been expired or revoked.")
    with pytest.raises(CredentialError) as caught:
        cred.get()
    assert str(caught.value) == (
        "The Google token was revoked or expired and could not be refreshed "
        "(RefreshRefused: invalid_grant: Token has been expired or revoked.); "
        "run `patchbay-drive auth` to sign in again."
    )


def test_a_failed_refresh_keeps_a_still_valid_credential_and_tries_again(caplog: pytest.LogCaptureFixture) -> None:
    cred, issuer, clock = provider(Redactor())
    first = cred.get()
    clock.now += 3600 - 60  # in the margin, not expired
    issuer.failure = ConnectionError("token endpoint unreachable")
    with caplog.at_level(logging.WARNING, logger="patchbay.credentials"):
        assert cred.get() is first
    assert "Refreshing the Google token failed (ConnectionError: token endpoint unreachable)" in caplog.text
    issuer.failure = None
    assert cred.get().value == "token-0002-c0ffee"


def test_a_failed_refresh_of_an_expired_credential_is_a_clear_error() -> None:
    cred, issuer, clock = provider(Redactor(), action="to authorise the app again")
    cred.get()
    clock.now += 3600
    issuer.failure = ConnectionError("token endpoint unreachable")
    with pytest.raises(CredentialError) as caught:
        cred.get()
    assert str(caught.value) == (
        "The Google token expired and could not be refreshed (ConnectionError: token endpoint unreachable); "
        "try again later, and if this persists run `patchbay-drive auth` to authorise the app again."
    )


def test_many_threads_share_one_refresh() -> None:
    redactor = Redactor()
    cred, issuer, _ = provider(redactor)
    start = threading.Barrier(16)
    got: list[str] = []

    def use() -> None:
        start.wait()
        got.append(cred.get().value)

    threads = [threading.Thread(target=use) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert issuer.issued == ["token-0001-c0ffee"]
    assert got == ["token-0001-c0ffee"] * 16


def test_the_redactor_loses_no_secret_added_from_many_threads() -> None:
    redactor = Redactor()
    start = threading.Barrier(8)

    def add(n: int) -> None:
        start.wait()
        for i in range(200):
            redactor.add([f"secret-{n}-{i:03d}"])

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = " ".join(f"secret-{n}-{i:03d}" for n in range(8) for i in range(200))
    assert set(redactor.text(everything).split()) == {MASK}


# Through a connector: made in its lifespan, failures read as tool errors --------------------


class CredsSettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="PATCHBAY_CREDS_")


class Echo(BaseModel):
    text: str


def refused() -> Credential:
    raise RefreshRefused("invalid_grant")


@asynccontextmanager
async def open_creds(settings: CredsSettings) -> AsyncIterator[RefreshingCredential]:
    yield RefreshingCredential("Slack token", refused, reauthorize="patchbay-slack auth")  # no redactor passed


creds: Connector[CredsSettings, RefreshingCredential] = Connector(
    "creds", title="Creds", version="0", settings=CredsSettings, lifespan=open_creds
)


@creds.tool("read")
def whoami(ctx: Context) -> Echo:
    """Uses the credential."""
    return Echo(text=creds.state(ctx).get().value)


@pytest.mark.anyio
async def test_a_refresh_failure_reaches_the_client_as_a_clear_tool_error(era: str) -> None:
    async with connect(creds, era=era) as client:
        result = await client.call_tool("whoami", {})
    assert result.is_error
    assert [c.text for c in result.content] == [  # type: ignore[union-attr]
        "The Slack token was revoked or expired and could not be refreshed (RefreshRefused: invalid_grant); "
        "run `patchbay-slack auth` to sign in again."
    ]


# Credential files ---------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_credential_file_is_created_owner_only_in_a_private_directory(tmp_path: Path) -> None:
    path = tmp_path / "config" / "drive" / "token.json"
    write_private_file(path, '{"refresh_token": "rt"}')
    assert path.read_text() == '{"refresh_token": "rt"}'
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert os.listdir(path.parent) == ["token.json"]


def test_it_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_private_file(tmp_path / "token", b"secret")
    finally:
        os.umask(old)
    assert mode(tmp_path / "token") == 0o600


def test_a_world_readable_file_is_replaced_by_an_owner_only_one(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_text("old")
    path.chmod(0o644)
    before = os.stat(path).st_ino
    write_private_file(path, "new")
    assert path.read_text() == "new"
    assert mode(path) == 0o600
    assert os.stat(path).st_ino != before  # a new file renamed over it, not the old one rewritten


def test_a_symlink_at_the_destination_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("not yours")
    target.chmod(0o644)
    link = tmp_path / "token.json"
    link.symlink_to(target)
    with pytest.raises(OSError, match="refusing to write a credential file through a symlink") as caught:
        write_private_file(link, "secret")
    assert caught.value.errno == errno.ELOOP
    assert (target.read_text(), mode(target)) == ("not yours", 0o644)
    assert link.is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["elsewhere", "token.json"]


def test_a_directory_at_the_destination_is_refused(tmp_path: Path) -> None:
    (tmp_path / "token.json").mkdir()
    with pytest.raises(OSError, match="not a regular file"):
        write_private_file(tmp_path / "token.json", "secret")


FAILING_WRITE = """
import resource, signal, sys
from patchbay.credentials import write_private_file
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    write_private_file(sys.argv[1], b"n" * 100_000)
except OSError as exc:
    print(exc.errno)
"""


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    write_private_file(path, "old token")
    # A real failure halfway through writing (the file size limit), in a process of its own.
    done = subprocess.run(
        [sys.executable, "-c", FAILING_WRITE, str(path)], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == str(errno.EFBIG)
    assert path.read_text() == "old token"
    assert mode(path) == 0o600
    assert os.listdir(tmp_path) == ["token.json"]
