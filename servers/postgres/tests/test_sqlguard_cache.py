"""The parser check remembers the queries it accepted (every page of a result asks again):
bounded, and never a refusal."""

import pytest

from patchbay_postgres import sqlguard


def test_a_refused_query_is_refused_every_time() -> None:
    for _ in range(3):
        with pytest.raises(sqlguard.Rejected, match="forbidden-function"):
            sqlguard.check_query("select pg_read_file('/etc/passwd')")
    assert "select pg_read_file('/etc/passwd')" not in sqlguard._ACCEPTED


def test_an_accepted_query_is_remembered_within_bounds() -> None:
    for n in range(sqlguard._ACCEPTED_MAX + 50):
        sqlguard.check_query(f"select {n} as n")
        sqlguard.check_query(f"select {n} as n")  # the second time from memory
    assert len(sqlguard._ACCEPTED) == sqlguard._ACCEPTED_MAX
    assert "select 0 as n" not in sqlguard._ACCEPTED  # the oldest went first
    long = "select 1 as one" + " " * sqlguard._ACCEPTED_CHARS
    sqlguard.check_query(long)
    assert long not in sqlguard._ACCEPTED
