"""The Drive v3 query language (`q`), parsed the way Drive parses it, for the fake.

Strings are single-quoted with `\\'` and `\\\\` escapes; terms are joined with `and`,
`or`, `not` and parentheses. An unterminated string or an unknown operator is a 400
`Invalid Value` in Drive, and here: so a query the connector builds wrongly (an
unescaped quote) either fails or matches what the injected text asked for, and the
tests see which.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]


class QueryError(ValueError):
    """The query does not parse (Drive answers 400 invalidQuery)."""


@dataclass
class _Token:
    kind: str  # "str" | "word" | "op" | "(" | ")"
    value: str


_OPS = ("!=", "<=", ">=", "=", "<", ">")


def tokens(text: str) -> list[_Token]:
    """The tokens of `text`."""
    found: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "'":
            value, i = _string(text, i + 1)
            found.append(_Token("str", value))
        elif char in "()":
            found.append(_Token(char, char))
            i += 1
        elif any(text.startswith(op, i) for op in _OPS):
            op = next(op for op in _OPS if text.startswith(op, i))
            found.append(_Token("op", op))
            i += len(op)
        else:
            match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[i:])
            if match is None:
                raise QueryError(f"unexpected character {char!r} at {i}")
            found.append(_Token("word", match.group()))
            i += match.end()
    return found


def _string(text: str, i: int) -> tuple[str, int]:
    out = []
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text):
                raise QueryError("a backslash ends the query")
            out.append(text[i + 1])
            i += 2
        elif char == "'":
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise QueryError("unterminated string")


class _Parser:
    def __init__(self, items: list[_Token], fields: Callable[[dict[str, Any], str], Any]) -> None:
        self.items = items
        self.at = 0
        self.field = fields

    def peek(self) -> _Token | None:
        return self.items[self.at] if self.at < len(self.items) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise QueryError("the query ends too early")
        self.at += 1
        return token

    def word(self, value: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.value == value:
            self.at += 1
            return True
        return False

    def parse(self) -> Predicate:
        predicate = self.either()
        if self.peek() is not None:
            raise QueryError(f"unexpected {self.peek()!r}")
        return predicate

    def either(self) -> Predicate:
        parts = [self.both()]
        while self.word("or"):
            parts.append(self.both())
        return parts[0] if len(parts) == 1 else (lambda f: any(p(f) for p in parts))

    def both(self) -> Predicate:
        parts = [self.unary()]
        while self.word("and"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda f: all(p(f) for p in parts))

    def unary(self) -> Predicate:
        if self.word("not"):
            inner = self.unary()
            return lambda f: not inner(f)
        token = self.peek()
        if token is not None and token.kind == "(":
            self.take()
            inner = self.either()
            if self.take().kind != ")":
                raise QueryError("missing )")
            return inner
        return self.term()

    def term(self) -> Predicate:
        first = self.take()
        if first.kind == "str":  # 'value' in parents|owners|writers|readers
            if not self.word("in"):
                raise QueryError("expected 'in' after a string")
            collection = self.take()
            if collection.kind != "word" or collection.value not in ("parents", "owners", "writers", "readers"):
                raise QueryError("unknown collection")
            value = first.value
            return lambda f: value in (self.field(f, collection.value) or [])
        if first.kind != "word":
            raise QueryError(f"unexpected {first.value!r}")
        name = first.value
        op_token = self.take()
        op = op_token.value
        if op_token.kind == "word" and op == "contains":
            value = self.take()
            if value.kind != "str":
                raise QueryError("contains takes a string")
            needle = value.value.casefold()
            return lambda f: needle in str(self.field(f, name) or "").casefold()
        if op_token.kind != "op":
            raise QueryError(f"unknown operator {op!r}")
        value = self.take()
        if value.kind == "word" and value.value in ("true", "false"):
            wanted: Any = value.value == "true"
        elif value.kind == "str":
            wanted = value.value
        else:
            raise QueryError("expected a value")
        return _compare(lambda f: self.field(f, name), op, wanted)


def _compare(get: Callable[[dict[str, Any]], Any], op: str, wanted: Any) -> Predicate:
    def check(item: dict[str, Any]) -> bool:
        value = get(item)
        if value is None:
            return op == "!="
        if op == "=":
            return bool(value == wanted)
        if op == "!=":
            return bool(value != wanted)
        if op == "<":
            return bool(value < wanted)
        if op == "<=":
            return bool(value <= wanted)
        if op == ">":
            return bool(value > wanted)
        return bool(value >= wanted)

    return check


def compile_query(text: str, fields: Callable[[dict[str, Any], str], Any]) -> Predicate:
    """A predicate over files for the query `text`; `fields(file, name)` gives a field's value.

    Raises:
        QueryError: the query does not parse.
    """
    return _Parser(tokens(text), fields).parse()
