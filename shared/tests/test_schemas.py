"""Output schemas as listed: lean, and accepting exactly what the model's own schema accepts."""

from __future__ import annotations

from typing import Any

import jsonschema
from pydantic import BaseModel, Field

from patchbay.schemas import lean_output_schema

SAMPLES: list[Any] = [None, "", "x", 0, 3, -1.5, True, False, [], ["a"], {}, {"a": 1}]


class Inner(BaseModel):
    """Referenced from `Outer` (a `$defs` entry)."""

    size: int | None = None


class Outer(BaseModel):
    """A model with the shapes pydantic writes: optional fields, a nested model, a field named title."""

    title: str = Field(description="A property that happens to be called title.")
    note: str | None = None
    count: int | float | None = None
    tagged: str | int = Field(description="Either.")
    short: str | None = Field(None, max_length=3)  # not bare types: left as anyOf
    inner: Inner | None = None
    inners: list[Inner] = []


def _verdict(schema: dict[str, Any], value: Any) -> bool:
    return jsonschema.validators.validator_for(schema)(schema).is_valid(value)


def test_lean_schema_accepts_exactly_what_the_models_schema_accepts() -> None:
    full = Outer.model_json_schema(mode="serialization")
    lean = lean_output_schema(full)
    for name in ("note", "count", "tagged", "short", "inner"):
        for sample in SAMPLES:
            value = {"title": "t", "tagged": "x", name: sample}
            assert _verdict(lean, value) == _verdict(full, value), (name, sample)


def test_optional_fields_keep_anyof_with_null_first() -> None:
    """Not a `type` list: MCP Inspector's strict check warns about those (tests/interop). Null
    first: a checker trying the options in order stops at once for a null."""
    lean = lean_output_schema(Outer.model_json_schema(mode="serialization"))
    assert lean["properties"]["note"] == {"anyOf": [{"type": "null"}, {"type": "string"}], "default": None}
    assert lean["properties"]["count"]["anyOf"] == [{"type": "null"}, {"type": "integer"}, {"type": "number"}]
    assert not any(isinstance(prop.get("type"), list) for prop in lean["properties"].values())


def test_titles_go_but_a_property_called_title_stays() -> None:
    lean = lean_output_schema(Outer.model_json_schema(mode="serialization"))
    assert "title" not in lean
    said = "A property that happens to be called title."
    assert lean["properties"]["title"] == {"type": "string", "description": said}
    assert all("title" not in prop for name, prop in lean["properties"].items() if name != "title")
    assert "$defs" not in lean and "Inner" not in str(lean)
