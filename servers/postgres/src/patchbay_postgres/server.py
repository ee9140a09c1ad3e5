"""The PostgreSQL connector's tools.

Read-only SQL holds by layers, each enough on its own for what it covers:
1. the parser check (sqlguard) accepts one plain query and no side-effecting functions;
2. the query is sent with the extended protocol (as a server-side cursor), so the server
   itself refuses a second statement;
3. it runs in a READ ONLY transaction;
4. every session has a server-side statement_timeout and idle_in_transaction_session_timeout.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Annotated, Any, Literal

import mcp_types as types
import psycopg
from mcp.server.mcpserver import Context
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field, WithJsonSchema

from patchbay import (
    Connector,
    Cursor,
    Page,
    Paginated,
    ResourceDenied,
    ResourceNotFound,
    Runtime,
    ToolError,
    __version__,
)
from patchbay.model_text import compact, more, short_size, table
from patchbay_postgres.client import Databases, refuse_superusers, rows_values
from patchbay_postgres.settings import PostgresSettings


@asynccontextmanager
async def open_databases(settings: PostgresSettings) -> AsyncIterator[Databases]:
    """The pools live as long as the server."""
    databases = Databases(settings)
    await databases.open()
    try:
        yield databases
    finally:
        await databases.close()


def _sqlguard() -> ModuleType:
    """The parser check, imported at the first query: pglast is not needed to start and list tools."""
    from patchbay_postgres import sqlguard

    return sqlguard


def _postgres_error(exc: BaseException) -> str | None:
    """What the model should read for a PostgreSQL failure (never the connection string)."""
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return "The statement was cancelled: it ran past the server-side statement_timeout."
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return f"Rejected by the read-only transaction: {exc.diag.message_primary}"
    if isinstance(exc, PoolTimeout):
        return (
            "Timed out waiting for a free database connection: every connection of the pool is busy "
            "(pool_max_size); try again shortly."
        )
    if isinstance(exc, psycopg.OperationalError):
        return "Could not reach the database; check that it is running and reachable, then try again."
    if isinstance(exc, psycopg.Error):
        state = f" [{exc.sqlstate}]" if exc.sqlstate else ""
        detail = exc.diag.message_primary or type(exc).__name__
        hint = f" Hint: {exc.diag.message_hint}" if exc.diag.message_hint else ""
        return f"PostgreSQL error{state}: {detail}.{hint}"
    return None


connector: Connector[PostgresSettings, Databases] = Connector(
    "postgres",
    title="PostgreSQL",
    version=__version__,
    settings=PostgresSettings,
    description="Browse schemas, run read-only SQL, explain plans and check database health; writes opt-in.",
    instructions=(
        "execute_sql runs one read-only SELECT; results come a page at a time (next_cursor). "
        "Every tool takes an optional database name; list_databases shows them."
    ),
    lifespan=open_databases,
    preflight=refuse_superusers,
    open_world=False,
    error_mappers=[_postgres_error],
)

Database = Annotated[str | None, Field(description="A configured database name; the default when omitted.")]
Sql = Annotated[str, Field(min_length=1, max_length=100_000, description="One SQL statement.")]


def _databases(ctx: Context) -> Databases:
    databases: Databases = connector.state(ctx)
    return databases


async def _rows(conn: AsyncConnection[TupleRow], sql: str, *args: Any) -> list[tuple[Any, ...]]:
    cursor = await conn.execute(sql, args or None, binary=True)  # binary: always the extended protocol
    return await cursor.fetchall()


# Catalog -----------------------------------------------------------------------------


class DatabaseList(BaseModel):
    """The configured databases (names only: connection strings are never shown)."""

    databases: list[str]
    default: str

    def model_text(self) -> str:
        return "\n".join(name + (" (default)" if name == self.default else "") for name in self.databases)


@connector.tool("read")
async def list_databases(ctx: Context) -> DatabaseList:
    """List the databases this server is configured for."""
    names = _databases(ctx).names
    return DatabaseList(databases=names, default=names[0])


class Schema(BaseModel):
    """A schema and its owner."""

    name: str
    owner: str


class SchemaList(BaseModel):
    """The schemas of a database."""

    schemas: list[Schema]

    def model_text(self) -> str:
        return table([(schema.name, schema.owner) for schema in self.schemas], ["schema", "owner"])


@connector.tool("read")
async def list_schemas(
    ctx: Context,
    database: Database = None,
    include_system: Annotated[bool, Field(description="Also pg_catalog, information_schema, pg_toast.")] = False,
) -> SchemaList:
    """List the schemas of a database."""
    sql = """
        select nspname, pg_get_userbyid(nspowner) from pg_namespace
        where %s or (nspname !~ '^pg_' and nspname <> 'information_schema')
        order by nspname"""
    rows = await _databases(ctx).read(database, lambda conn: _rows(conn, sql, include_system))
    return SchemaList(schemas=[Schema(name=name, owner=owner) for name, owner in rows])


ObjectKind = Literal["table", "view", "materialized_view", "sequence", "foreign_table", "function", "extension"]


class DbObject(BaseModel):
    """A named object in a schema."""

    schema_name: str = Field(alias="schema")
    name: str
    kind: ObjectKind

    @classmethod
    def model_text_items(cls, items: list[DbObject]) -> str:
        return table([(f"{o.schema_name}.{o.name}", o.kind) for o in items])


_OBJECTS = """
    select * from (
        select n.nspname, c.relname, case c.relkind when 'r' then 'table' when 'p' then 'table'
            when 'v' then 'view' when 'm' then 'materialized_view' when 'S' then 'sequence'
            when 'f' then 'foreign_table' end
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
        union all
        select n.nspname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', 'function'
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        union all
        select n.nspname, e.extname, 'extension'
        from pg_extension e join pg_namespace n on n.oid = e.extnamespace
    ) o (schema, name, kind)
    where (%s::text is null and schema !~ '^pg_' and schema <> 'information_schema' or schema = %s::text)
      and (%s::text is null or kind = %s::text)
      and (%s::text is null or name ilike %s::text)
    order by schema, name, kind
    offset %s limit %s"""


async def _objects(
    ctx: Context, database: str | None, schema: str | None, kind: str | None, like: str | None, start: int, limit: int
) -> tuple[list[DbObject], bool]:
    args = (schema, schema, kind, kind, like, like, start, limit + 1)
    rows = await _databases(ctx).read(database, lambda conn: _rows(conn, _OBJECTS, *args))
    objects = [DbObject(schema=s, name=n, kind=k) for s, n, k in rows[:limit]]
    return objects, len(rows) > limit


ObjectPage = Page[DbObject]


@connector.tool("read", paginated=True)
async def list_objects(
    ctx: Context,
    database: Database = None,
    schema: Annotated[str | None, Field(description="Only this schema (default: all user schemas).")] = None,
    kind: Annotated[ObjectKind | None, Field(description="Only this kind of object.")] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Field(ge=1, le=1000)] = 200,
) -> ObjectPage:
    """List tables, views, materialized views, sequences, foreign tables, functions and extensions."""
    start = int(cursor) if cursor else 0
    objects, more = await _objects(ctx, database, schema, kind, None, start, limit)
    return ObjectPage(items=objects, next_cursor=str(start + limit) if more else None)


@connector.tool("read")
async def search_objects(
    ctx: Context,
    pattern: Annotated[str, Field(min_length=1, description="Part of a name; % and _ are wildcards.")],
    database: Database = None,
    kind: Annotated[ObjectKind | None, Field(description="Only this kind of object.")] = None,
    limit: Annotated[int, Field(ge=1, le=1000)] = 100,
) -> ObjectPage:
    """Find objects whose names contain a pattern, across schemas."""
    like = pattern if "%" in pattern else f"%{pattern}%"
    objects, _ = await _objects(ctx, database, None, kind, like, 0, limit)
    return ObjectPage(items=objects)


class Column(BaseModel):
    """A column of a table or view."""

    name: str
    type: str
    nullable: bool
    default: str | None = None
    comment: str | None = None


class Constraint(BaseModel):
    """A constraint, as PostgreSQL writes it."""

    name: str
    type: str
    definition: str


class Index(BaseModel):
    """An index, as PostgreSQL writes it."""

    name: str
    definition: str
    unique: bool
    valid: bool


class NoSuchObject(ToolError):
    """A table or view that does not exist (in a database this connector may reach)."""


class Described(BaseModel):
    """A table, view or materialized view in detail."""

    schema_name: str = Field(alias="schema")
    name: str
    kind: str
    comment: str | None
    columns: list[Column]
    constraints: list[Constraint]
    indexes: list[Index]
    size_bytes: int | None
    row_estimate: int | None

    def model_text(self) -> str:
        facts = [self.kind]
        if self.size_bytes is not None:
            facts.append(short_size(self.size_bytes))
        if self.row_estimate is not None:
            facts.append(f"~{self.row_estimate} rows")
        lines = [f"{self.schema_name}.{self.name} ({', '.join(facts)})" + (f": {self.comment}" if self.comment else "")]
        columns = [
            (c.name, c.type, "" if c.nullable else "not null", f"default {c.default}" if c.default else "", c.comment)
            for c in self.columns
        ]
        lines.append(table(columns))
        if self.constraints:
            lines.append("constraints:")
            lines += [f"  {c.name}: {c.definition}" for c in self.constraints]
        if self.indexes:
            lines.append("indexes:")
            lines += [f"  {i.definition}" + ("" if i.valid else " (INVALID)") for i in self.indexes]
        return "\n".join(lines)


@connector.tool("read")
async def describe_object(
    ctx: Context,
    name: Annotated[str, Field(min_length=1, description="Table, view or materialized view name.")],
    schema: Annotated[str, Field(description="Its schema.")] = "public",
    database: Database = None,
) -> Described:
    """Describe a table or view: columns with types, defaults, nullability and comments;
    constraints; indexes; size; estimated rows."""

    async def work(conn: AsyncConnection[TupleRow]) -> Described:
        found = await _rows(
            conn,
            """select c.oid, c.relkind::text, obj_description(c.oid, 'pg_class'),
                      case when c.relkind in ('r','p','m') then pg_total_relation_size(c.oid) end,
                      case when c.reltuples >= 0 then c.reltuples::bigint end
               from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = %s and c.relname = %s""",
            schema,
            name,
        )
        if not found:
            raise NoSuchObject(f"No table or view {schema}.{name}; search_objects finds names.")
        oid, relkind, comment, size, estimate = found[0]
        columns = await _rows(
            conn,
            """select a.attname, format_type(a.atttypid, a.atttypmod), not a.attnotnull,
                      pg_get_expr(d.adbin, d.adrelid), col_description(a.attrelid, a.attnum)
               from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
               where a.attrelid = %s and a.attnum > 0 and not a.attisdropped order by a.attnum""",
            oid,
        )
        constraints = await _rows(
            conn,
            """select conname, case contype when 'p' then 'primary key' when 'f' then 'foreign key'
                      when 'u' then 'unique' when 'c' then 'check' when 'x' then 'exclusion' else contype::text end,
                      pg_get_constraintdef(oid) from pg_constraint where conrelid = %s order by conname""",
            oid,
        )
        indexes = await _rows(
            conn,
            """select i.relname, pg_get_indexdef(x.indexrelid), x.indisunique, x.indisvalid
               from pg_index x join pg_class i on i.oid = x.indexrelid where x.indrelid = %s order by i.relname""",
            oid,
        )
        kinds = {"r": "table", "p": "table", "v": "view", "m": "materialized_view", "f": "foreign_table"}
        return Described(
            schema=schema,
            name=name,
            kind=kinds.get(relkind, relkind),
            comment=comment,
            columns=[Column(name=c[0], type=c[1], nullable=c[2], default=c[3], comment=c[4]) for c in columns],
            constraints=[Constraint(name=c[0], type=c[1], definition=c[2]) for c in constraints],
            indexes=[Index(name=i[0], definition=i[1], unique=i[2], valid=i[3]) for i in indexes],
            size_bytes=size,
            row_estimate=estimate,
        )

    return await _databases(ctx).read(database, work)


# Queries -----------------------------------------------------------------------------


class ResultColumn(BaseModel):
    """A result column and its PostgreSQL type."""

    name: str
    type: str


Rows = Annotated[
    list[list[Any]],
    WithJsonSchema(
        {
            "type": "array",
            "description": "One list of values per row, in the order of `columns`. A value is null, a JSON "
            "boolean, number or string, an array (arrays) or any JSON (json/jsonb); numeric, intervals, dates "
            "and times come as text, bytea as base64.",
        }
    ),
]
"""Rows of JSON-safe values. The schema says `rows` is an array and, in words, what each row and
value is: a client's check of a page then costs the same for 1 row as for 10,000 (typing each
cell cost 184 ms a 10,000-row page, typing each row still about 100 ms with jsonschema)."""


class QueryResult(Paginated):
    """A page of a query result; values are JSON-safe (numeric and intervals as text, bytea as base64)."""

    columns: list[ResultColumn]
    rows: Rows
    row_count: int = Field(description="Rows on this page.")
    truncated: bool = Field(description="True when more rows follow: pass next_cursor to get them.")

    def model_text(self) -> str:
        """Tab-separated: a header of column names, then one line per row; NULL for null."""
        lines = ["\t".join(c.name for c in self.columns)]
        width = len(self.rows[0]) if self.rows else 0
        if width and all(len(row) == width for row in self.rows):  # a result cut to fit may have ragged rows
            cells = [_tsv_column(column) for column in zip(*self.rows, strict=True)]
            lines += ["\t".join(row) for row in zip(*cells, strict=True)]
        else:
            lines += ["\t".join(_tsv(value) for value in row) for row in self.rows]
        lines.append(f"({self.row_count} row{'' if self.row_count == 1 else 's'})")
        return "\n".join(lines) + more(self.next_cursor)


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _tsv_column(column: tuple[Any, ...]) -> list[str]:
    """A column's values as tab-separated cells (`_tsv`), a column at a time: text with nothing
    to escape and numbers are taken as they are."""
    kinds = set(map(type, column))
    if kinds == {str}:
        joined = "\x00".join(column)
        if not any(mark in joined for mark in "\\\t\n\r"):
            return list(column)
        return [value.translate(_ESCAPES) for value in column]
    if kinds <= {int, float}:
        return [str(value) for value in column]
    return [_tsv(value) for value in column]


def _tsv(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value).translate(_ESCAPES)


@connector.tool("read", paginated=True)
async def execute_sql(
    ctx: Context,
    sql: Annotated[str, Field(min_length=1, max_length=100_000, description="One read-only SELECT statement.")],
    database: Database = None,
    max_rows: Annotated[int | None, Field(ge=1, description="Rows per page (capped by the server).")] = None,
    cursor: Cursor = None,
) -> QueryResult:
    """Run one read-only query and return a page of its rows. Writes, DDL, COPY, SET, DO and
    side-effecting functions are refused; the query runs in a read-only transaction with a timeout."""
    _sqlguard().check_query(sql)
    databases = _databases(ctx)
    limit = min(max_rows or databases.settings.max_rows, databases.settings.max_rows_ceiling)
    position, _, token = (cursor or "0").partition(".")
    skip = int(position)
    fetched = await databases.results.page(database, sql, limit, skip, token or None)
    columns = [ResultColumn(name=name, type=_type_name(fetched.conn, oid)) for name, oid in fetched.columns]
    page = rows_values(fetched.rows)
    following = f"{skip + limit}" + (f".{fetched.token}" if fetched.token else "")
    # Built as it is, not validated: every field is made here, the rows JSON-safe by rows_values.
    return QueryResult.model_construct(
        columns=columns,
        rows=page,
        row_count=len(page),
        truncated=fetched.more,
        next_cursor=following if fetched.more else None,
    )


def _type_name(conn: AsyncConnection[TupleRow], oid: int) -> str:
    info = conn.adapters.types.get(oid)
    if info is None:
        return str(oid)
    return f"{info.name}[]" if info.array_oid == oid else info.name


class Plan(BaseModel):
    """A query plan, as JSON and as text."""

    plan: list[dict[str, Any]] = Field(
        description="EXPLAIN (FORMAT JSON) output: one object per statement, its tree under 'Plan'."
    )
    text: str = Field(description="EXPLAIN output as text.")
    analyzed: bool

    def model_text(self) -> str:
        return self.text


@connector.tool("read")
async def explain_query(
    ctx: Context,
    sql: Sql,
    database: Database = None,
    analyze: Annotated[bool, Field(description="Run the query to measure it (read-only queries only).")] = False,
) -> Plan:
    """Show the plan of a query or data change; with analyze=true, run a read-only query and show timings."""
    _sqlguard().check_explainable(sql, analyze=analyze)
    options = "analyze, buffers, " if analyze else ""

    async def work(conn: AsyncConnection[TupleRow]) -> Plan:
        plan = (await _rows(conn, f"explain ({options}format json) {sql}"))[0][0]
        if analyze:  # the query ran once, for the JSON plan: its text comes from that, not from a second run
            return Plan(plan=plan, text=plan_text(plan), analyzed=True)
        text = await _rows(conn, f"explain ({options}format text) {sql}")
        return Plan(plan=plan, text="\n".join(line[0] for line in text), analyzed=analyze)

    return await _databases(ctx).read(database, work)


def plan_text(plan: list[dict[str, Any]]) -> str:
    """EXPLAIN's text form, made from its JSON form (node, relation, costs, actual timings)."""
    lines: list[str] = []

    def node(item: dict[str, Any], depth: int) -> None:
        what = str(item.get("Node Type", "?"))
        if item.get("Strategy") and what == "Aggregate":
            what = {"Hashed": "HashAggregate", "Sorted": "GroupAggregate"}.get(str(item["Strategy"]), what)
        if "Index Name" in item:
            what += f" using {item['Index Name']}"
        if "Relation Name" in item:
            relation = f"{item['Schema']}.{item['Relation Name']}" if "Schema" in item else item["Relation Name"]
            alias = item.get("Alias")
            what += f" on {relation}" + (f" {alias}" if alias and alias != item["Relation Name"] else "")
        if "Startup Cost" in item:
            what += (
                f"  (cost={item['Startup Cost']:.2f}..{item['Total Cost']:.2f} "
                f"rows={item.get('Plan Rows')} width={item.get('Plan Width')})"
            )
        if "Actual Total Time" in item:
            what += (
                f" (actual time={item['Actual Startup Time']:.3f}..{item['Actual Total Time']:.3f} "
                f"rows={item.get('Actual Rows')} loops={item.get('Actual Loops')})"
            )
        elif item.get("Actual Loops") == 0:
            what += " (never executed)"
        pad = "  " * depth
        lines.append(f"{pad}->  {what}" if depth else what)
        for key in ("Filter", "Index Cond", "Hash Cond", "Join Filter", "Merge Cond", "Recheck Cond", "Sort Key"):
            if key in item:
                value = ", ".join(item[key]) if isinstance(item[key], list) else item[key]
                lines.append(f"{pad}      {key}: {value}")
        if "Rows Removed by Filter" in item:
            lines.append(f"{pad}      Rows Removed by Filter: {item['Rows Removed by Filter']}")
        for child in item.get("Plans", []):
            node(child, depth + 1)

    for statement in plan:
        node(statement.get("Plan", {}), 0)
        if "Planning Time" in statement:
            lines.append(f"Planning Time: {statement['Planning Time']:.3f} ms")
        if "Execution Time" in statement:
            lines.append(f"Execution Time: {statement['Execution Time']:.3f} ms")
    return "\n".join(lines)


