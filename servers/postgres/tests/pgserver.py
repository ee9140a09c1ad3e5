"""A real, throw-away PostgreSQL server for tests, and the same interface over one given by DSN.

    server = PostgresServer()          # initdb in a temp dir, start on a free 127.0.0.1 port
    try:
        server.execute("create table t (id int)")
        dsn = server.create_role("reader", "reader-pw")  # -> postgresql://reader:...@127.0.0.1:PORT/app
        server.restart()               # pg_ctl stop -m fast + start: same port, same data
    finally:
        server.stop()                  # idempotent; removes the temp dir

The cluster runs as the `postgres` system user when the tests run as root (initdb and
postgres refuse to run as root), as the current user otherwise. It listens on 127.0.0.1
only, on a port that was free, with its unix socket inside its own temp dir, so it can't
collide with any other PostgreSQL on the machine. It has `pg_stat_statements` preloaded and
created in `template1` and `app`, a superuser `patchbay` with a random password
(`canary-pw-<hex>`) that logs in with SCRAM over TCP, and durability switched off for speed.

If the test process dies without calling stop() (SIGKILL, os._exit, a CI time-out), a small
watchdog process notices the end of its pipe from the test process and stops the server
(`-m immediate`) and removes the temp dir.

`ExternalPostgres` wraps a server the suite did not start (PATCHBAY_TEST_POSTGRES_DSN, or a
container): same interface, but stop() leaves it alone and restart() needs a hook.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

SUPERUSER = "patchbay"
DATABASE = "app"
_TOOLS = ("initdb", "pg_ctl", "postgres")
_UNTRACKED = "-c pg_stat_statements.track=none -c pg_stat_statements.track_utility=off"
"""Connection options (superuser only) that keep the fixture's own statements out of pg_stat_statements."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path))


