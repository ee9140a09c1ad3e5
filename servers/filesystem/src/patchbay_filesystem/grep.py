"""Matching a client's query against file contents with RE2, which runs in linear time.

Python's `re` backtracks: a pattern such as `(a+)+$` against a line of many `a`s
followed by a `b` takes exponential time, so one client's query could hold a worker
(and, before the work moved off the event loop, the whole server) for as long as it
liked. RE2 guarantees time linear in the input, and refuses the few features that
cannot be matched that way (backreferences, lookaround); the error says which.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

import re2  # type: ignore[import-untyped]

from patchbay import InvalidArgument, checkpoint


class Needle(Protocol):
    """A compiled query (an RE2 regular expression)."""

    def search(self, text: str) -> object | None:
        """A match somewhere in `text`, or None."""


_CHECK_EVERY_LINES = 4096

# RE2's parse error names the construct it refused (`invalid perl operator: (?=`); these
# are the ones someone used to Python's or PCRE's syntax meets.
_UNSUPPORTED = (
    (r"invalid escape sequence: \\[1-9k]|invalid perl operator: \(\?P=?$", "backreferences (\\1, (?P=name))"),
    (r"invalid perl operator: \(\?<?[=!]", "lookahead and lookbehind ((?=...), (?!...), (?<=...), (?<!...))"),
    (r"bad repetition operator: .\+", "possessive quantifiers (a++, a*+)"),
    (r"invalid escape sequence: \\Z", "\\Z (write \\z for the end of the text)"),
)


def compile_query(query: str, *, regex: bool, case_sensitive: bool) -> Needle:
    """The compiled query: a regular expression in RE2 syntax with `regex`, else literal text.

    Raises:
        InvalidArgument: the expression is not valid, or uses a feature RE2 does not have.
    """
    options = re2.Options()
    options.literal = not regex
    options.case_sensitive = case_sensitive
    options.log_errors = False  # the client gets the reason; nothing for the server's stderr
    try:
        needle: Needle = re2.compile(query, options)
    except re2.error as exc:
        raise InvalidArgument("query", _explain(exc)) from None
    except UnicodeEncodeError:
        raise InvalidArgument("query", "contains text that is not valid Unicode (a lone surrogate)") from None
    return needle


def _explain(exc: Exception) -> str:
    """Why RE2 refused a query, in the terms of someone used to Python's or PCRE's syntax."""
    detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
    for construct, feature in _UNSUPPORTED:
        if re.search(construct, detail):
            return (
                f"uses {feature}, which this server's regular-expression engine (RE2) does not support: "
                f"it matches in time linear in the text, so no query can stall the server ({detail})"
            )
    if "too large" in detail or "too big" in detail:
        return f"is too large for the regular-expression engine (RE2) to compile: {detail}; simplify it"
    return f"not a valid regular expression (RE2 syntax): {detail}"


def matching_lines(lines: list[str], needle: Needle, room: int) -> Iterator[int]:
    """Indexes of the lines `needle` matches, at most `room` of them; stops if the call is cancelled."""
    found = 0
    for number, line in enumerate(lines):
        if number % _CHECK_EVERY_LINES == 0:
            checkpoint()  # a file of many lines is searched in chunks a cancelled call can stop between
        if needle.search(line):
            yield number
            found += 1
            if found == room:
                return
