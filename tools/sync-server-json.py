"""Bring each servers/<id>/server.json's environment variables in line with the connector's settings.

Adds a variable for every new setting (description, secret flag, format, default, choices
taken from the settings class), updates descriptions, defaults and secret flags, drops variables
whose setting is gone, and orders them as the settings class does. Hand-written facts
(`isRequired`, a value format the class cannot tell) are kept. Run it after adding a
setting, then `make catalog`:

    uv run --frozen python tools/sync-server-json.py
"""

from __future__ import annotations

import importlib
import json
import typing
from pathlib import Path
from typing import Any, Literal

from patchbay.catalog import is_secret

ROOT = Path(__file__).resolve().parent.parent


def _format(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    if any(a is bool for a in args):
        return "boolean"
    if any(a in (int, float) for a in args):
        return "number"
    return "string"


def _choices(annotation: Any) -> list[str] | None:
    if typing.get_origin(annotation) is Literal:
        return [str(c) for c in typing.get_args(annotation)]
    return None


def _default(field: Any) -> str | None:
    if field.default_factory is not None:
        value = field.default_factory()
        return ",".join(map(str, value)) if value else None
    value = field.default
    if value is None or not isinstance(value, str | int | float | bool):
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def _variable(name: str, field: Any) -> dict[str, Any]:
    variable: dict[str, Any] = {
        "name": name,
        "description": field.description or "",
        "isRequired": False,
        "isSecret": is_secret(field.annotation),
        "format": _format(field.annotation),
    }
    if (default := _default(field)) is not None and not variable["isSecret"]:
        variable["default"] = default
    if (choices := _choices(field.annotation)) is not None:
        variable["choices"] = choices
    return variable


def sync(connector_id: str) -> bool:
    """Rewrite the connector's server.json; True when it changed."""
    settings = importlib.import_module(f"patchbay_{connector_id}.server").connector.settings_class
    path = ROOT / "servers" / connector_id / "server.json"
    before = path.read_text(encoding="utf-8")
    server = json.loads(before)
    pypi = next(p for p in server["packages"] if p["registryType"] == "pypi")
    listed = {v["name"]: v for v in pypi.get("environmentVariables", [])}
    variables = []
    for field_name, field in settings.model_fields.items():
        name = settings.env_name(field_name)
        variable = listed.get(name) or _variable(name, field)
        variable["description"] = field.description or ""
        variable["isSecret"] = is_secret(field.annotation)
        if "default" in variable and (default := _default(field)) is not None and not variable["isSecret"]:
            variable["default"] = default  # a published default follows the class
        variables.append(variable)
    pypi["environmentVariables"] = variables
    after = json.dumps(server, indent=2, ensure_ascii=False) + "\n"
    path.write_text(after, encoding="utf-8")
    return after != before


def main() -> None:
    for folder in sorted((ROOT / "servers").iterdir()):
        if (folder / "server.json").exists():
            print(f"{folder.name}: {'updated' if sync(folder.name) else 'current'}")


if __name__ == "__main__":
    main()
