"""The raw-SQL baselines' connection: the DB-API driver, no SQLAlchemy, same settings.

A baseline must do the same work as the service it is compared with, minus the
service layer, and nothing else may differ.  So SQLite connections get exactly
the pragmas ``shipmate.store.engine`` sets (WAL, ``busy_timeout`` 30 s, foreign
keys, ``synchronous=FULL``) and write transactions open with ``BEGIN
IMMEDIATE``; PostgreSQL connections are psycopg 3 with the same connect
arguments, one implicit transaction per unit of work.  Values are converted to
what SQLAlchemy would have stored (naive-UTC text times on SQLite, ``json`` text).

SQL is written with ``?`` placeholders; the PostgreSQL side rewrites them to
``%s``.  Keep ``?`` out of string literals in baseline SQL.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import make_url

from shipmate.store.engine import SQLITE_BUSY_TIMEOUT_MS, normalize_url

__all__ = ["RawConnection"]


class RawConnection:
    """One DB-API connection to a shipmate database, SQLite or PostgreSQL."""

    def __init__(self, url: str) -> None:
        normalized = normalize_url(url)
        self.backend = "sqlite" if normalized.startswith("sqlite") else "postgres"
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None
        if self.backend == "sqlite":
            database = make_url(normalized).database
            assert database, "a SQLite baseline needs a database file"
            conn = sqlite3.connect(
                database,
                timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            self._sqlite = conn
        else:
            import psycopg

            self._pg = psycopg.connect(
                normalized.replace("postgresql+psycopg://", "postgresql://"),
                connect_timeout=10,
                application_name="shipmate-bench-raw",
            )

    def begin(self) -> None:
        """Open a write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        if self._sqlite is not None:
            self._sqlite.execute("BEGIN IMMEDIATE")
        # psycopg opens a transaction implicitly on the first statement.

    def commit(self) -> None:
        if self._sqlite is not None:
            self._sqlite.execute("COMMIT")
        else:
            self._pg.commit()

    def rollback(self) -> None:
        if self._sqlite is not None:
            if self._sqlite.in_transaction:
                self._sqlite.execute("ROLLBACK")
        else:
            self._pg.rollback()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; return its rows (empty for statements without any)."""
        if self._sqlite is not None:
            cursor = self._sqlite.execute(sql, params)
            rows = cursor.fetchall()
            cursor.close()
            return rows
        cur = self._pg.execute(sql.replace("?", "%s"), params)
        return list(cur.fetchall()) if cur.description is not None else []

    def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        rows = self.execute(sql, params)
        return rows[0][0] if rows else None

    def time(self, value: datetime) -> Any:
        """A UTC time as the column stores it."""
        if self._sqlite is not None:
            return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    def json(self, value: dict[str, Any]) -> Any:
        """A JSON column value."""
        if self._sqlite is not None:
            return json.dumps(value)
        from psycopg.types.json import Json

        return Json(value)

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        elif self._pg is not None:
            self._pg.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