# Monitoring --------------------------------------------------------------------------


class TopQuery(BaseModel):
    """A statement from pg_stat_statements."""

    query: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int


class TopQueries(BaseModel):
    """The heaviest statements, or why they cannot be shown."""

    available: bool
    message: str
    queries: list[TopQuery] = []

    def model_text(self) -> str:
        if not self.queries:
            return self.message
        rows = [(q.calls, f"{q.total_ms:.1f}", f"{q.mean_ms:.2f}", q.rows, q.query) for q in self.queries]
        return f"{self.message}\n" + table(rows, ["calls", "total_ms", "mean_ms", "rows", "query"], right={0, 1, 2, 3})


@connector.tool("read")
async def get_top_queries(
    ctx: Context,
    database: Database = None,
    sort_by: Annotated[Literal["total_time", "mean_time", "calls"], Field(description="Ranking.")] = "total_time",
    limit: Annotated[int, Field(ge=1, le=100)] = 10,
) -> TopQueries:
    """The statements that cost the most, from pg_stat_statements (when the extension is installed)."""
    order = {"total_time": "total_exec_time", "mean_time": "mean_exec_time", "calls": "calls"}[sort_by]

    async def work(conn: AsyncConnection[TupleRow]) -> TopQueries:
        if not await _rows(conn, "select 1 from pg_extension where extname = 'pg_stat_statements'"):
            return TopQueries(
                available=False,
                message="pg_stat_statements is not installed in this database: add it to "
                "shared_preload_libraries and run CREATE EXTENSION pg_stat_statements.",
            )
        rows = await _rows(
            conn,
            f"""select query, calls, total_exec_time, mean_exec_time, rows from pg_stat_statements
                where dbid = (select oid from pg_database where datname = current_database())
                order by {order} desc limit %s""",  # noqa: S608 - order is one of three fixed column names
            limit,
        )
        queries = [TopQuery(query=q, calls=c, total_ms=t, mean_ms=m, rows=r) for q, c, t, m, r in rows]
        return TopQueries(available=True, message=f"Top {len(queries)} by {sort_by}.", queries=queries)

    return await _databases(ctx).read(database, work)


