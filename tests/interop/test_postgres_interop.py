"""The PostgreSQL connector driven by the MCP Inspector CLI and the TypeScript SDK client.

Over stdio, stateless HTTP and stateful HTTP, against a real PostgreSQL (the postgres
connector's own test server) with a fresh database: tools, resources and prompts listed
and used; the Inspector's --strict schema check finds nothing (every output value has a
declared type); a schema change (destructive) declined and then confirmed through the
TypeScript client's elicitation handler.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dbs import fresh_database
from mcp_clients import Clients, Servers, Target, console_script, serve, text_of

pytestmark = pytest.mark.integration

TOOLS = {
    "list_databases", "list_schemas", "list_objects", "search_objects", "describe_object", "execute_sql",
    "explain_query", "get_top_queries", "analyze_db_health", "list_active_queries", "execute_write", "execute_ddl",
}  # fmt: skip
CUSTOMERS = "postgres://default/public/customers/schema"


@pytest.fixture(scope="module")
def servers(postgres: Any) -> Iterator[Servers]:
    with fresh_database(postgres, prefix="interop") as name:
        env = {"PATCHBAY_POSTGRES_DSN": postgres.dsn(database=name)}
        yield from serve([console_script("patchbay-postgres"), "--allow-writes"], env)


def test_inspector_lists_and_calls_with_a_clean_strict_schema_check(clients: Clients, target: Target) -> None:
    entry = target.inspector_entry()
    listed = clients.inspector(entry, "--method", "tools/list", "--strict")
    assert listed.code == 0, listed.stderr
    assert {tool["name"] for tool in listed.result["tools"]} == TOOLS
    assert "schemaFindings" not in listed.answer, listed.answer.get("schemaFindings")

    query = clients.inspector(entry, "--method", "tools/call", "--tool-name", "execute_sql", "--tool-arg",
                              "sql=select id, name from customers order by id limit 2")  # fmt: skip
    assert query.code == 0, (query.answer, query.stderr)
    assert query.result["structuredContent"]["rows"] == [[1, "customer 1"], [2, "customer 2"]]

    resources = clients.inspector(entry, "--method", "resources/list")
    assert CUSTOMERS in [resource["uri"] for resource in resources.result["resources"]]
    schema = clients.inspector(entry, "--method", "resources/read", "--uri", CUSTOMERS)
    assert '"name":"email"' in schema.result["contents"][0]["text"]

    prompts = clients.inspector(entry, "--method", "prompts/list")
    assert [prompt["name"] for prompt in prompts.result["prompts"]] == ["explain_slow_query"]
    prompt = clients.inspector(entry, "--method", "prompts/get", "--prompt-name", "explain_slow_query",
                               "--prompt-args", "sql=select * from orders where total > 100")  # fmt: skip
    assert prompt.code == 0, (prompt.answer, prompt.stderr)
    assert "Seq Scan on orders" in prompt.result["messages"][0]["content"]["text"]


def _count_table(name: str) -> dict[str, Any]:
    sql = f"select count(*)::int from pg_tables where tablename = '{name}'"
    return {"op": "callTool", "name": "execute_sql", "arguments": {"sql": sql}}


def test_typescript_client_lists_calls_and_confirms(clients: Clients, target: Target) -> None:
    table = f"made_over_{target.transport.replace('-', '_')}"
    ddl = {"op": "callTool", "name": "execute_ddl", "arguments": {"sql": f"create table {table} (id int)"}}
    values = "select 1.50::numeric as n, '{\"k\": [1]}'::jsonb as j, array[1, 2] as a, null::text as z, true as b"
    report = clients.typescript(
        {
            "server": target.ts_server(),
            "elicit": ["decline", "accept"],
            "steps": [
                {"op": "listTools"},
                {"op": "listResources"},
                {"op": "listPrompts"},
                {"op": "callTool", "name": "execute_sql", "arguments": {"sql": values}},
                {"op": "callTool", "name": "explain_query", "arguments": {"sql": "select * from orders"}},
                {"op": "readResource", "uri": CUSTOMERS},
                {"op": "getPrompt", "name": "explain_slow_query", "arguments": {"sql": "select 1"}},
                ddl,
                _count_table(table),
                ddl,
                _count_table(table),
            ],
        }
    )
    steps = [step.get("result", step) for step in report["steps"]]
    tools, resources, prompts, typed, plan, resource, prompt, first, before, second, after = steps
    assert report["server"]["name"] == "patchbay-postgres"
    assert {tool["name"] for tool in tools["tools"]} == TOOLS
    assert CUSTOMERS in [r["uri"] for r in resources["resources"]]
    assert [p["name"] for p in prompts["prompts"]] == ["explain_slow_query"]
    assert typed["structuredContent"]["rows"] == [["1.50", {"k": [1]}, [1, 2], None, True]]
    assert plan["structuredContent"]["plan"][0]["Plan"]["Node Type"] == "Seq Scan"
    assert '"name":"customers"' in resource["contents"][0]["text"]
    assert "select 1" in prompt["messages"][0]["content"]["text"]
    if target.stateless:  # no channel to ask on: refused, and nothing done
        assert first["isError"] and "--stateful" in text_of(first), first
        assert report["questions"] == []
        assert before["structuredContent"]["rows"] == after["structuredContent"]["rows"] == [[0]]
        return
    assert first["structuredContent"]["outcome"] == "declined", first
    assert before["structuredContent"]["rows"] == [[0]]
    assert second["structuredContent"]["outcome"] == "done", second
    assert after["structuredContent"]["rows"] == [[1]]
    assert (
        report["questions"] == [f"Run this schema change? It may not be reversible:\ncreate table {table} (id int)"] * 2
    )
