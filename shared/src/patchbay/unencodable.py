"""Text that cannot travel: lone surrogates and NUL characters, in arguments and in results.

JSON may escape a lone surrogate (`"\\ud800"`), and Python's `json` accepts it, but no
UTF-8 encoder does: a path, a query or an encoding name holding one fails deep inside
the OS, a driver or the SDK's own serialiser (over stdio the SDK's strict parser even
dropped such a request without an answer). A NUL character ends a C string: the OS and
PostgreSQL refuse it or, worse, silently cut the text there. `check_arguments` refuses
both in any string argument, at any depth, before a tool runs, naming the argument and
never echoing the value. `scrub` is the other direction: a result that holds a lone
surrogate (a file name that is not UTF-8, decoded with `surrogateescape`) gets it as a
visible escape (`\\xff` for an undecodable byte, `\\ud800` otherwise) instead of failing
to serialise.
"""

from __future__ import annotations

import re
from typing import Any

from patchbay.errors import InvalidArgument

_SURROGATE = re.compile("[\ud800-\udfff]")


def problem_of(text: str) -> str | None:
    """Why `text` cannot be passed on, or None when it can."""
    if _SURROGATE.search(text):
        return "is not valid Unicode text (it holds a lone surrogate, U+D800..U+DFFF); send UTF-8 text"
    if "\x00" in text:
        return "contains a NUL byte (U+0000), which no file name, encoding or query can hold"
    return None


def check_arguments(arguments: dict[str, Any]) -> None:
    """Refuse a string argument (at any depth) holding a lone surrogate or a NUL.

    Raises:
        InvalidArgument: naming the argument (`edits[0].old_text` for a nested one) and the problem.
    """
    for name, value in arguments.items():
        if problem_of(name) is not None:
            raise InvalidArgument("arguments", "an argument name is not valid Unicode text or holds a NUL")
        _check(value, name)


def _check(value: Any, where: str) -> None:
    if isinstance(value, str):
        problem = problem_of(value)
        if problem is not None:
            raise InvalidArgument(where, problem)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, f"{where}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and problem_of(key) is not None:
                raise InvalidArgument(where, "holds a key that is not valid Unicode text or holds a NUL")
            _check(item, f"{where}.{key}")


def escape(text: str) -> str:
    """`text` with each lone surrogate as a visible escape: `\\xff` for a byte that `surrogateescape`
    kept (U+DC80..U+DCFF), `\\ud800` for any other. Text without one comes back as it is."""
    if not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def scrub(value: Any) -> Any:
    """A JSON-like value whose strings (keys too) hold no lone surrogate (see `escape`)."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value