class Finding(BaseModel):
    """One health check and what it found."""

    check: str
    status: Literal["ok", "warning", "info"]
    summary: str
    details: list[dict[str, Any]] = []


class Health(BaseModel):
    """Database health checks."""

    findings: list[Finding]

    def model_text(self) -> str:
        lines = []
        for finding in self.findings:
            lines.append(f"{finding.status}: {finding.check}: {finding.summary}")
            if finding.details and finding.status == "warning":
                lines.append(compact(finding.details, "  "))
        return "\n".join(lines)


_HEALTH: list[tuple[str, str, str]] = [
    (
        "cache hit ratio",
        """select coalesce(round(sum(blks_hit) * 100.0 / nullif(sum(blks_hit) + sum(blks_read), 0), 2), 100)::float
           as heap_percent from pg_stat_database where datname = current_database()""",
        "heap_percent < 95",
    ),
    (
        "unused indexes",
        """select s.schemaname as schema, s.relname as table, s.indexrelname as index,
                  pg_relation_size(s.indexrelid) as bytes
           from pg_stat_user_indexes s join pg_index i on i.indexrelid = s.indexrelid
           where s.idx_scan = 0 and not i.indisunique and not i.indisprimary order by bytes desc limit 50""",
        "true",
    ),
    (
        "duplicate indexes",
        """select indrelid::regclass::text as table, array_agg(indexrelid::regclass::text) as indexes
           from pg_index group by indrelid, indkey, indclass, coalesce(pg_get_expr(indexprs, indrelid), ''),
                coalesce(pg_get_expr(indpred, indrelid), '')
           having count(*) > 1""",
        "true",
    ),
    (
        "invalid indexes",
        "select indexrelid::regclass::text as index from pg_index where not indisvalid",
        "true",
    ),
    (
        "sequences near exhaustion",
        """select schemaname as schema, sequencename as sequence,
                  round(100.0 * last_value / max_value, 2)::float as percent_used
           from pg_sequences where last_value is not null and last_value > 0.75 * max_value""",
        "true",
    ),
    (
        "dead rows and vacuum",
        """select schemaname as schema, relname as table, n_live_tup as live_rows, n_dead_tup as dead_rows,
                  round(100.0 * n_dead_tup / nullif(n_live_tup + n_dead_tup, 0), 1)::float as dead_percent,
                  greatest(last_vacuum, last_autovacuum)::text as last_vacuum,
                  greatest(last_analyze, last_autoanalyze)::text as last_analyze
           from pg_stat_user_tables where n_dead_tup > 1000 and n_dead_tup > 0.2 * (n_live_tup + n_dead_tup)
           order by n_dead_tup desc limit 50""",
        "true",
    ),
    (
        "transaction id age",
        "select datname as database, age(datfrozenxid) as xid_age from pg_database where age(datfrozenxid) > 1e9",
        "true",
    ),
    (
        "replication lag",
        """select application_name, client_addr::text, state,
                  pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint as lag_bytes
           from pg_stat_replication""",
        "lag_bytes > 100000000",
    ),
    (
        "connection usage",
        """select count(*)::int as connections, current_setting('max_connections')::int as max_connections,
                  round(100.0 * count(*) / current_setting('max_connections')::int, 1)::float as percent
           from pg_stat_activity""",
        "percent > 80",
    ),
]


