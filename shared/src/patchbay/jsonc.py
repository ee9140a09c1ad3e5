"""Editing JSON and JSON-with-comments files as text, so everything else in them survives.

The parser is strict JSON that can allow comments and trailing commas, per dialect, and
remembers where every value is; the editor changes one member or element at a time in
the text itself (keeping indentation, line endings and comments) and re-parses after
each edit to check that the result means exactly what was intended.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NoReturn, Protocol


class Dialect(Protocol):
    """What a file's owner accepts: comments, trailing commas; and its name for messages."""

    @property
    def label(self) -> str: ...

    @property
    def comments(self) -> bool: ...

    @property
    def trailing_commas(self) -> bool: ...


class ConfigFileError(ValueError):
    """A config file that cannot be written, or a request that cannot be honoured (`hosts.HostConfigError`).

    The message is meant for the user: it names the file and, for a malformed file,
    `path:line:column` of the problem. Nothing has been written when it is raised.
    """

    def __init__(
        self, message: str, *, path: Path | None = None, line: int | None = None, column: int | None = None
    ) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.column = column


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values (so that True is not 1)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = _Missing()

_STRING_RE: Final = re.compile(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')
_NUMBER_RE: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_KIND_NAMES: Final = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "number": "a number",
    "true": "true",
    "false": "false",
    "null": "null",
}
_MAX_DEPTH: Final = 256


@dataclass
class _Node:
    kind: str
    start: int
    end: int
    value: Any
    items: list[_Item] = field(default_factory=list)


@dataclass
class _Item:
    start: int
    """Where the member's name (object) or the element (array) starts."""
    key: str | None
    node: _Node
    comma: int | None = None
    """Where the comma after it is, if any."""


