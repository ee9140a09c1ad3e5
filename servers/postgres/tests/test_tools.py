"""Every tool against a real PostgreSQL, in both protocol eras."""

from collections.abc import Iterator
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError

from dbs import fresh_database
from patchbay.testing import Answer, connect
from patchbay_postgres.server import connector

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def db(postgres: Any) -> Iterator[str]:
    with fresh_database(postgres) as name:
        yield name


@pytest.fixture
def settings(postgres: Any, db: str) -> dict[str, Any]:
    return {"dsn": postgres.dsn(database=db)}


async def call(settings: dict[str, Any], era: str, tool: str, **args: Any) -> Any:
    async with connect(connector, settings, era=era) as client:
        result = await client.call_tool(tool, args)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def test_list_databases_names_only(postgres: Any, db: str, era: str) -> None:
    settings = {"dsn": postgres.dsn(database=db), "databases": {"other": postgres.dsn()}}
    listed = await call(settings, era, "list_databases")
    assert listed == {"databases": ["default", "other"], "default": "default"}
    assert postgres.password not in str(listed)


async def test_list_schemas(settings: dict[str, Any], era: str) -> None:
    schemas = await call(settings, era, "list_schemas")
    assert [s["name"] for s in schemas["schemas"]] == ["public", "reporting"]
    everything = await call(settings, era, "list_schemas", include_system=True)
    assert "pg_catalog" in [s["name"] for s in everything["schemas"]]