@connector.tool("read")
async def analyze_db_health(ctx: Context, database: Database = None) -> Health:
    """Check cache hit ratio, unused/duplicate/invalid indexes, sequences near exhaustion,
    dead rows and vacuum age, transaction id age, replication lag and connection usage."""

    async def work(conn: AsyncConnection[TupleRow]) -> Health:
        findings = []
        for check, sql, alarm in _HEALTH:
            cursor = await conn.execute(
                f"select row_to_json(r)::text, ({alarm}) from ({sql}) r",  # noqa: S608 - fixed, trusted SQL
                binary=True,
            )
            rows = [(json.loads(raw), flagged) for raw, flagged in await cursor.fetchall()]
            findings.append(_finding(check, rows))
        return Health(findings=findings)

    return await _databases(ctx).read(database, work)


def _finding(check: str, rows: list[tuple[dict[str, Any], bool]]) -> Finding:
    details = [row for row, _ in rows]
    flagged = any(flag for _, flag in rows)
    if check in ("cache hit ratio", "connection usage"):
        value = details[0] if details else {}
        return Finding(check=check, status="warning" if flagged else "ok", summary=json.dumps(value), details=details)
    if check == "replication lag" and not details:
        return Finding(check=check, status="info", summary="No replicas connected.")
    status: Literal["ok", "warning"] = "warning" if details and flagged else "ok"
    return Finding(check=check, status=status, summary=f"{len(details)} found.", details=details)


