"""server.json per connector, the generated catalog.json, and versions that agree everywhere."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from patchbay import catalog

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "tests" / "data" / "server.schema.json").read_text())
CONNECTORS = sorted(p.parent.name for p in (ROOT / "servers").glob("*/server.json"))


def server_json(connector_id: str) -> dict[str, Any]:
    return json.loads((ROOT / "servers" / connector_id / "server.json").read_text())


def test_every_connector_has_a_server_json() -> None:
    folders = sorted(p.parent.name for p in (ROOT / "servers").glob("*/pyproject.toml"))
    assert folders == CONNECTORS


@pytest.mark.parametrize("connector_id", CONNECTORS)
def test_server_json_follows_the_official_schema(connector_id: str) -> None:
    jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(server_json(connector_id))


def test_the_schema_copy_rejects_what_the_registry_rejects() -> None:
    broken = server_json(CONNECTORS[0]) | {"name": "no-slash-here"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate(broken)


@pytest.mark.parametrize("connector_id", CONNECTORS)
def test_versions_agree_everywhere(connector_id: str) -> None:
    server = server_json(connector_id)
    project = tomllib.loads((ROOT / "servers" / connector_id / "pyproject.toml").read_text())["project"]
    pypi = next(p for p in server["packages"] if p["registryType"] == "pypi")
    oci = next(p for p in server["packages"] if p["registryType"] == "oci")
    assert server["version"] == project["version"] == pypi["version"]
    assert oci["identifier"].endswith(f":{project['version']}")
    assert pypi["identifier"] == project["name"] == f"patchbay-{connector_id}"
    init = (ROOT / "servers" / connector_id / "src" / f"patchbay_{connector_id}" / "__init__.py").read_text()
    assert f'__version__ = "{project["version"]}"' in init


@pytest.mark.parametrize("connector_id", CONNECTORS)
def test_names_packages_and_ownership_line(connector_id: str) -> None:
    server = server_json(connector_id)
    assert server["name"] == f"{catalog.NAMESPACE}/{connector_id}"
    assert server["repository"]["subfolder"] == f"servers/{connector_id}"
    pypi = next(p for p in server["packages"] if p["registryType"] == "pypi")
    assert (pypi["runtimeHint"], pypi["transport"]) == ("uvx", {"type": "stdio"})
    readme = (ROOT / "servers" / connector_id / "README.md").read_text()
    assert f"<!-- mcp-name: {server['name']} -->" in readme


@pytest.mark.parametrize("connector_id", CONNECTORS)
def test_server_json_lists_every_setting_as_it_is(connector_id: str) -> None:
    __import__(f"patchbay_{connector_id}.server")
    connector = sys.modules[f"patchbay_{connector_id}.server"].connector  # type: ignore[attr-defined]
    settings = connector.settings_class
    pypi = next(p for p in server_json(connector_id)["packages"] if p["registryType"] == "pypi")
    listed = {v["name"]: v for v in pypi["environmentVariables"]}
    expected = {settings.env_name(name): field for name, field in settings.model_fields.items()}
    assert set(listed) == set(expected)
    for name, field in expected.items():
        assert listed[name]["isSecret"] == catalog.is_secret(field.annotation), name
        assert listed[name]["description"] == (field.description or ""), name
        assert "isRequired" in listed[name]


def test_catalog_json_is_current_and_bundled() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "patchbay", "catalog", "build", "--check", "--root", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{result.stderr}\nRun `make catalog` and commit catalog.json."


def test_catalog_follows_the_registry_list_shape() -> None:
    built = json.loads((ROOT / "catalog.json").read_text())
    assert set(built) == {"servers", "metadata"}
    assert built["metadata"]["count"] == len(built["servers"]) == len(CONNECTORS)
    for entry in built["servers"]:
        assert set(entry) == {"server", "_meta"}
        connector_id = entry["_meta"][catalog.META_KEY]["id"]
        assert entry["server"] == server_json(connector_id)  # verbatim
        jsonschema.Draft7Validator(SCHEMA).validate(entry["server"])


def test_catalog_carries_tools_in_both_modes_with_safety_classes() -> None:
    entries = catalog.entries(catalog.load())
    meta = entries["filesystem"]["_meta"][catalog.META_KEY]
    read_only = {t["name"]: t for t in meta["tools"]["read_only"]}
    write = {t["name"]: t for t in meta["tools"]["write"]}
    assert set(read_only) < set(write)
    assert {t["safety"] for t in read_only.values()} == {"read"}
    assert write["delete_file"]["safety"] == "destructive"
    assert write["write_file"]["safety"] == "write"
    assert read_only["read_text_file"]["description"].startswith("Read a text file")
    assert (meta["package"], meta["console_script"], meta["path"]) == (
        "patchbay-filesystem",
        "patchbay-filesystem",
        "servers/filesystem",
    )
    assert re.fullmatch(r"ghcr\.io/patchbay/patchbay-filesystem:\d+\.\d+\.\d+", meta["image"])
    secret = {s["name"] for s in entries["postgres"]["_meta"][catalog.META_KEY]["settings"] if s["secret"]}
    assert {"PATCHBAY_POSTGRES_DSN", "PATCHBAY_POSTGRES_DATABASES", "PATCHBAY_POSTGRES_AUTH_TOKENS"} <= secret


def test_patchbay_list_and_show_read_the_bundled_catalog(tmp_path: Path) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "patchbay", "list"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()] == CONNECTORS
    shown = subprocess.run(
        [sys.executable, "-m", "patchbay", "show", "postgres"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert shown.returncode == 0
    assert "execute_sql" in shown.stdout
    assert "* execute_ddl" in shown.stdout
    assert "PATCHBAY_POSTGRES_DSN [secret]" in shown.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "patchbay", "show", "nope"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert missing.returncode == 2
    assert "no connector 'nope'" in missing.stderr


def test_an_allowlist_setting_is_catalogued_as_its_entries() -> None:
    """An `Allowlist` field (a default_factory) is listed as the list of its entries, so the catalog is JSON."""
    from patchbay_drive.settings import DriveSettings

    listed = {s["name"]: s for s in catalog._settings(DriveSettings)}
    assert listed["PATCHBAY_DRIVE_FOLDERS"]["default"] == []
    assert listed["PATCHBAY_DRIVE_FOLDERS"]["flag"] == "--folders"
    json.dumps(listed)
