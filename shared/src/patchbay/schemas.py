"""Tool schemas as clients validate them fastest.

Pydantic writes nested models as `$defs` plus `$ref`. Every client that validates a
structured result against the tool's `outputSchema` pays for resolving each `$ref`
once per item (the Python SDK's jsonschema, per list element); inlining the
definitions removes that cost without changing what the schema accepts. Recursive
definitions (a tree node that holds tree nodes) are left as references.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

_PREFIX = "#/$defs/"


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every non-recursive `$defs` reference replaced by the definition itself."""
    definitions: dict[str, Any] = schema.get("$defs", {})
    if not definitions:
        return schema
    kept: set[str] = set()

    def expand(node: Any, trail: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [expand(item, trail) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_PREFIX) and len(node) == 1:
            name = ref[len(_PREFIX) :]
            if name in trail or name not in definitions:
                kept.add(name)
                return node
            return expand(definitions[name], (*trail, name))
        return {key: expand(value, trail) for key, value in node.items() if key != "$defs"}

    inlined: dict[str, Any] = expand(schema, ())
    if kept:
        # Recursive definitions stay referenced; keep them (and whatever they use) available.
        inlined["$defs"] = {name: expand(definitions[name], (name,)) for name in sorted(_closure(kept, definitions))}
    return inlined


def lean_output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """An output schema as clients validate it fast and the model reads it short: references
    inlined (`inline_refs`), no titles (pydantic names each property after itself), and null
    first among the options of an optional field (`_null_first`).

    Optional fields keep pydantic's `anyOf` with null, although a `type` list would cost a
    checker half as much: MCP Inspector's strict schema check warns about type lists
    (`type-union`), as some hosts' function-calling schemas refuse them.
    """
    return cast(dict[str, Any], _untitled(inline_refs(schema), then=_null_first))


def _null_first(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with `{"type": "null"}` first in its `anyOf`: the same schema, but a checker that
    tries the options in order (the Python SDK's jsonschema) stops at the first for the usual
    null (a last page's `next_cursor`), instead of building an error for the other first:
    25 against 35 µs a check of a query result."""
    options = schema.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options[1:]:
        return {**schema, "anyOf": [{"type": "null"}, *(option for option in options if option != {"type": "null"})]}
    return schema


def _untitled(node: Any, key: str | None = None, then: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    """`node` with every schema's title dropped, each schema passed through `then` after its parts."""
    if isinstance(node, list):
        return [_untitled(item, None, then) for item in node]
    if not isinstance(node, dict):
        return node
    if key in ("properties", "$defs"):  # maps of names to schemas: a property may be called "title"
        return {name: _untitled(value, None, then) for name, value in node.items()}
    out = {k: _untitled(v, k, then) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
    return then(out) if then is not None else out


def _closure(names: set[str], definitions: dict[str, Any]) -> set[str]:
    """`names` and every definition they reference, directly or not."""
    found = set(names)
    pending = list(names)
    while pending:
        for ref in _refs(definitions.get(pending.pop(), {})):
            if ref not in found:
                found.add(ref)
                pending.append(ref)
    return found


def _refs(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    own = {node["$ref"][len(_PREFIX) :]} if isinstance(node.get("$ref"), str) else set()
    return own.union(*(_refs(value) for value in node.values())) if node else own


def compact_input_schema(schema: dict[str, Any], *, closed: bool = False) -> dict[str, Any]:
    """An input schema as the model reads it in `tools/list`, without what tells it nothing.

    Pydantic titles every property with its own name (`"title": "Max Depth"`) and the
    whole schema with the function's (`read_fileArguments`); an optional argument reads
    `{"anyOf": [{"type": "integer"}, {"type": "null"}], "default": null}` where leaving
    it out of `required` says the same. Both go: the schema accepts what it did, less a
    client sending an explicit null (which the server still accepts). The tool's
    arguments are still validated in full by its own model. `closed` adds
    `additionalProperties: false` (a connector with `strict_arguments` refuses other names).
    """
    compacted = {key: _untitled(value, key, _optional_unnulled) for key, value in schema.items() if key != "title"}
    return {**compacted, "additionalProperties": False} if closed else compacted


def _optional_unnulled(schema: dict[str, Any]) -> Any:
    """An optional argument's `anyOf` with null, as the one type it takes otherwise."""
    options = schema.get("anyOf")
    if (
        isinstance(options, list)
        and len(options) == 2
        and {"type": "null"} in options
        and schema.get("default", 0) is None
    ):
        kept = next(option for option in options if option != {"type": "null"})
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
        return {**kept, **rest}
    return schema