class ActiveQuery(BaseModel):
    """A session that is doing something."""

    pid: int
    user: str | None
    database: str | None
    state: str | None
    seconds: float | None
    wait_event: str | None
    query: str | None


class ActiveQueries(BaseModel):
    """What other sessions are running now."""

    queries: list[ActiveQuery]


@connector.tool("read")
async def list_active_queries(ctx: Context, database: Database = None) -> ActiveQueries:
    """List running (non-idle) queries of other sessions, longest first."""
    sql = """select pid, usename, datname, state, extract(epoch from now() - query_start)::float,
                    wait_event, query from pg_stat_activity
             where state is not null and state <> 'idle' and pid <> pg_backend_pid()
             order by query_start nulls last"""
    rows = await _databases(ctx).read(database, lambda conn: _rows(conn, sql))
    return ActiveQueries(
        queries=[
            ActiveQuery(pid=r[0], user=r[1], database=r[2], state=r[3], seconds=r[4], wait_event=r[5], query=r[6])
            for r in rows
        ]
    )


# Changing data -----------------------------------------------------------------------


class WriteResult(BaseModel):
    """What a data change did."""

    rows_affected: int
    returned: QueryResult | None = Field(None, description="Rows from a RETURNING clause.")

    def model_text(self) -> str:
        head = f"{self.rows_affected} row{'' if self.rows_affected == 1 else 's'} affected"
        return head if self.returned is None else f"{head}; returned:\n{self.returned.model_text()}"


