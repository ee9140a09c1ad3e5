"""The text block a tool result shows the model: compact and readable, not the JSON again.

Most hosts put a tool result's *text* before the model and hand `structuredContent` to
code, if to anything. So the base sends the full data as `structuredContent` and, as
text, a compact rendering with only what a model needs: lines or an aligned table,
sizes as `1.2K`, times as `2024-05-01 12:30`.

A result model chooses its text by defining `model_text(self) -> str`; an item model
of a `Page` may define `model_text_items(cls, items) -> str` (a classmethod) to render
a page of itself as one table. Models without either get `compact(data)`, a generic
rendering of their JSON data. The setting `result_text = "json"` (`--result-text json`)
sends the structured data as compact JSON text instead, for clients that parse it.

    class Entry(BaseModel):
        name: str
        size: int

        @classmethod
        def model_text_items(cls, items: Sequence[Entry]) -> str:
            return table([(e.name, short_size(e.size)) for e in items], right={1})
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

import pydantic_core
from pydantic import BaseModel

ResultText = Literal["compact", "json"]


@runtime_checkable
class ModelText(Protocol):
    """A result model that renders its own text for the model."""

    def model_text(self) -> str: ...


def text_of(result: BaseModel, data: Any, mode: ResultText = "compact") -> str:
    """The text block for `result`, whose JSON data (as sent in structuredContent) is `data`."""
    if mode == "json":
        return pydantic_core.to_json(data).decode()
    own = getattr(type(result), "model_text", None)  # not isinstance(ModelText): slow on every call
    if own is not None:
        return str(own(result))
    return compact(data)


def items_text(items: Sequence[Any], *, empty: str = "(none)") -> str:
    """A list of items as text: the item class's `model_text_items`, each item's `model_text`,
    or a generic table."""
    if not items:
        return empty
    first = items[0]
    together: Callable[[Sequence[Any]], str] | None = getattr(type(first), "model_text_items", None)
    if together is not None:
        return together(items)
    if isinstance(first, ModelText):
        return "\n".join(item.model_text() for item in items)
    return compact(
        [item.model_dump(mode="json", by_alias=True) if isinstance(item, BaseModel) else item for item in items]
    )


def more(next_cursor: str | None) -> str:
    """The line that tells the model how to get the next page; empty on the last page."""
    return f"\nMore: pass cursor={next_cursor}" if next_cursor else ""


# Formatting helpers -------------------------------------------------------------------


def short_size(n: int | None) -> str:
    """A byte count in 4 characters or fewer where possible: 512, 1.2K, 34K, 5.6M, 7.8G."""
    if n is None:
        return "-"
    if n < 1024:
        return str(n)
    value = float(n)
    for unit in "KMGTP":
        value /= 1024
        if value < 10:
            return f"{value:.1f}{unit}"
        if value < 1024 or unit == "P":
            return f"{value:.0f}{unit}"
    return str(n)  # pragma: no cover - the loop always returns


def short_time(value: str | float | datetime | None) -> str:
    """A time to the minute, in UTC: `2024-05-01 12:30` (from an ISO string, a timestamp or a datetime)."""
    if value is None:
        return "-"
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M")


def cell(value: Any) -> str:
    """One value as a table shows it: null as '-', booleans as yes/no, text on one line."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return value.replace("\n", "\\n").replace("\t", "\\t")
    if isinstance(value, list | dict):
        return pydantic_core.to_json(value).decode()
    return str(value)


def table(
    rows: Iterable[Sequence[Any]],
    header: Sequence[str] | None = None,
    *,
    right: Iterable[int] = (),
    gap: str = "  ",
) -> str:
    """An aligned table: columns padded to their widest cell, `right` ones right-aligned.

    Trailing spaces are never written; a column whose cells are all empty takes no room.
    """
    cells = [[cell(value) for value in row] for row in rows]
    if header is not None:
        cells.insert(0, list(header))
    if not cells:
        return ""
    columns = max(len(row) for row in cells)
    widths = [max((len(row[i]) for row in cells if i < len(row)), default=0) for i in range(columns)]
    right_aligned = set(right)
    lines = []
    for row in cells:
        parts = []
        for i, width in enumerate(widths):
            if width == 0:
                continue
            text = row[i] if i < len(row) else ""
            parts.append(text.rjust(width) if i in right_aligned else text.ljust(width))
        lines.append(gap.join(parts).rstrip())
    return "\n".join(lines)


def fields(pairs: Iterable[tuple[str, Any]]) -> str:
    """`name: value` lines, leaving out values that are None."""
    return "\n".join(f"{name}: {cell(value)}" for name, value in pairs if value is not None)


# The generic rendering -------------------------------------------------------------------


def compact(data: Any, indent: str = "") -> str:
    """A readable rendering of JSON data for a model that has no `model_text` of its own.

    Objects become `key: value` lines (nulls left out), lists of flat objects an aligned
    table, lists of scalars one per line, nested values indented below their key.
    """
    if isinstance(data, Mapping):
        lines = []
        for key, value in data.items():
            if value is None or value == [] or value == {}:
                continue
            if _is_scalar(value):
                lines.append(f"{indent}{key}: {cell(value)}")
            else:
                lines.append(f"{indent}{key}:")
                lines.append(compact(value, indent + "  "))
        return "\n".join(lines)
    if isinstance(data, list):
        if data and all(isinstance(item, Mapping) and all(_is_scalar(v) for v in item.values()) for item in data):
            header = list(dict.fromkeys(key for item in data for key in item))
            rows = [[item.get(key) for key in header] for item in data]
            numeric = {i for i, key in enumerate(header) if all(_is_number(row[i]) for row in rows)}
            return _indented(table(rows, header, right=numeric), indent)
        if all(_is_scalar(item) for item in data):
            return "\n".join(f"{indent}{cell(item)}" for item in data)
        return "\n".join(f"{indent}- {compact(item, indent + '  ').lstrip()}" for item in data)
    return f"{indent}{cell(data)}"


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, Mapping | list)


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _indented(text: str, indent: str) -> str:
    return "\n".join(indent + line for line in text.splitlines()) if indent else text
