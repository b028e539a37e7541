"""The SQL a service call really runs, and whether its query plans use indexes.

:func:`capture` records every statement an engine sends to the driver while a
callable runs (a SQLAlchemy ``before_cursor_execute`` listener), with the exact
driver parameters, so the same SQL can be replayed on a raw connection (the
benchmarks' baseline) or explained (``tests/test_explain.py``).

:func:`explain` asks the database for the plan of one captured ``SELECT``:

* SQLite: ``EXPLAIN QUERY PLAN``; a step that reads a guarded table is ``SEARCH
  <table> USING ...`` when it seeks an index (or the rowid) and ``SCAN <table>``
  (possibly ``USING [COVERING] INDEX``) when it reads all of it: a ``SCAN`` of a
  guarded table is a problem.
* PostgreSQL: ``EXPLAIN (FORMAT JSON)`` with sequential scans, hash joins and
  merge joins off for the transaction (:data:`SMALL_TABLE_STRATEGIES`): on a
  test table of a few thousand rows the planner may rightly prefer to read it
  all (a ``Seq Scan``, or a hash join fed by a whole index), which it would not
  do at a million rows.  With those off, a ``Seq Scan`` still chosen means no
  index can serve the query; a guarded table read by an ``Index Scan`` or
  ``Index Only Scan`` without an ``Index Cond`` (the whole index walked) is a
  problem too.  A ``Bitmap Heap Scan`` is fine (its ``Bitmap Index Scan`` has a
  condition).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, event

__all__ = [
    "GUARDED",
    "SMALL_TABLE_STRATEGIES",
    "Plan",
    "Statement",
    "capture",
    "explain",
    "explain_all",
    "is_query",
]

#: Tables that grow with the history and must never be read in full by a hot query.
GUARDED = ("deployments", "events")

#: PostgreSQL plan strategies turned off (for the transaction) while explaining: each
#: is the right choice for a table of a few thousand rows and reads all of it.
SMALL_TABLE_STRATEGIES = ("enable_seqscan", "enable_hashjoin", "enable_mergejoin")


@dataclass(frozen=True)
class Statement:
    """One statement as the driver received it."""

    sql: str
    params: Any

    @property
    def first_line(self) -> str:
        return " ".join(self.sql.split())[:160]


@dataclass(frozen=True)
class Plan:
    """A statement's plan: its readable lines and the problems found in it."""

    statement: Statement
    lines: tuple[str, ...]
    problems: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        return f"{self.statement.first_line}\n    " + "\n    ".join(self.lines)


_QUERY = re.compile(r"^\s*(WITH|SELECT)\b", re.IGNORECASE)
_LOCKS = re.compile(r"pg_advisory|pg_try_advisory", re.IGNORECASE)


def is_query(sql: str) -> bool:
    """A read the planner can explain (not a lock call, not a write)."""
    return bool(_QUERY.match(sql)) and not _LOCKS.search(sql)


@contextmanager
def capture(engine: Engine) -> Iterator[list[Statement]]:
    """``with capture(engine) as seen: service(...)``: ``seen`` lists what ran."""
    seen: list[Statement] = []

    def listener(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        seen.append(Statement(statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def explain(conn: Connection, statement: Statement, guarded: tuple[str, ...] = GUARDED) -> Plan:
    """The plan of one captured query on ``conn`` (see the module docstring)."""
    if conn.dialect.name == "sqlite":
        return _explain_sqlite(conn, statement, guarded)
    return _explain_postgres(conn, statement, guarded)


def explain_all(
    engine: Engine, statements: list[Statement], guarded: tuple[str, ...] = GUARDED
) -> list[Plan]:
    """Plans of every query among ``statements``, in one read transaction."""
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            for setting in SMALL_TABLE_STRATEGIES:
                conn.exec_driver_sql(f"SET LOCAL {setting} = off")
        return [explain(conn, s, guarded) for s in statements if is_query(s.sql)]


def _explain_sqlite(conn: Connection, statement: Statement, guarded: tuple[str, ...]) -> Plan:
    rows = conn.exec_driver_sql(
        "EXPLAIN QUERY PLAN " + statement.sql, _driver_params(statement.params)
    ).all()
    lines = tuple(str(r[3]) for r in rows)
    problems = []
    for line in lines:
        match = re.match(r"^SCAN (\w+)", line)
        if match and match.group(1) in guarded:
            problems.append(f"reads all of {match.group(1)}: {line}")
    return Plan(statement, lines, tuple(problems))


def _explain_postgres(conn: Connection, statement: Statement, guarded: tuple[str, ...]) -> Plan:
    raw = conn.exec_driver_sql(
        "EXPLAIN (FORMAT JSON) " + statement.sql, _driver_params(statement.params)
    ).scalar_one()
    document = json.loads(raw) if isinstance(raw, str) else raw
    root = document[0]["Plan"]
    lines: list[str] = []
    problems: list[str] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        kind = node.get("Node Type", "?")
        relation = node.get("Relation Name")
        index = node.get("Index Name")
        condition = node.get("Index Cond")
        text = kind
        if relation:
            text += f" on {relation}"
        if index:
            text += f" using {index}"
        if condition:
            text += f" ({condition})"
        elif node.get("Filter"):
            text += f" filter {node['Filter']}"
        lines.append("  " * depth + text)
        if relation in guarded:
            if kind == "Seq Scan":
                problems.append(f"reads all of {relation}: {text}")
            elif kind in ("Index Scan", "Index Only Scan") and not condition:
                problems.append(f"walks all of an index of {relation}: {text}")
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    walk(root, 0)
    return Plan(statement, tuple(lines), tuple(problems))


def _driver_params(params: Any) -> Any:
    # SQLite receives a tuple (qmark); psycopg a dict (pyformat).  exec_driver_sql
    # passes them through to the driver unchanged.
    if isinstance(params, list):
        return tuple(params)
    return params


def run_captured(dbapi_connection: Any, statements: list[Statement]) -> list[list[Any]]:
    """Replay captured queries on a raw DB-API connection; return every row fetched."""
    out = []
    for s in statements:
        cursor = dbapi_connection.cursor()
        cursor.execute(s.sql, s.params)
        out.append(cursor.fetchall())
        cursor.close()
    return out


Replayer = Callable[[], list[list[Any]]]
