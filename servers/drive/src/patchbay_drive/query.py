"""Drive queries built from structured arguments: text never becomes query syntax.

Every value is written as a Drive string literal with `\\` and `'` escaped, so a name
like `x' or name contains '` stays one name. Fields and operators come from fixed
lists; a raw clause is only ever assembled from a `Filter` (field, operator, value).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from patchbay.errors import InvalidArgument

TextField = Literal["name", "fullText", "mimeType"]
TimeField = Literal["modifiedTime", "createdTime", "viewedByMeTime"]
FlagField = Literal["starred", "trashed", "sharedWithMe"]
PeopleField = Literal["owners", "writers", "readers", "parents"]


class Filter(BaseModel):
    """One clause of a Drive query, e.g. {field: "mimeType", op: "!=", value: "application/pdf"}."""

    field: TextField | TimeField | FlagField | PeopleField = Field(description="The field to test.")
    op: Literal["=", "!=", "contains", "<", "<=", ">", ">=", "in"] = Field(
        description="contains: name/fullText/mimeType; in: value is in owners/writers/readers/parents; "
        "< > on times; = != on anything."
    )
    value: str | bool = Field(description="Text, an RFC 3339 time, an email or id, or true/false for flags.")


def literal(value: str) -> str:
    """`value` as a Drive string literal: quoted, with backslashes and quotes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def clause(item: Filter, argument: str = "filters") -> str:
    """One `Filter` as query text.

    Raises:
        InvalidArgument: the operator does not apply to the field, or the value is of the wrong kind.
    """
    field, op, value = item.field, item.op, item.value
    flags = ("starred", "trashed", "sharedWithMe")
    times = ("modifiedTime", "createdTime", "viewedByMeTime")
    people = ("owners", "writers", "readers", "parents")
    if field in flags:
        if op not in ("=", "!=") or not isinstance(value, bool):
            raise InvalidArgument(argument, f"{field} takes = or != with true or false")
        return f"{field} {op} {'true' if value else 'false'}"
    if not isinstance(value, str):
        raise InvalidArgument(argument, f"{field} takes a text value, not {value!r}")
    if field in people:
        if op != "in":
            raise InvalidArgument(argument, f"{field} takes the operator 'in' (the value is in {field})")
        return f"{literal(value)} in {field}"
    if op == "in":
        raise InvalidArgument(argument, f"'in' applies to owners, writers, readers and parents, not {field}")
    if field in times:
        if op == "contains":
            raise InvalidArgument(argument, f"{field} is compared with = != < <= > >=")
        return f"{field} {op} {literal(rfc3339(value, argument))}"
    if op not in ("contains", "=", "!="):
        raise InvalidArgument(argument, f"{field} takes contains, = or !=")
    if field == "fullText" and op != "contains":
        raise InvalidArgument(argument, "fullText takes contains")
    return f"{field} {op} {literal(value)}"


def rfc3339(value: str, argument: str) -> str:
    """A time as Drive wants it (UTC, RFC 3339).

    Raises:
        InvalidArgument: not a date or time.
    """
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(argument, f"{value[:60]!r} is not an ISO 8601 date or time") from None
    if when.tzinfo is None:
        return when.strftime("%Y-%m-%dT%H:%M:%S")
    return when.isoformat()


def build(filters: Iterable[Filter], *, include_trashed: bool = False) -> str:
    """The whole query: every clause joined with `and`, trashed files left out unless asked for."""
    clauses = [clause(item) for item in filters]
    if not include_trashed:
        clauses.append("trashed = false")
    return " and ".join(clauses)