def _location(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, column


def _syntax_error(path: Path, text: str, pos: int, message: str) -> ConfigFileError:
    line, column = _location(text, pos)
    return ConfigFileError(
        f"{path}:{line}:{column}: {message}. The file was left unchanged; fix it and run the command again.",
        path=path,
        line=line,
        column=column,
    )


class JsonParser:
    """A strict JSON parser that can allow comments and trailing commas, and remembers where everything is."""

    def __init__(self, text: str, path: Path, host: Dialect) -> None:
        self.text, self.path, self.host = text, path, host

    def parse(self) -> _Node | None:
        """The top-level value, or None when the text holds only whitespace and comments."""
        pos = self._skip(0)
        if pos == len(self.text):
            return None
        node = self._value(pos, 0)
        end = self._skip(node.end)
        if end != len(self.text):
            self._fail(end, "unexpected text after the end of the top-level value")
        return node

    def _fail(self, pos: int, message: str) -> NoReturn:
        raise _syntax_error(self.path, self.text, pos, message)

    def _skip(self, pos: int) -> int:
        """Skip whitespace and comments."""
        text, n = self.text, len(self.text)
        while pos < n:
            ch = text[pos]
            if ch in " \t\r\n":
                pos += 1
            elif text.startswith("//", pos) or text.startswith("/*", pos):
                if not self.host.comments:
                    self._fail(
                        pos,
                        f"a comment, but {self.host.label} reads this file as plain JSON, which has no comments; "
                        "remove it",
                    )
                if text[pos + 1] == "/":
                    newline = text.find("\n", pos)
                    pos = n if newline < 0 else newline
                else:
                    close = text.find("*/", pos + 2)
                    if close < 0:
                        self._fail(pos, "a /* comment that is never closed")
                    pos = close + 2
            else:
                break
        return pos

    def _describe(self, pos: int) -> str:
        if pos >= len(self.text):
            return "end of file"
        return repr(self.text[pos])

    def _value(self, pos: int, depth: int) -> _Node:
        text = self.text
        if depth > _MAX_DEPTH:
            self._fail(pos, "values nested too deeply")
        if pos >= len(text):
            self._fail(pos, "unexpected end of file where a value should be")
        ch = text[pos]
        if ch == "{":
            return self._container(pos, depth, "object")
        if ch == "[":
            return self._container(pos, depth, "array")
        if ch == '"':
            match = _STRING_RE.match(text, pos)
            if match is None:
                self._fail(pos, "a string that is not closed on its line or holds an invalid escape")
            return _Node("string", pos, match.end(), json.loads(match.group()))
        match = _NUMBER_RE.match(text, pos)
        if match is not None:
            return _Node("number", pos, match.end(), json.loads(match.group()))
        for word, value in (("true", True), ("false", False), ("null", None)):
            if text.startswith(word, pos):
                return _Node(word, pos, pos + len(word), value)
        self._fail(pos, f"unexpected {self._describe(pos)} where a value should be")

    def _container(self, start: int, depth: int, kind: str) -> _Node:
        text, n = self.text, len(self.text)
        close = "}" if kind == "object" else "]"
        node = _Node(kind, start, start, {} if kind == "object" else [])
        pos = self._skip(start + 1)
        while True:
            if pos >= n:
                line, column = _location(text, start)
                self._fail(pos, f"unexpected end of file: the {kind} opened at {line}:{column} is never closed")
            last = node.items[-1] if node.items else None
            if text[pos] == close:
                if last is not None and last.comma is not None and not self.host.trailing_commas:
                    self._fail(
                        last.comma,
                        f"a trailing comma, which {self.host.label} does not accept (plain JSON); remove it",
                    )
                node.end = pos + 1
                return node
            if last is not None and last.comma is None:
                self._fail(pos, f"expected ',' or '{close}' but found {self._describe(pos)}")
            item_start = pos
            key: str | None = None
            if kind == "object":
                if text[pos] != '"':
                    self._fail(pos, f"expected a member name in double quotes but found {self._describe(pos)}")
                name = self._value(pos, depth + 1)
                key = name.value
                pos = self._skip(name.end)
                if pos >= n or text[pos] != ":":
                    self._fail(pos, f"expected ':' after the member name but found {self._describe(pos)}")
                pos = self._skip(pos + 1)
            value = self._value(pos, depth + 1)
            item = _Item(item_start, key, value)
            node.items.append(item)
            if key is not None:
                node.value[key] = value.value
            else:
                node.value.append(value.value)
            pos = self._skip(value.end)
            if pos < n and text[pos] == ",":
                item.comma = pos
                pos = self._skip(pos + 1)


def start_of_line(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _line_indent(text: str, pos: int) -> str:
    start = start_of_line(text, pos)
    end = start
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[start:end]


def _indent_unit(text: str, root: _Node) -> str:
    """The indentation step the file uses (2 spaces when it shows none)."""
    pending = [root]
    while pending:
        node = pending.pop(0)
        for item in node.items:
            line_start = start_of_line(text, item.start)
            if text[line_start : item.start].strip(" \t") == "" and line_start > node.start:
                outer = _line_indent(text, node.start)
                inner = text[line_start : item.start]
                if inner.startswith(outer) and len(inner) > len(outer):
                    return inner[len(outer) :]
            pending.append(item.node)
    return "  "


class JsonEditor:
    """Edits a JSON(C) document as text, one member or element at a time.

    After every edit the text is parsed again, and `finish` checks that the result
    means exactly what the same edits do to the parsed value (`model`).
    """

    def __init__(self, text: str, path: Path, host: Dialect) -> None:
        self.text, self.path, self.host = text, path, host
        self.root = self._parse()
        self.model: dict[str, Any] = copy.deepcopy(self.root.value)
        self.eol = "\r\n" if "\r\n" in text else "\n"
        self.unit = _indent_unit(text, self.root)
        self.multiline = "\n" in text.strip()
        self.separators = (", ", ": ") if re.search(r"[,:] ", text) or self.multiline else (",", ":")

    @classmethod
    def open(cls, before: str | None, path: Path, host: Dialect) -> JsonEditor:
        """An editor for the file's text; a missing or empty file starts as an empty object."""
        if before is None or not before.strip():
            eol = "\r\n" if before and "\r\n" in before else "\n"
            return cls("{" + eol + "}" + eol, path, host)
        if JsonParser(before, path, host).parse() is None:  # only comments: keep them, add the object below
            eol = "\r\n" if "\r\n" in before else "\n"
            text = before if before.endswith("\n") else before + eol
            return cls(text + "{" + eol + "}" + eol, path, host)
        return cls(before, path, host)

    def _parse(self) -> _Node:
        root = JsonParser(self.text, self.path, self.host).parse()
        if root is None or root.kind != "object":
            pos = root.start if root else 0
            self._fail(pos, "the top level should be a JSON object ({ ... })")
        return root

    def _fail(self, pos: int, message: str) -> NoReturn:
        raise _syntax_error(self.path, self.text, pos, message)

    def fail_at(self, path: Sequence[str], message: str) -> NoReturn:
        _, node = self._walk(path)
        self._fail(node.start, message)

    # -- reading

    def get(self, path: Sequence[str]) -> Any:
        """The value at `path`, or MISSING."""
        chain, node = self._walk(path)
        return node.value if len(chain) == len(path) else MISSING

    def _walk(self, path: Sequence[str]) -> tuple[list[_Item], _Node]:
        """The members along `path` as far as they exist, and the deepest node reached."""
        node = self.root
        chain: list[_Item] = []
        for depth, key in enumerate(path):
            if node.kind != "object":
                where = " > ".join(json.dumps(k) for k in path[:depth])
                self._fail(node.start, f"{where} should be an object but is {_KIND_NAMES[node.kind]}")
            matches = [item for item in node.items if item.key == key]
            if len(matches) > 1:
                line, column = _location(self.text, matches[0].start)
                self._fail(matches[1].start, f"{json.dumps(key)} appears twice (also at {line}:{column})")
            if not matches:
                break
            chain.append(matches[0])
            node = matches[0].node
        return chain, node

    # -- editing

    def set(self, path: Sequence[str], value: Any) -> None:
        """Set the member at `path`, creating missing objects on the way."""
        chain, node = self._walk(path)
        if len(chain) == len(path):
            parent = chain[-2].node if len(chain) > 1 else self.root
            self._replace(parent, chain[-1], value)
        else:
            nested = value
            for key in reversed(path[len(chain) + 1 :]):
                nested = {key: nested}
            self._insert(node, path[len(chain)], nested)
        target = self.model
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = copy.deepcopy(value)

    def append(self, path: Sequence[str], value: Any) -> None:
        """Append `value` to the array at `path` (created when missing)."""
        if self.get(path) is MISSING:
            self.set(path, [value])
            return
        _, node = self._walk(path)
        if node.kind != "array":
            self._fail(node.start, f"{json.dumps(path[-1])} should be an array but is {_KIND_NAMES[node.kind]}")
        self._insert(node, None, value)
        self._model_parent(path)[path[-1]].append(copy.deepcopy(value))

    def delete(self, path: Sequence[str]) -> None:
        """Remove the member at `path` (which must exist)."""
        chain, _ = self._walk(path)
        parent = chain[-2].node if len(chain) > 1 else self.root
        index = next(i for i, item in enumerate(parent.items) if item is chain[-1])
        self._remove(parent, index, path[:-1])
        del self._model_parent(path)[path[-1]]

    def delete_index(self, path: Sequence[str], index: int) -> None:
        """Remove element `index` of the array at `path`."""
        _, node = self._walk(path)
        self._remove(node, index, path)
        del self._model_parent(path)[path[-1]][index]

    def _model_parent(self, path: Sequence[str]) -> Any:
        target: Any = self.model
        for key in path[:-1]:
            target = target[key]
        return target

    def finish(self) -> str:
        """The edited text, once checked to mean what the edits meant."""
        if not same(self._parse().value, self.model):  # pragma: no cover - a bug in this module
            raise ConfigFileError(f"Internal error while editing {self.path}; nothing was written.", path=self.path)
        return self.text

    def _apply(self, edits: list[tuple[int, int, str]]) -> None:
        # Right to left, so that earlier offsets stay valid; at one offset the earlier edit ends up first.
        order = sorted(range(len(edits)), key=lambda i: (edits[i][0], i), reverse=True)
        for start, end, new in (edits[i] for i in order):
            self.text = self.text[:start] + new + self.text[end:]
        self.root = self._parse()

    def _dump(self, value: Any, indent: str | None) -> str:
        if indent is None:
            return json.dumps(value, ensure_ascii=False, separators=self.separators)
        return json.dumps(value, ensure_ascii=False, indent=self.unit).replace("\n", self.eol + indent)

    def _member_text(self, key: str | None, body: str) -> str:
        if key is None:
            return body
        return json.dumps(key, ensure_ascii=False) + self.separators[1] + body

    def _item_indent(self, container: _Node) -> str:
        text = self.text
        if container.items:
            last = container.items[-1]
            prefix = text[start_of_line(text, last.start) : last.start]
            if prefix.strip(" \t") == "":
                return prefix
        return _line_indent(text, container.start) + self.unit

    def _insert(self, container: _Node, key: str | None, value: Any) -> None:
        """Add a member (or, for an array, an element) after the container's last one."""
        text, items = self.text, container.items
        close = container.end - 1
        at = close  # just after the last thing (value, comma or comment) before the closing bracket
        while at > container.start + 1 and text[at - 1] in " \t\r\n":
            at -= 1
        multiline = "\n" in text[container.start : container.end] if items else self.multiline
        trailing_comma = bool(items) and items[-1].comma is not None
        if multiline:
            indent = self._item_indent(container)
            piece = self.eol + indent + self._member_text(key, self._dump(value, indent))
            if trailing_comma:
                piece += ","
            if not items and "\n" not in text[at:close]:
                piece += self.eol + _line_indent(text, container.start)
        else:
            piece = self._member_text(key, self._dump(value, None))
            if items:
                piece = self.separators[0].lstrip(",") + piece + ("," if trailing_comma else "")
        edits = [(items[-1].node.end, items[-1].node.end, ",")] if items and not trailing_comma else []
        edits.append((at, at, piece))
        self._apply(edits)

    def _replace(self, parent: _Node, item: _Item, value: Any) -> None:
        text = self.text
        multiline = "\n" in text[parent.start : parent.end]
        body = self._dump(value, _line_indent(text, item.start) if multiline else None)
        self._apply([(item.node.start, item.node.end, body)])

    def _remove(self, container: _Node, index: int, container_path: Sequence[str]) -> None:
        text, items = self.text, container.items
        item = items[index]
        end = item.comma + 1 if item.comma is not None else item.node.end
        tail = end
        while tail < len(text) and text[tail] in " \t":
            tail += 1
        if text.startswith("//", tail):  # a comment on the entry's last line goes with it
            newline = text.find("\n", tail)
            tail = len(text) if newline < 0 else newline
        line_start = start_of_line(text, item.start)
        own_lines = text[line_start : item.start].strip(" \t") == "" and (tail == len(text) or text[tail] in "\r\n")
        previous = items[index - 1] if index > 0 else None
        edits: list[tuple[int, int, str]] = []
        if own_lines:
            newline = text.find("\n", tail)
            edits.append((line_start, len(text) if newline < 0 else newline + 1, ""))
            if item.comma is None and previous is not None and previous.comma is not None:
                edits.append((previous.comma, previous.comma + 1, ""))
        elif item.comma is not None:
            after = item.comma + 1
            while after < len(text) and text[after] in " \t":
                after += 1
            edits.append((item.start, after, ""))
        elif previous is not None and previous.comma is not None:
            edits.append((previous.comma, item.node.end, ""))
        else:
            edits.append((item.start, item.node.end, ""))
        self._apply(edits)
        # An object or array left with only whitespace inside becomes {} or [].
        chain, node = self._walk(container_path)
        if len(chain) == len(container_path) and not node.items:
            inside = self.text[node.start + 1 : node.end - 1]
            if inside and not inside.strip(" \t\r\n"):
                self._apply([(node.start + 1, node.end - 1, "")])