async def test_list_objects_by_schema_and_kind_with_pages(settings: dict[str, Any], era: str) -> None:
    tables = await call(settings, era, "list_objects", schema="public", kind="table")
    assert [o["name"] for o in tables["items"]] == ["customers", "orders"]
    everything = [(o["name"], o["kind"]) for o in (await call(settings, era, "list_objects", limit=1000))["items"]]
    assert {
        ("big_orders", "view"),
        ("order_totals", "materialized_view"),
        ("orders_id_seq", "sequence"),
        ("revenue(d date)", "function"),
        ("pg_stat_statements", "extension"),
    } <= set(everything)
    names: list[tuple[str, str]] = []
    async with connect(connector, settings, era=era) as client:
        cursor = None
        while True:
            args: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            page = (await client.call_tool("list_objects", args)).structured_content
            assert page is not None
            names += [(o["name"], o["kind"]) for o in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert names == everything  # same order, every object once


async def test_search_objects_across_schemas(settings: dict[str, Any], era: str) -> None:
    found = await call(settings, era, "search_objects", pattern="daily")
    assert found["items"] == [{"schema": "reporting", "name": "daily", "kind": "table"}]
    orders = await call(settings, era, "search_objects", pattern="order", kind="table")
    assert [o["name"] for o in orders["items"]] == ["orders"]


async def test_describe_object_in_detail(settings: dict[str, Any], era: str) -> None:
    described = await call(settings, era, "describe_object", name="customers")
    assert described["comment"] == "People who buy things"
    columns = {c["name"]: c for c in described["columns"]}
    assert columns["id"] == {
        "name": "id",
        "type": "integer",
        "nullable": False,
        "default": "nextval('customers_id_seq'::regclass)",
        "comment": None,
    }
    assert columns["email"]["comment"] == "Where to write"
    assert columns["mood"]["type"] == "mood"
    assert {c["type"] for c in described["constraints"]} == {"primary key", "unique"}
    assert [i["unique"] for i in described["indexes"]] == [True, True]
    assert described["size_bytes"] > 0
    orders = await call(settings, era, "describe_object", name="orders")
    assert any(c["definition"] == "CHECK ((total >= (0)::numeric))" for c in orders["constraints"])
    assert "orders_customer" in [i["name"] for i in orders["indexes"]]
    async with connect(connector, settings, era=era) as client:
        missing = await client.call_tool("describe_object", {"name": "nope"})
    assert missing.is_error
    assert "No table or view public.nope" in missing.content[0].text


async def test_dates_and_times_python_cannot_hold_come_as_text(settings: dict[str, Any], era: str) -> None:
    """infinity and years BC failed the whole query (psycopg cannot make a datetime of them)."""
    page = await call(
        settings,
        era,
        "execute_sql",
        sql="select 'infinity'::timestamptz as forever, '-infinity'::timestamp as never, "
        "'0044-03-15 BC'::date as ides, '0044-03-15 10:00 BC'::timestamp as ides_at, "
        "'2024-05-01 12:30:00.5+05:30'::timestamptz as half, '2024-05-01 12:30'::timestamp as plain, "
        "array['2024-05-01 00:00-08'::timestamptz] as stamps, '10:00:00.25'::time as at",
    )
    assert page["rows"] == [
        [
            "infinity",
            "-infinity",
            "0044-03-15 BC",
            "0044-03-15 10:00:00 BC",
            "2024-05-01T07:00:00.5+00:00",
            "2024-05-01T12:30:00",
            ["2024-05-01T08:00:00+00:00"],
            "10:00:00.25",
        ]
    ]


async def test_execute_sql_pages_through_a_result(settings: dict[str, Any], era: str) -> None:
    ids: list[int] = []
    async with connect(connector, settings, era=era) as client:
        cursor = None
        pages = 0
        while True:
            args: dict[str, Any] = {"sql": "select id from orders order by id", "max_rows": 120}
            result = await client.call_tool("execute_sql", args | ({"cursor": cursor} if cursor else {}))
            page = result.structured_content
            assert page is not None
            ids += [row[0] for row in page["rows"]]
            assert page["truncated"] == (page["next_cursor"] is not None)
            cursor = page["next_cursor"]
            pages += 1
            if cursor is None:
                break
        first = await client.call_tool("execute_sql", {"sql": "select id from orders order by id", "max_rows": 120})
        assert first.structured_content is not None
        foreign = await client.call_tool(
            "execute_sql", {"sql": "select 1", "cursor": first.structured_content["next_cursor"]}
        )
    assert pages == 3
    assert ids == list(range(1, 301))
    assert foreign.is_error
    assert "Invalid argument 'cursor'" in foreign.content[0].text


async def test_max_rows_is_capped_by_the_ceiling(settings: dict[str, Any], era: str) -> None:
    page = await call(settings | {"max_rows_ceiling": 10}, era, "execute_sql", sql="select * from orders", max_rows=500)
    assert (page["row_count"], page["truncated"]) == (10, True)


async def test_values_of_every_common_type_are_json_safe(settings: dict[str, Any], era: str) -> None:
    page = await call(
        settings,
        era,
        "execute_sql",
        sql="select o.*, c.mood, 1.5::numeric(10,3) as n, null::text as nothing from orders o "
        "join customers c on c.id = o.customer_id where o.id = 1",
    )
    row = dict(zip([c["name"] for c in page["columns"]], page["rows"][0], strict=True))
    types = {c["name"]: c["type"] for c in page["columns"]}
    assert row["total"] == "1.50"  # numeric as exact text
    assert row["placed"] == "2026-01-02T03:04:05+00:00"
    assert row["wait"] == "1 day 02:03:04"
    assert row["token"] == "6f1d2b3c-0000-4000-8000-000000000001"
    assert row["blob"] == "3q2+7w=="  # bytea as base64
    assert row["tags"] == ["a", "b"]
    assert row["data"] == {"k": [1, 2]}
    assert row["span"] == "[1,5)"
    assert row["day"] == "2026-01-02"
    assert row["ratio"] == 0.5
    assert row["big"] == 9007199254740993
    assert row["mood"] == "happy"
    assert row["n"] == "1.500"
    assert row["nothing"] is None
    assert (types["tags"], types["data"], types["total"]) == ("text[]", "jsonb", "numeric")


async def test_explain_query_plain_and_analyzed(settings: dict[str, Any], era: str) -> None:
    plan = await call(settings, era, "explain_query", sql="select * from orders where customer_id = 3")
    assert plan["analyzed"] is False
    assert plan["plan"][0]["Plan"]["Node Type"]
    assert "orders" in plan["text"]
    analyzed = await call(settings, era, "explain_query", sql="select count(*) from orders", analyze=True)
    assert analyzed["analyzed"] is True
    assert "Actual Total Time" in str(analyzed["plan"])
    write_plan = await call(settings, era, "explain_query", sql="delete from orders where id = 1")
    assert "Delete on orders" in write_plan["text"]


async def test_top_queries_from_pg_stat_statements(settings: dict[str, Any], era: str) -> None:
    async with connect(connector, settings, era=era) as client:
        for _ in range(40):  # enough calls to rank among the top, whatever else ran before
            await client.call_tool(
                "execute_sql", {"sql": "select count(*) from customers where name like 'customer 1%'"}
            )
    top = await call(settings, era, "get_top_queries", sort_by="calls", limit=100)
    assert top["available"] is True
    assert any("from customers" in q["query"] for q in top["queries"])


async def test_top_queries_explain_when_the_extension_is_missing(postgres: Any, era: str) -> None:
    with fresh_database(postgres, "nostat") as name:
        postgres.execute("drop extension if exists pg_stat_statements", database=name)
        top = await call({"dsn": postgres.dsn(database=name)}, era, "get_top_queries")
    assert top["available"] is False
    assert "CREATE EXTENSION pg_stat_statements" in top["message"]


async def test_health_checks_find_planted_problems(postgres: Any, settings: dict[str, Any], db: str, era: str) -> None:
    postgres.execute(
        "create index if not exists dup_a on customers (name); create index if not exists dup_b on customers (name);"
        "create sequence if not exists nearly_done maxvalue 100; select setval('nearly_done', 90);",
        database=db,
    )
    health = await call(settings, era, "analyze_db_health")
    findings = {f["check"]: f for f in health["findings"]}
    assert set(findings) == {
        "cache hit ratio",
        "unused indexes",
        "duplicate indexes",
        "invalid indexes",
        "sequences near exhaustion",
        "dead rows and vacuum",
        "transaction id age",
        "replication lag",
        "connection usage",
    }
    assert findings["duplicate indexes"]["status"] == "warning"
    assert any(set(d["indexes"]) >= {"dup_a", "dup_b"} for d in findings["duplicate indexes"]["details"])
    assert [d["sequence"] for d in findings["sequences near exhaustion"]["details"]] == ["nearly_done"]
    assert findings["replication lag"]["status"] == "info"
    assert findings["connection usage"]["details"][0]["connections"] >= 1


async def test_list_active_queries_sees_another_session(postgres: Any, settings: dict[str, Any], era: str) -> None:
    import threading

    done = threading.Event()

    def sleeper() -> None:
        with postgres.connect() as conn:
            conn.execute("select pg_sleep(3)")
        done.set()

    thread = threading.Thread(target=sleeper)
    thread.start()
    try:
        import anyio

        for _ in range(50):
            active = await call(settings, era, "list_active_queries")
            if any("pg_sleep" in (q["query"] or "") for q in active["queries"]):
                break
            await anyio.sleep(0.05)
        assert any("pg_sleep(3)" in (q["query"] or "") for q in active["queries"])
    finally:
        thread.join()


async def test_writes_are_absent_until_allowed(settings: dict[str, Any], era: str) -> None:
    async with connect(connector, settings, era=era) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert names == {
        "list_databases",
        "list_schemas",
        "list_objects",
        "search_objects",
        "describe_object",
        "execute_sql",
        "explain_query",
        "get_top_queries",
        "analyze_db_health",
        "list_active_queries",
    }


async def test_execute_write_small_changes_run_without_asking(
    postgres: Any, settings: dict[str, Any], db: str, era: str
) -> None:
    answer = Answer("decline")
    async with connect(connector, settings | {"allow_writes": True}, era=era, elicit=answer) as client:
        result = await client.call_tool(
            "execute_write", {"sql": "insert into reporting.daily values ('2026-03-01', 10) returning *"}
        )
    assert answer.questions == []
    assert result.structured_content is not None
    done = result.structured_content["result"]
    assert done["rows_affected"] == 1
    assert done["returned"]["rows"] == [["2026-03-01", "10"]]
    postgres.execute("delete from reporting.daily", database=db)


async def test_execute_write_asks_before_touching_many_rows(
    postgres: Any, settings: dict[str, Any], db: str, era: str
) -> None:
    before = postgres.execute("select sum(total) from orders", database=db)[0][0]
    declined = Answer("decline")
    async with connect(connector, settings | {"allow_writes": True}, era=era, elicit=declined) as client:
        result = await client.call_tool("execute_write", {"sql": "update orders set total = total + 1"})
    assert result.structured_content is not None
    assert result.structured_content["outcome"] == "declined"
    assert declined.questions[0].startswith(
        "Run this UPDATE on database 'default'? Its plan estimates it touches about"
    )
    assert declined.questions[0].endswith("update orders set total = total + 1")
    assert postgres.execute("select sum(total) from orders", database=db)[0][0] == before
    accepted = Answer("accept")
    async with connect(connector, settings | {"allow_writes": True}, era=era, elicit=accepted) as client:
        result = await client.call_tool("execute_write", {"sql": "update orders set total = total + 1"})
    assert result.structured_content is not None
    assert result.structured_content["result"]["rows_affected"] == 300
    postgres.execute("update orders set total = total - 1", database=db)


async def test_execute_ddl_always_asks_and_shows_the_statement(
    postgres: Any, settings: dict[str, Any], db: str, era: str
) -> None:
    answer = Answer("accept")
    async with connect(connector, settings | {"allow_writes": True}, era=era, elicit=answer) as client:
        result = await client.call_tool("execute_ddl", {"sql": "create table scratch (x int)"})
        refused = await client.call_tool("execute_ddl", {"sql": "select 1"})
    assert answer.questions == ["Run this schema change? It may not be reversible:\ncreate table scratch (x int)"]
    assert result.structured_content is not None
    assert result.structured_content["result"] == {"status": "CREATE TABLE"}
    assert postgres.execute("select to_regclass('public.scratch')::text", database=db)[0][0] == "scratch"
    assert refused.is_error
    assert "Rejected by the schema-change rule" in refused.content[0].text
    declined = Answer("decline")
    async with connect(connector, settings | {"allow_writes": True}, era=era, elicit=declined) as client:
        kept = await client.call_tool("execute_ddl", {"sql": "drop table scratch"})
    assert kept.structured_content is not None
    assert kept.structured_content["outcome"] == "declined"
    assert postgres.execute("select to_regclass('public.scratch')::text", database=db)[0][0] == "scratch"
    postgres.execute("drop table scratch", database=db)


async def test_table_resources_are_listed_and_read(settings: dict[str, Any], era: str) -> None:
    async with connect(connector, settings, era=era) as client:
        listed = await client.list_resources()
        read = await client.read_resource("postgres://default/public/customers/schema")
    uris = [str(r.uri) for r in listed.resources]
    assert "postgres://default/public/customers/schema" in uris
    assert "postgres://default/reporting/daily/schema" in uris
    assert '"name":"customers"' in read.contents[0].text  # type: ignore[union-attr]


async def test_table_resource_errors_say_not_found_or_access_denied(settings: dict[str, Any], era: str) -> None:
    async with connect(connector, settings, era=era) as client:
        with pytest.raises(MCPError) as missing:
            await client.read_resource("postgres://default/public/nonesuch/schema")
        with pytest.raises(MCPError) as elsewhere:
            await client.read_resource("postgres://postgres/public/customers/schema")
    # MCP's resource-not-found code: -32002 up to 2025-11-25, INVALID_PARAMS (-32602) from 2026-07-28.
    assert (missing.value.code, missing.value.message) == (
        -32002 if era == "legacy" else -32602,
        "No table or view public.nonesuch; search_objects finds names.",
    )
    assert (elsewhere.value.code, elsewhere.value.message) == (
        -32602,
        "Access denied: 'postgres' is not one of the databases this connector was given (default); "
        "list_databases shows them.",
    )


async def test_table_resources_page(postgres: Any, era: str) -> None:
    with fresh_database(postgres, "many") as name:
        postgres.execute(
            "do $$ begin for i in 1..450 loop execute format('create table t%s (x int)', i); end loop; end $$",
            database=name,
        )
        async with connect(connector, {"dsn": postgres.dsn(database=name)}, era=era) as client:
            uris: list[str] = []
            cursor = None
            while True:
                page = await client.list_resources(cursor=cursor)
                uris += [str(r.uri) for r in page.resources]
                cursor = page.next_cursor
                if cursor is None:
                    break
    assert len([u for u in uris if "/public/t" in u]) == 450
    assert len(uris) == len(set(uris))


async def test_the_slow_query_prompt_carries_the_plan(settings: dict[str, Any], era: str) -> None:
    async with connect(connector, settings, era=era) as client:
        prompt = await client.get_prompt("explain_slow_query", {"sql": "select * from orders where total > 3"})
    text = prompt.messages[0].content.text  # type: ignore[union-attr]
    assert "Seq Scan on orders" in text
    assert "CREATE INDEX" in text


async def test_what_the_model_reads_is_compact(settings: dict[str, Any]) -> None:
    async with connect(connector, settings) as client:
        query = await client.call_tool(
            "execute_sql", {"sql": "select 1 as n, 'a\tb' as t, null::int as z, true as b, '{\"k\": [1]}'::jsonb as j"}
        )
        tables = await client.call_tool("list_objects", {"schema": "public", "kind": "table"})
        described = await client.call_tool("describe_object", {"name": "customers"})
        plan = await client.call_tool("explain_query", {"sql": "select * from customers"})
    assert query.content[0].text == 'n\tt\tz\tb\tj\n1\ta\\tb\tNULL\ttrue\t{"k":[1]}\n(1 row)'
    assert query.structured_content["rows"] == [[1, "a\tb", None, True, {"k": [1]}]]
    assert tables.content[0].text == "public.customers  table\npublic.orders     table"
    text = described.content[0].text
    assert text.startswith("public.customers (table, ") and "\nid " in text and "constraints:\n" in text
    assert plan.content[0].text.startswith("Seq Scan on customers")
