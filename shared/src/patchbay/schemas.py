"""Tool schemas as clients validate them fastest.

Pydantic writes nested models as `$defs` plus `$ref`. Every client that validates a
structured result against the tool's `outputSchema` pays for resolving each `$ref`
once per item (the Python SDK's jsonschema, per list element); inlining the
definitions removes that cost without changing what the schema accepts. Recursive
definitions (a tree node that holds tree nodes) are left as references.
"""

from __future__ import annotations

from typing import Any

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