async def _write_question(ctx: Context, sql: str, database: str | None = None) -> str | None:
    statement = _sqlguard().check_write(sql)
    databases = _databases(ctx)

    async def estimate(conn: AsyncConnection[TupleRow]) -> float:
        plan = (await _rows(conn, f"explain (format json) {sql}"))[0][0]
        return float(_largest_rows(plan))

    try:
        rows = await databases.read(database, estimate)
    except psycopg.Error as exc:  # e.g. a misspelt table: say so, as the tool itself would
        raise ToolError(_postgres_error(exc) or "PostgreSQL error") from None
    if rows <= databases.settings.write_confirm_rows:
        return None
    name = database or databases.names[0]
    verb = type(statement).__name__.removesuffix("Stmt").upper()
    return f"Run this {verb} on database {name!r}? Its plan estimates it touches about {int(rows)} rows:\n{sql}"


def _largest_rows(plan: Any) -> float:
    """The largest row estimate anywhere in a JSON plan."""
    if isinstance(plan, list):
        return max((_largest_rows(item) for item in plan), default=0.0)
    if isinstance(plan, dict):
        own = float(plan.get("Plan Rows", 0) or 0)
        return max([own, *(_largest_rows(value) for value in plan.values() if isinstance(value, dict | list))])
    return 0.0


