"""Fixtures of the reliability suite: each connector as a real subprocess serving Streamable HTTP.

- filesystem: a temp tree `root/` (the only allowed directory) next to `sentinel/` (outside it,
  with a symlink `root/escape -> ../sentinel` as bait); `sentinel/` must be byte-identical after
  every test that touches the server.
- postgres: the PostgreSQL of the postgres connector's own tests (servers/postgres/tests/conftest.py,
  loaded the way tests/interop/ does), a fresh database with the small known schema, a role
  `rel_reader` that may read every table but write none, and a table `sentinel` it may not even read.
  The connector runs read-only (no --allow-writes) as that role, pool of POOL_SIZE connections.

Every test module here carries the `reliability` marker (`pytest -m reliability` runs just this suite).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # so the tests can `from reliability_kit import ...`
REPO = HERE.parents[1]
POSTGRES_TESTS = REPO / "servers" / "postgres" / "tests"

from reliability_kit import POOL_SIZE  # noqa: E402

from patchbay.testing import RunningServer, http_server  # noqa: E402


def _load_postgres_fixtures() -> Any:
    """servers/postgres/tests/conftest.py as a module of its own, for its `postgres` fixture."""
    spec = importlib.util.spec_from_file_location("patchbay_postgres_rel_fixtures", POSTGRES_TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # it puts its folder on sys.path, so `dbs` imports too
    return module


postgres = _load_postgres_fixtures().postgres
"""A real PostgreSQL for the session (see servers/postgres/tests/conftest.py)."""


# filesystem -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fs_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<tmp>/root (served) and <tmp>/sentinel (outside, must never change)."""
    world = tmp_path_factory.mktemp("rel-fs")
    root = world / "root"
    for folder in ("docs", "sub/deep", "empty"):
        (root / folder).mkdir(parents=True)
    for number in range(20):
        (root / "docs" / f"note{number:02}.txt").write_text(f"note {number}\n" + "alpha beta gamma\n" * 40)
    (root / "docs" / "readme.md").write_text("# Title\n\nSome *text* with a needle in it.\n")
    (root / "sub" / "deep" / "data.json").write_text('{"k": [1, 2, 3]}\n')
    (root / "sub" / "blob.bin").write_bytes(bytes(range(256)) * 16)
    (root / "escape").symlink_to("../sentinel")
    sentinel = world / "sentinel"
    sentinel.mkdir()
    (sentinel / "secret.txt").write_text("do not touch\n")
    (sentinel / "nested").mkdir()
    (sentinel / "nested" / "keep.txt").write_text("nor this\n")
    return world


def fs_command(world: Path) -> list[str]:
    return [sys.executable, "-m", "patchbay_filesystem", "--client-roots", "ignore", str(world / "root")]


@pytest.fixture(scope="module")
def fs_server(fs_world: Path) -> Iterator[RunningServer]:
    """The filesystem connector, read-only, stateless HTTP."""
    with http_server(fs_command(fs_world), "--audit-log", str(fs_world / "audit.log")) as server:
        yield server


# postgres ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_db(postgres: Any) -> Iterator[str]:
    """A fresh database with the known schema, a sentinel table and the read-only role."""
    from dbs import fresh_database

    with fresh_database(postgres, "rel") as name:
        postgres.execute(
            """
            create table public.sentinel (id int primary key, note text);
            insert into public.sentinel select g, 'keep ' || g from generate_series(1, 20) g;
            create table public.readable_sentinel (id int primary key, note text);
            insert into public.readable_sentinel select g, 'keep ' || g from generate_series(1, 20) g;
            """,
            database=name,
        )
        yield name


@pytest.fixture(scope="module")
def pg_reader_dsn(postgres: Any, pg_db: str) -> str:
    """The DSN of `rel_reader`: select on every table but `sentinel`, no write anywhere."""
    dsn: str = postgres.create_role("rel_reader", "rel-reader-pw", database=pg_db)
    postgres.execute(
        """
        grant usage on schema public, reporting to rel_reader;
        grant select on all tables in schema public, reporting to rel_reader;
        revoke all on public.sentinel from rel_reader;
        revoke create on schema public from public;
        """,
        database=pg_db,
    )
    return dsn


def pg_env(dsn: str) -> dict[str, str]:
    return {"PATCHBAY_POSTGRES_DSN": dsn, "PATCHBAY_POSTGRES_POOL_MAX_SIZE": str(POOL_SIZE)}


PG_COMMAND = [sys.executable, "-m", "patchbay_postgres"]


@pytest.fixture(scope="module")
def pg_server(pg_reader_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The postgres connector, read-only, stateless HTTP, as `rel_reader`."""
    audit = tmp_path_factory.mktemp("rel-pg") / "audit.log"
    with http_server(PG_COMMAND, "--audit-log", str(audit), env=pg_env(pg_reader_dsn)) as server:
        yield server


@pytest.fixture(scope="module")
def pg_outside(postgres: Any, pg_db: str) -> Callable[[], list[tuple[Any, ...]]]:
    """What tells whether anything outside the connector's scope changed in PostgreSQL (see sentinel_state)."""
    return lambda: sentinel_state(postgres, pg_db)


def sentinel_state(postgres: Any, db: str) -> list[tuple[Any, ...]]:
    """Everything the fuzz must leave alone: both sentinel tables, the tables and roles that exist."""
    digest = "select md5(string_agg(id || ':' || note, ',' order by id)) from public.{}"
    return [
        *postgres.execute(digest.format("sentinel"), database=db),
        *postgres.execute(digest.format("readable_sentinel"), database=db),
        *postgres.execute(
            "select md5(string_agg(c.oid::regclass::text || c.relkind::text, ',' order by c.oid)) "
            "from pg_class c where c.relnamespace not in "
            "('pg_catalog'::regnamespace, 'information_schema'::regnamespace)",
            database=db,
        ),
        *postgres.execute("select md5(string_agg(rolname, ',' order by rolname)) from pg_roles"),
        *postgres.execute("select md5(string_agg(datname, ',' order by datname)) from pg_database"),
    ]
