"""The parser-based check: what kind of SQL a tool accepts, read off PostgreSQL's own grammar.

One layer of several (see server.py): execute_sql also runs in a read-only transaction
with a statement timeout, so a statement that slips past this check still cannot write.
This layer is what stops the things a read-only transaction does not: reading server
files, large objects (which PostgreSQL lets even a read-only transaction write), other
connections (dblink), session settings, advisory locks, signalling other backends, index
maintenance functions, and SQL smuggled inside strings for the server to run.

Every check names the rule that rejected the statement.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from pglast import ast, parse_sql
from pglast.parser import ParseError

from patchbay import ToolError

QUERY = (ast.SelectStmt,)
WRITES = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)
_DDL_PREFIXES = ("Create", "Alter", "Drop", "Truncate", "Rename", "Comment", "Grant", "Revoke", "Index", "Reindex")
_DDL_EXTRA = (
    "RefreshMatViewStmt",
    "ClusterStmt",
    "SecLabelStmt",
    "ViewStmt",
    "CompositeTypeStmt",
    "RuleStmt",
    "DefineStmt",
)

# Functions with side effects a read-only transaction does not stop, or that run SQL
# given as a string (which this check could not see).
_FORBIDDEN = {
    "set_config": "changes session settings",
    "nextval": "advances a sequence",
    "setval": "sets a sequence",
    "pg_notify": "sends notifications",
    "pg_stat_file": "reads server files",
    "pg_current_logfile": "reveals server files",
    "pg_reload_conf": "reloads the server configuration",
    "pg_rotate_logfile": "rotates the server log",
    "pg_promote": "promotes a standby",
    "pg_terminate_backend": "stops other sessions",
    "pg_cancel_backend": "cancels other sessions' queries",
    "pg_import_system_collations": "changes the catalog",
    "query_to_xml": "runs SQL given as a string",
    "query_to_xmlschema": "runs SQL given as a string",
    "query_to_xml_and_xmlschema": "runs SQL given as a string",
    "cursor_to_xml": "reads another cursor",
    "cursor_to_xmlschema": "reads another cursor",
    "ts_stat": "runs SQL given as a string",
    "ts_rewrite": "runs SQL given as a string",
    "pg_stat_statements_reset": "wipes query statistics",
    "brin_summarize_new_values": "changes an index",
    "brin_summarize_range": "changes an index",
    "brin_desummarize_range": "changes an index",
    "gin_clean_pending_list": "changes an index",
    "pg_rotate_logfile_old": "rotates the server log",
    "pg_nextoid": "assigns object ids",
    "setseed": "changes the session's random seed",
    "loread": "reads large objects",
    "lowrite": "writes large objects",
    **dict.fromkeys(
        [
            "lo_import",
            "lo_export",
            "lo_get",
            "lo_put",
            "lo_open",
            "lo_close",
            "lo_creat",
            "lo_create",
            "lo_unlink",
            "lo_from_bytea",
            "lo_lseek",
            "lo_lseek64",
            "lo_tell",
            "lo_tell64",
            "lo_truncate",
            "lo_truncate64",
        ],
        "reads or writes large objects (server files)",
    ),
    "txid_current": "assigns a transaction id",
    "pg_current_xact_id": "assigns a transaction id",
}
_FORBIDDEN_PREFIXES = {
    "pg_read_": "reads server files",
    "pg_ls_": "lists server directories",
    "pg_file_": "writes server files",
    "dblink": "opens connections to other databases",
    "postgres_fdw": "reaches foreign servers",
    "pg_logical_": "writes to the write-ahead log",
    "pg_replication_": "controls replication",
    "pg_create_": "creates server objects",
    "pg_drop_": "drops server objects",
    "pg_switch_": "controls the write-ahead log",
    "pg_backup_": "controls backups",
    "pg_wal_replay_": "controls recovery",
    "pg_advisory_": "takes advisory locks",
    "pg_try_advisory_": "takes advisory locks",
    "pg_stat_reset": "resets statistics",
    "pg_log_": "writes to the server log",
    "pg_copy_": "copies replication slots",
}


class Rejected(ToolError):
    """A statement the check refuses; the message says which rule and why."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"Rejected by the {rule} rule: {detail}")
        self.rule = rule


def parse_one(sql: str) -> ast.Node:
    """The single statement in `sql`.

    Raises:
        Rejected: a syntax error, or not exactly one statement.
    """
    if "\x00" in sql:
        raise Rejected("syntax", "the statement contains a NUL byte")
    try:
        statements = parse_sql(sql)
    except ParseError as exc:
        raise Rejected("syntax", f"{exc}") from None
    if len(statements) != 1:
        raise Rejected(
            "single-statement",
            f"found {len(statements)} statements; send exactly one (no ';'-separated batches)",
        )
    statement = statements[0].stmt
    assert statement is not None
    return statement


_ACCEPTED: OrderedDict[str, None] = OrderedDict()
"""Queries `check_query` accepted lately (each page of a result asks again; a verdict on the
same text never changes): at most _ACCEPTED_MAX of at most _ACCEPTED_CHARS characters."""
_ACCEPTED_MAX = 256
_ACCEPTED_CHARS = 4096