@connector.tool("write", confirm=_write_question)
async def execute_write(
    ctx: Context,
    sql: Annotated[str, Field(min_length=1, max_length=100_000, description="One INSERT, UPDATE, DELETE or MERGE.")],
    database: Database = None,
) -> WriteResult:
    """Change data with one INSERT, UPDATE, DELETE or MERGE; returns the rows affected. A statement
    whose plan touches many rows asks the user to confirm first."""
    _sqlguard().check_write(sql)

    async def work(conn: AsyncConnection[TupleRow]) -> WriteResult:
        cursor = await conn.execute(sql, binary=True)
        returned = None
        if cursor.description:
            rows = await cursor.fetchmany(1001)
            returned = QueryResult(
                columns=[ResultColumn(name=d.name, type=_type_name(conn, d.type_code)) for d in cursor.description],
                rows=rows_values(rows[:1000]),
                row_count=min(len(rows), 1000),
                truncated=len(rows) > 1000,
            )
        return WriteResult(rows_affected=cursor.rowcount, returned=returned)

    return await _databases(ctx).write(database, work)


class DdlResult(BaseModel):
    """A schema change that ran."""

    status: str = Field(description="PostgreSQL's command tag, e.g. CREATE TABLE.")

    def model_text(self) -> str:
        return self.status


