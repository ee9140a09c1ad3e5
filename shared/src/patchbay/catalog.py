"""The catalog: every connector's `server.json`, plus what a catalog reader needs beyond it.

`build()` collects each `servers/<id>/server.json` verbatim and adds, under a
reverse-DNS key in the entry's `_meta`, the connector's id, path, package, console
script, image, transports, settings (read off its settings class) and its tools in
read-only and in write mode (read off the connector itself). The envelope is the MCP
registry's list response, so registry-aware tools can read `catalog.json` as it is.

The generated catalog is committed at the repository root and bundled inside this
package (`patchbay/catalog.json`), so `patchbay list` works from `uvx patchbay`.
"""

from __future__ import annotations

import importlib
import importlib.resources
import json
import tomllib
import typing
from pathlib import Path
from typing import Any

from pydantic import SecretStr

NAMESPACE = "io.github.patchbay"
META_KEY = f"{NAMESPACE}/catalog"
BUNDLED = "catalog.json"


def load() -> dict[str, Any]:
    """The catalog bundled with this package."""
    text = importlib.resources.files("patchbay").joinpath(BUNDLED).read_text(encoding="utf-8")
    catalog: dict[str, Any] = json.loads(text)
    return catalog


def entries(catalog: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Catalog entries by connector id."""
    return {entry["_meta"][META_KEY]["id"]: entry for entry in catalog["servers"]}


def build(root: Path) -> dict[str, Any]:
    """The catalog of every connector under `root/servers`."""
    servers = [
        _entry(root, folder) for folder in sorted((root / "servers").iterdir()) if (folder / "server.json").exists()
    ]
    return {"servers": servers, "metadata": {"count": len(servers)}}


def render(catalog: dict[str, Any]) -> str:
    """The catalog as written to disk."""
    return json.dumps(catalog, indent=2, ensure_ascii=False) + "\n"


def _entry(root: Path, folder: Path) -> dict[str, Any]:
    server = json.loads((folder / "server.json").read_text(encoding="utf-8"))
    project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    connector_id = folder.name
    connector = importlib.import_module(f"patchbay_{connector_id}.server").connector
    settings_class = connector.settings_class
    oci = next((p for p in server.get("packages", []) if p["registryType"] == "oci"), None)
    meta = {
        "id": connector_id,
        "path": folder.relative_to(root).as_posix(),
        "package": project["name"],
        "console_script": next(iter(project["scripts"])),
        "image": oci["identifier"] if oci else None,
        "transports": ["stdio", "streamable-http"],
        "settings": _settings(settings_class),
        "tools": {
            "read_only": _tools(connector, allow_writes=False),
            "write": _tools(connector, allow_writes=True),
        },
    }
    return {"server": server, "_meta": {META_KEY: meta}}


def _tools(connector: Any, *, allow_writes: bool) -> list[dict[str, Any]]:
    return [
        {
            "name": spec.name,
            "title": spec.title,
            "safety": spec.safety,
            "description": (spec.fn.__doc__ or "").strip(),
        }
        for spec in connector.tools.values()
        if allow_writes or spec.safety == "read"
    ]


def _settings(settings_class: Any) -> list[dict[str, Any]]:
    listed = []
    for name, field in settings_class.model_fields.items():
        listed.append(
            {
                "name": settings_class.env_name(name),
                "flag": f"--{name.replace('_', '-')}" if name in settings_class.cli_flags else None,
                "description": field.description or "",
                "secret": is_secret(field.annotation),
                "default": _default(field),
            }
        )
    return listed


def is_secret(annotation: Any) -> bool:
    """Whether a settings field holds secrets (SecretStr, alone or inside a container)."""
    if annotation is SecretStr:
        return True
    return any(is_secret(arg) for arg in typing.get_args(annotation))


def _default(field: Any) -> Any:
    if field.default_factory is not None:
        made = field.default_factory()
        return made if isinstance(made, list | dict) else list(made)  # an Allowlist lists its entries
    default = field.default
    return default if isinstance(default, str | int | float | bool) or default is None else str(default)