def check_query(sql: str) -> None:
    """Accept only one plain query (SELECT, VALUES, TABLE, WITH ... SELECT) free of side effects.

    Raises:
        Rejected: which rule the query breaks.
    """
    if sql in _ACCEPTED:
        _ACCEPTED.move_to_end(sql)
        return
    statement = parse_one(sql)
    if not isinstance(statement, QUERY):
        raise Rejected("plain-query", f"{_kind(statement)} is not a query; execute_sql runs only SELECT statements")
    _check_tree(statement)
    if len(sql) <= _ACCEPTED_CHARS:
        _ACCEPTED[sql] = None
        if len(_ACCEPTED) > _ACCEPTED_MAX:
            _ACCEPTED.popitem(last=False)


def check_explainable(sql: str, *, analyze: bool) -> None:
    """EXPLAIN takes a query or a data change; EXPLAIN ANALYZE (which runs it) only a plain query."""
    statement = parse_one(sql)
    if analyze:
        if not isinstance(statement, QUERY):
            raise Rejected(
                "explain-analyze",
                f"EXPLAIN ANALYZE runs the statement, and {_kind(statement)} changes data; use analyze=false",
            )
    elif not isinstance(statement, QUERY + WRITES):
        raise Rejected("explainable", f"{_kind(statement)} cannot be explained; explain a query or a data change")
    _check_tree(statement, allow_writes=not analyze)


def check_write(sql: str) -> ast.Node:
    """Accept one INSERT, UPDATE, DELETE or MERGE (no DDL, no session or server side effects)."""
    statement = parse_one(sql)
    if not isinstance(statement, WRITES):
        raise Rejected("data-change", f"{_kind(statement)} is not INSERT, UPDATE, DELETE or MERGE")
    target = statement.relation
    schema = (target.schemaname or "").lower() if target is not None else ""
    table = (target.relname or "").lower() if target is not None else ""
    if schema in ("pg_catalog", "information_schema") or (not schema and table.startswith("pg_")):
        # e.g. UPDATE pg_settings ... is a SET in disguise, and catalog edits change the server itself
        raise Rejected("data-change", f"{table} is a system catalog or view; change user tables only")
    _check_tree(statement, allow_writes=True)
    return statement


def check_ddl(sql: str) -> ast.Node:
    """Accept one schema change (CREATE, ALTER, DROP, TRUNCATE, COMMENT, GRANT, ...)."""
    statement = parse_one(sql)
    name = type(statement).__name__
    if not (name.startswith(_DDL_PREFIXES) or name in _DDL_EXTRA):
        raise Rejected(
            "schema-change", f"{_kind(statement)} is not a schema change (CREATE, ALTER, DROP, TRUNCATE ...)"
        )
    return statement


def _check_tree(statement: ast.Node, *, allow_writes: bool = False) -> None:
    for node in _walk(statement):
        if isinstance(node, ast.SelectStmt):
            if node.intoClause is not None:
                raise Rejected("plain-query", "SELECT ... INTO creates a table")
            if node.lockingClause:
                raise Rejected("plain-query", "FOR UPDATE/SHARE takes row locks")
        elif node is not statement and isinstance(node, WRITES) and not allow_writes:
            raise Rejected("plain-query", f"a {_kind(node)} inside the query (a data-modifying WITH) changes data")
        elif node is not statement and isinstance(node, ast.Node) and _is_statement(node):
            raise Rejected("plain-query", f"a nested {_kind(node)} is not allowed")
        for name in _called_names(node):
            reason = _forbidden(name)
            if reason is not None:
                raise Rejected("forbidden-function", f"{name}() {reason}")


def _called_names(node: Any) -> Iterator[str]:
    """Names that may call a function: f(x), schema.f(x), and the attribute notation x.f."""
    if isinstance(node, ast.FuncCall) and node.funcname:
        yield str(node.funcname[-1].sval)
    elif isinstance(node, ast.ColumnRef) and node.fields:
        for field in node.fields[1:]:
            if isinstance(field, ast.String):
                yield str(field.sval)
    elif isinstance(node, ast.A_Indirection):
        for item in node.indirection or ():
            if isinstance(item, ast.String):
                yield str(item.sval)


def _forbidden(name: str) -> str | None:
    lowered = name.lower()
    if lowered in _FORBIDDEN:
        return _FORBIDDEN[lowered]
    for prefix, reason in _FORBIDDEN_PREFIXES.items():
        if lowered.startswith(prefix):
            return reason
    return None


def _walk(node: Any) -> Iterator[Any]:
    """Every node below (and including) `node`, depth first."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, tuple | list):
            stack.extend(current)
            continue
        if not isinstance(current, ast.Node):
            continue
        yield current
        for attribute in getattr(type(current), "__slots__", ()):  # pglast lists a node's fields there
            value = getattr(current, attribute, None)
            if isinstance(value, ast.Node | tuple | list):
                stack.append(value)


def _is_statement(node: ast.Node) -> bool:
    return type(node).__name__.endswith("Stmt") and not isinstance(node, ast.SelectStmt | ast.RawStmt)


def _kind(statement: ast.Node) -> str:
    """A readable name for a statement type: CopyStmt -> COPY."""
    name = type(statement).__name__.removesuffix("Stmt")
    special = {"Select": "SELECT", "Variable Set": "SET", "VariableSet": "SET", "Transaction": "a transaction command"}
    if name in special:
        return special[name]
    words = "".join(f" {c}" if c.isupper() else c for c in name).strip().upper()
    return words