def find_bin_dir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: $PATCHBAY_POSTGRES_BIN, else the newest
    /usr/lib/postgresql/*/bin, else where `pg_ctl` on PATH really lives. None if there is none."""
    candidates: list[str] = []
    if os.environ.get("PATCHBAY_POSTGRES_BIN"):
        candidates.append(os.environ["PATCHBAY_POSTGRES_BIN"])
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for candidate in candidates:
        if all(os.access(Path(candidate, tool), os.X_OK) for tool in _TOOLS):
            return Path(candidate)
    return None


def has_pg_stat_statements(bin_dir: Path) -> bool:
    """Whether the contrib module pg_stat_statements is installed next to these binaries."""
    pg_config = bin_dir / "pg_config"
    if os.access(pg_config, os.X_OK):
        try:
            libdir = subprocess.run(
                [str(pg_config), "--pkglibdir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            libdir = ""
        if libdir:
            return Path(libdir, "pg_stat_statements.so").exists()
    debian_layout = bin_dir.parent / "lib" / "pg_stat_statements.so"
    return debian_layout.exists() or not (bin_dir.parent / "lib").is_dir()


def _uri(host: str, port: int, database: str, user: str, password: str | None, **params: str) -> str:
    auth = quote(user, safe="")
    if password is not None:
        auth += ":" + quote(password, safe="")
    netloc = quote(host, safe="") if host.startswith("/") else host  # a socket dir goes percent-encoded
    query = f"?{urlencode(params)}" if params else ""
    return f"postgresql://{auth}@{netloc}:{port}/{quote(database, safe='')}{query}"


class _Postgres:
    """What every test server offers: DSNs, superuser SQL, roles."""

    host: str
    port: int
    password: str
    """The superuser's password (a canary: it must never show up in anything a connector returns)."""
    superuser: str
    database: str
    _params: dict[str, str]

    def dsn(self, database: str | None = None, user: str | None = None, password: str | None = None) -> str:
        """A URI DSN, `postgresql://user:pw@127.0.0.1:PORT/db`; by default the superuser's on `app`."""
        if user is None:
            user = self.superuser
            password = self.password if password is None else password
        return _uri(self.host, self.port, database or self.database, user, password, **self._params)

    @property
    def superuser_dsn(self) -> str:
        """The superuser on the test database: `patchbay` on `app` for a server the suite starts."""
        return self.dsn()

    def connect(self, database: str | None = None, **kwargs: Any) -> psycopg.Connection[Any]:
        """A new autocommit psycopg connection as the superuser."""
        kwargs.setdefault("autocommit", True)
        kwargs.setdefault("connect_timeout", 10)
        return psycopg.connect(self.dsn(database), **kwargs)

    def execute(
        self, query: str | sql.Composable, params: Sequence[Any] | None = None, *, database: str | None = None
    ) -> list[tuple[Any, ...]]:
        """Run setup SQL as the superuser (autocommit; several statements allowed without params);
        return the rows of the last statement, [] if it returns none."""
        with self.connect(database) as conn, conn.cursor() as cur:
            cur.execute(query, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description is not None else []

    def create_role(
        self,
        name: str,
        password: str,
        *,
        superuser: bool = False,
        bypassrls: bool = False,
        login: bool = True,
        database: str | None = None,
    ) -> str:
        """Create (or re-set) a role and return its DSN on `database` (default `app`).

        The password is hashed client-side (SCRAM) and the connection is not tracked by
        pg_stat_statements (which would keep a `PASSWORD '...'` literal verbatim), so the
        password lands in no server view or log, and the statistics stay clean."""
        with self.connect(options=_UNTRACKED) as conn:
            verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone() is not None
            options = sql.SQL(" ").join(
                sql.SQL(word)
                for word in (
                    "LOGIN" if login else "NOLOGIN",
                    "SUPERUSER" if superuser else "NOSUPERUSER",
                    "BYPASSRLS" if bypassrls else "NOBYPASSRLS",
                )
            )
            verb = sql.SQL("ALTER ROLE" if exists else "CREATE ROLE")
            conn.execute(
                sql.SQL("{} {} WITH {} PASSWORD {}").format(verb, sql.Identifier(name), options, sql.Literal(verifier))
            )
        return self.dsn(database, user=name, password=password)

    def prepare(self, *, template: bool) -> None:
        """Create pg_stat_statements in the test database, and in template1 too (so every new database
        has it) if `template`; check it is preloaded; reset its statistics."""
        for database in ("template1", self.database) if template else (self.database,):
            self.execute("create extension if not exists pg_stat_statements", database=database)
        loaded = self.execute("select current_setting('shared_preload_libraries')")[0][0]
        if "pg_stat_statements" not in loaded:
            raise RuntimeError(
                f"pg_stat_statements is not in shared_preload_libraries ({loaded!r}) on {self.host}:{self.port}"
            )
        with self.connect(options=_UNTRACKED) as conn:
            conn.execute("select pg_stat_statements_reset()")

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the superuser can log in."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.connect(connect_timeout=2) as conn:
                    conn.execute("select 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


class ExternalPostgres(_Postgres):
    """A server the suite did not start, given by a DSN (URI or key=value) of a superuser.

    stop() never touches it. restart() calls `restart_hook` (e.g. `docker compose restart`)
    and waits until it answers again; without a hook it skips the test."""

    def __init__(self, dsn: str, *, restart_hook: Callable[[], None] | None = None, prepare: bool = True) -> None:
        """`prepare`: create pg_stat_statements in the DSN's database (not template1) and check it is loaded."""
        info = {key: str(value) for key, value in conninfo_to_dict(dsn).items()}
        self.host = info.pop("host", "127.0.0.1")
        self.port = int(info.pop("port", "5432"))
        self.superuser = info.pop("user", "") or pwd.getpwuid(os.getuid()).pw_name
        self.password = info.pop("password", "")
        self.database = info.pop("dbname", "") or self.superuser
        self._params = info
        self._restart_hook = restart_hook
        self.startup_seconds = 0.0
        if prepare:
            self.prepare(template=False)  # not someone else's template1

    def restart(self) -> None:
        if self._restart_hook is None:
            import pytest

            pytest.skip(
                "restart() needs a PostgreSQL the test suite started itself: PATCHBAY_TEST_POSTGRES_DSN "
                "points at an outside server. Unset it to let the suite start its own (local binaries or Docker)."
            )
        self._restart_hook()
        self.wait_ready()

    def stop(self) -> None:
        """Leave the outside server alone."""


_WATCHDOG = r"""
import json, os, shutil, signal, subprocess, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
sys.stdin.buffer.read()  # returns at EOF: the test process closed the pipe, or died
stop, data, tmp = json.loads(sys.argv[1])
if os.path.exists(os.path.join(data, "postmaster.pid")):
    subprocess.run(stop, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
shutil.rmtree(tmp, ignore_errors=True)
"""


class PostgresServer(_Postgres):
    """A PostgreSQL cluster of its own, in a temp dir, on a free 127.0.0.1 port. Starts at once."""

    def __init__(
        self,
        bin_dir: Path | str | None = None,
        *,
        port: int | None = None,
        password: str | None = None,
        database: str = DATABASE,
        settings: dict[str, str] | None = None,
    ) -> None:
        found = Path(bin_dir) if bin_dir else find_bin_dir()
        if found is None:
            raise FileNotFoundError(
                "no PostgreSQL server binaries (initdb, pg_ctl, postgres) in $PATCHBAY_POSTGRES_BIN, "
                "/usr/lib/postgresql/*/bin or on PATH: run tools/ensure-postgres.sh"
            )
        self.bin_dir = found
        self.host = "127.0.0.1"
        self.superuser = SUPERUSER
        self.database = database
        self.password = password or f"canary-pw-{os.urandom(12).hex()}"
        self._params = {}
        self._fixed_port = port
        self.port = port or free_port()
        self._extra_settings = dict(settings or {})
        self._run_as = self._system_user()
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._stopped = False
        self.timings: dict[str, float] = {}
        began = time.monotonic()
        self.tmp = self._make_tmp()
        self.data_dir = self.tmp / "data"
        self.socket_dir = self.tmp / "sock"
        self.log_path = self.tmp / "server.log"
        try:
            self._start_watchdog()
            self._initdb()
            self._start_first()
            began_setup = time.monotonic()
            self.execute(sql.SQL("create database {}").format(sql.Identifier(database)), database="postgres")
            self.prepare(template=True)
            self.timings["setup"] = time.monotonic() - began_setup
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began  # constructor start to a ready `app` database

    # -- lifecycle ---------------------------------------------------------------------------

    def restart(self) -> None:
        """Stop (`pg_ctl -m fast`) and start again: same port, same data dir, new server process."""
        began = time.monotonic()
        self._pg_ctl("stop", "-m", "fast")
        self._pg_ctl("start")
        self.timings["restart"] = time.monotonic() - began

    def down(self) -> None:
        """Stop the server process only (`pg_ctl -m fast`), keeping its data dir: `up()` starts it again."""
        self._pg_ctl("stop", "-m", "fast")

    def up(self) -> None:
        """Start the server again after `down()`: same port, same data."""
        self._pg_ctl("start")

    def stop(self) -> None:
        """Stop the server (`pg_ctl -m fast`) and remove its temp dir. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if (self.data_dir / "postmaster.pid").exists():
                try:
                    self._pg_ctl("stop", "-m", "fast", timeout=30)
                except (RuntimeError, subprocess.TimeoutExpired):
                    self._run(
                        [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate"], check=False
                    )
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if self._watchdog is not None:
                if self._watchdog.stdin is not None:
                    self._watchdog.stdin.close()
                try:
                    self._watchdog.wait(30)
                except subprocess.TimeoutExpired:
                    self._watchdog.kill()

    @property
    def pid(self) -> int | None:
        """The postmaster's process id, None when it is not running."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def log(self) -> str:
        """The server log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<PostgresServer 127.0.0.1:{self.port} {self.data_dir}>"  # no password

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _system_user() -> pwd.struct_passwd | None:
        """The account to run the server as: `postgres` when we are root, else None (ourselves)."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                "running as root, but there is no `postgres` system user to run PostgreSQL as "
                "(initdb refuses root): install postgresql (tools/ensure-postgres.sh) or run the tests as another user"
            ) from None

    def _make_tmp(self) -> Path:
        base = Path(tempfile.gettempdir())
        # The server's user must reach the dir, and the socket path must fit in sun_path (107 bytes).
        if (self._run_as is not None and not _world_traversable(base)) or len(str(base)) > 60:
            base = Path("/tmp")
        tmp = Path(tempfile.mkdtemp(prefix="patchbay-pg-", dir=base))
        (tmp / "sock").mkdir()
        if self._run_as is not None:
            for path in (tmp, tmp / "sock"):
                os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)
        return tmp

    def _env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        env.pop("LANG", None)
        return env

    def _run(self, argv: list[str], *, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        if self._run_as is not None:
            argv = ["runuser", "-u", self._run_as.pw_name, "--", *argv]
        done = subprocess.run(
            argv,
            cwd=self.tmp,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} exited with {done.returncode}:\n{done.stdout}{done.stderr}\n"
                f"--- server log ---\n{self.log()[-4000:]}"
            )
        return done

    def _pg_ctl(self, action: str, *args: str, timeout: float = 120) -> None:
        self._run(
            [
                str(self.bin_dir / "pg_ctl"),
                action,
                "-D",
                str(self.data_dir),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.log_path),
                *args,
            ],
            timeout=timeout,
        )

    def _start_watchdog(self) -> None:
        stop = [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate"]
        if self._run_as is not None:
            stop = ["runuser", "-u", self._run_as.pw_name, "--", *stop]
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, json.dumps([stop, str(self.data_dir), str(self.tmp)])],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to the test run's process group must not kill it first
            env=self._env(),
        )

    def _initdb(self) -> None:
        began = time.monotonic()
        pwfile = self.tmp / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self._run_as is not None:
            os.chown(pwfile, self._run_as.pw_uid, self._run_as.pw_gid)
        try:
            self._run(
                [
                    str(self.bin_dir / "initdb"),
                    "-D", str(self.data_dir),
                    "-U", self.superuser,
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        # Only the socket in our own 0700 dir trusts local users; TCP needs the password.
        (self.data_dir / "pg_hba.conf").write_text(
            "# written by pgserver.py\nlocal all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
        )
        self.timings["initdb"] = time.monotonic() - began

    def _write_settings(self) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "shared_preload_libraries": "'pg_stat_statements'",
            "pg_stat_statements.track": "all",
            "password_encryption": "'scram-sha-256'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "max_connections": "100",
            "logging_collector": "off",
            "log_line_prefix": "'%m [%p] %q%u@%d '",
            **self._extra_settings,
        }
        lines = [f"{key} = {value}" for key, value in settings.items()]
        (self.data_dir / "postgresql.patchbay.conf").write_text("# written by pgserver.py\n" + "\n".join(lines) + "\n")
        conf = self.data_dir / "postgresql.conf"
        text = conf.read_text()
        include = "include 'postgresql.patchbay.conf'\n"
        if include not in text:
            conf.write_text(text + "\n" + include)
        if self._run_as is not None:
            os.chown(self.data_dir / "postgresql.patchbay.conf", self._run_as.pw_uid, self._run_as.pw_gid)

    def _start_first(self) -> None:
        """Start on the chosen port; if another process took it meanwhile, try a new free one."""
        began = time.monotonic()
        for attempt in range(3):
            self._write_settings()
            try:
                self._pg_ctl("start")
                break
            except RuntimeError as error:
                port_taken = "could not bind" in str(error) or "Address already in use" in str(error)
                if self._fixed_port is not None or not port_taken or attempt == 2:
                    raise
                self.port = free_port()
        self.timings["start"] = time.monotonic() - began


def _world_traversable(path: Path) -> bool:
    """Whether every directory from / down to `path` lets other users through (o+x)."""
    for part in [path, *path.parents]:
        try:
            if not part.stat().st_mode & 0o001:
                return False
        except OSError:
            return False
    return True
