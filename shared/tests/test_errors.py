"""Failures become short, actionable tool errors; resources and prompts answer with the
JSON-RPC codes MCP defines; the unexpected gets an incident id and nothing else."""

import json
import re
from pathlib import Path

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError
from pydantic_settings import SettingsConfigDict

from patchbay import Connector, ConnectorSettings, ResourceDenied, ResourceNotFound
from patchbay.errors import ErrorMapper, InvalidArgument, ToolError
from patchbay.example.server import connector
from patchbay.testing import connect

pytestmark = pytest.mark.anyio

NOT_FOUND = {"legacy": -32002, "2026-07-28": -32602}
"""MCP's resource-not-found code: -32002 up to 2025-11-25, INVALID_PARAMS from 2026-07-28 (SEP-2164)."""
INCIDENT = re.compile(r"^Internal error \(incident [0-9a-f]{12}\); the server log has the details\.$")


class ProbeSettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="PATCHBAY_PROBE_")


probe: Connector[ProbeSettings, None] = Connector("probe", title="Probe", version="0", settings=ProbeSettings)


@probe.resource("probe://missing/{name}")
async def missing_thing(name: str) -> str:
    raise ResourceNotFound(f"No thing named {name!r}.")


@probe.resource("probe://outside/{name}")
async def outside_thing(name: str) -> str:
    raise ResourceDenied(f"Access denied: {name!r} is outside the allowed things.")


@probe.resource("probe://down/{name}")
async def upstream_down(name: str) -> str:
    raise ConnectionError("connect to 10.0.0.7:5432 refused")


@probe.resource("probe://bug/{name}")
async def buggy_thing(name: str) -> str:
    return {"a": 1}[name]  # type: ignore[return-value]


@probe.prompt()
async def buggy_prompt(topic: str) -> str:
    raise RuntimeError(f"prompt bug about {topic}")


@probe.prompt()
async def outside_prompt(topic: str) -> str:
    raise ResourceDenied(f"Access denied: {topic!r} is outside the allowed topics.")


@probe.completion("buggy_prompt", "topic")
async def buggy_completion(value: str, _: dict[str, str]) -> list[str]:
    raise RuntimeError(f"completion bug at {value}")


async def request_error(request: object) -> MCPError:
    with pytest.raises(MCPError) as caught:
        await request  # type: ignore[misc]
    return caught.value


def test_connector_mappers_come_before_the_standard_ones() -> None:
    mapper = ErrorMapper([lambda exc: "the bucket does not exist" if isinstance(exc, LookupError) else None])
    assert str(mapper.to_tool_error("t", KeyError("x"))) == "the bucket does not exist"
    assert "timed out" in str(mapper.to_tool_error("t", TimeoutError()))
    assert str(mapper.to_tool_error("t", InvalidArgument("limit", "must be positive"))) == (
        "Invalid argument 'limit': must be positive"
    )


def test_unexpected_exceptions_get_an_incident_id_and_nothing_else(caplog: pytest.LogCaptureFixture) -> None:
    error = ErrorMapper().to_tool_error("t", RuntimeError("internal detail /srv/secret/path"))
    assert isinstance(error, ToolError)
    assert "internal detail" not in str(error)
    incident = str(error).split("incident ")[1].split(")")[0]
    (record,) = [r for r in caplog.records if incident in r.getMessage()]  # found by the id
    assert record.exc_info is not None and str(record.exc_info[1]) == "internal detail /srv/secret/path"


async def test_bad_arguments_name_the_argument(era: str) -> None:
    async with connect(connector, era=era) as client:
        result = await client.call_tool("list_notes", {"limit": 1000})
    assert result.is_error
    # One sentence naming the argument and the rule: no library links, model names or tool-name prefix.
    assert result.content[0].text == "Invalid argument 'limit': must be at most 100."


async def test_every_bad_argument_is_named_with_its_rule(era: str) -> None:
    async with connect(connector, era=era) as client:
        result = await client.call_tool("list_notes", {"limit": "many", "prefix": 7})
        missing = await client.call_tool("get_note", {})
    assert result.is_error and missing.is_error
    assert result.content[0].text == (
        "Invalid argument 'prefix': must be a string. Invalid argument 'limit': must be an integer."
    )
    assert missing.content[0].text == "Invalid argument 'key': is required."


async def test_a_missing_resource_is_not_found_with_the_eras_code(era: str, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    async with connect(probe, {"audit_log": log}, era=era) as client:
        named = await request_error(client.read_resource("probe://missing/gizmo"))
        unknown = await request_error(client.read_resource("nowhere://at/all"))
    assert (named.code, named.message) == (NOT_FOUND[era], "No thing named 'gizmo'.")
    assert (unknown.code, unknown.message) == (NOT_FOUND[era], "Unknown resource: nowhere://at/all")
    outcomes = [json.loads(line)["outcome"] for line in log.read_text().splitlines()]
    assert outcomes == ["error", "error"]


async def test_an_out_of_scope_resource_or_prompt_is_invalid_params_with_a_clear_message(
    era: str, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    async with connect(probe, {"audit_log": log}, era=era) as client:
        resource = await request_error(client.read_resource("probe://outside/gizmo"))
        prompt = await request_error(client.get_prompt("outside_prompt", {"topic": "gizmo"}))
    assert (resource.code, resource.message) == (-32602, "Access denied: 'gizmo' is outside the allowed things.")
    assert (prompt.code, prompt.message) == (-32602, "Access denied: 'gizmo' is outside the allowed topics.")
    outcomes = [json.loads(line)["outcome"] for line in log.read_text().splitlines()]
    assert outcomes == ["denied", "denied"]


async def test_prompt_requests_the_sdk_rejects_are_invalid_params(era: str) -> None:
    async with connect(probe, era=era) as client:
        unknown = await request_error(client.get_prompt("nope", {}))
        missing = await request_error(client.get_prompt("buggy_prompt", {}))
    assert (unknown.code, unknown.message) == (-32602, "Unknown prompt: nope")
    assert (missing.code, missing.message) == (-32602, "Missing required arguments: {'topic'}")


async def test_unexpected_failures_outside_tools_get_an_incident_id_and_the_log_its_traceback(
    era: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with connect(probe, era=era) as client:
        failures = [
            await request_error(client.read_resource("probe://bug/gizmo")),
            await request_error(client.get_prompt("buggy_prompt", {"topic": "gizmo"})),
            await request_error(
                client.complete(
                    types.PromptReference(type="ref/prompt", name="buggy_prompt"), {"name": "topic", "value": "gi"}
                )
            ),
        ]
    log = capsys.readouterr().err
    for failure, raised in zip(
        failures,
        ["KeyError: 'gizmo'", "RuntimeError: prompt bug about gizmo", "RuntimeError: completion bug at gi"],
        strict=True,
    ):
        assert failure.code == -32603
        assert INCIDENT.match(failure.message), failure.message
        incident = failure.message.split("incident ")[1].split(")")[0]
        record = log.split(f"failed unexpectedly (incident {incident})")[1]
        assert record.startswith("\nTraceback (most recent call last):")
        assert raised in record.split("failed unexpectedly (incident ")[0]


async def test_a_mapped_upstream_failure_in_a_resource_says_what_happened(era: str) -> None:
    async with connect(probe, era=era) as client:
        failure = await request_error(client.read_resource("probe://down/gizmo"))
    assert (failure.code, failure.message) == (
        -32603,
        "Could not reach the upstream service; check that it is running and reachable.",
    )