def _ddl_question(sql: str, database: str | None = None) -> str:
    _sqlguard().check_ddl(sql)
    where = f" on database {database!r}" if database else ""
    return f"Run this schema change{where}? It may not be reversible:\n{sql}"


@connector.tool("destructive", confirm=_ddl_question)
async def execute_ddl(
    ctx: Context,
    sql: Annotated[str, Field(min_length=1, max_length=100_000, description="One CREATE, ALTER, DROP, TRUNCATE ...")],
    database: Database = None,
) -> DdlResult:
    """Change the schema with one statement (CREATE, ALTER, DROP, TRUNCATE, COMMENT, GRANT ...).
    The user always confirms first, shown the statement."""
    _sqlguard().check_ddl(sql)

    async def work(conn: AsyncConnection[TupleRow]) -> DdlResult:
        cursor = await conn.execute(sql, binary=True)
        return DdlResult(status=cursor.statusmessage or "done")

    return await _databases(ctx).write(database, work)


# Resources and prompts ---------------------------------------------------------------


@connector.resource(
    "postgres://{database}/{schema}/{table}/schema",
    name="table schema",
    mime_type="application/json",
    description="Columns, constraints and indexes of a table or view.",
)
async def table_schema(database: str, schema: str, table: str, ctx: Context) -> str:
    databases = _databases(ctx)
    if database not in databases.names:
        raise ResourceDenied(
            f"Access denied: {database!r} is not one of the databases this connector was given "
            f"({', '.join(databases.names)}); list_databases shows them."
        )
    try:
        described = await describe_object(ctx, name=table, schema=schema, database=database)
    except NoSuchObject as exc:
        raise ResourceNotFound(str(exc)) from None
    return described.model_dump_json(by_alias=True)


@connector.resource_list
async def _tables(
    runtime: Runtime[PostgresSettings, Databases], token: str | None
) -> tuple[list[types.Resource], str | None]:
    """One resource per table or view, across databases, 200 at a time."""
    databases = runtime.state
    name_index, _, offset = (token or "0:0").partition(":")
    index, start = int(name_index), int(offset or 0)
    if index >= len(databases.names):
        return [], None
    name = databases.names[index]
    sql = """select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where c.relkind in ('r','p','v','m','f') and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
             order by 1, 2 offset %s limit 201"""
    try:
        rows = await databases.read(name, lambda conn: _rows(conn, sql, start))
    except psycopg.Error:
        rows = []  # an unreachable database lists nothing rather than failing the whole listing
    resources = [
        types.Resource(
            uri=f"postgres://{name}/{schema}/{table}/schema",
            name=f"{name}.{schema}.{table}",
            mime_type="application/json",
        )
        for schema, table in rows[:200]
    ]
    if len(rows) > 200:
        return resources, f"{index}:{start + 200}"
    return resources, (f"{index + 1}:0" if index + 1 < len(databases.names) else None)


@connector.prompt(title="Explain a slow query")
async def explain_slow_query(sql: str, ctx: Context, database: str | None = None) -> str:
    """Look at a slow query's plan and suggest indexes or rewrites."""
    try:
        plan = await explain_query(ctx, sql=sql, database=database, analyze=False)
        shown = plan.text
    except ToolError as exc:
        shown = f"(could not get a plan: {exc})"
    return (
        "This PostgreSQL query is slow. Read its plan, find the costly steps (sequential scans on large "
        "tables, nested loops over many rows, sorts spilling to disk), and suggest specific indexes "
        "(as CREATE INDEX statements) or rewrites. Use describe_object to see existing indexes first.\n\n"
        f"Query:\n{sql}\n\nPlan:\n{shown}"
    )
