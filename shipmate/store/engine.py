"""The engine factory: every dialect difference lives here and nowhere else.

SQLite gets WAL, a busy timeout, foreign keys, and ``BEGIN IMMEDIATE`` for write
transactions (so two writers queue on the lock instead of failing on upgrade from
a read lock to a write lock).  PostgreSQL goes through psycopg 3 with a
pre-pinged pool.  Both are watched by :mod:`shipmate.store.outage`: a database
that cannot be reached raises ``DatabaseUnavailableError`` (503 in the API).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from shipmate.domain.extras import require
from shipmate.domain.redaction import redact_url
from shipmate.errors import RETRY_AFTER_SECONDS, ConfigError, DatabaseUnavailableError
from shipmate.store.decoding import load_stored_json
from shipmate.store.outage import sqlite_locked, sqlite_unavailable, watch

__all__ = ["WRITE", "make_engine", "normalize_url"]

#: Execution options that mark a connection as a writer (``BEGIN IMMEDIATE`` on SQLite).
WRITE: dict[str, Any] = {"shipmate_write": True}

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str) -> str:
    """Accept ``postgresql://``, ``postgres://`` and ``sqlite:///path``; pick psycopg 3."""
    text = url.strip()
    if text.startswith("postgres://"):
        text = "postgresql://" + text[len("postgres://") :]
    if text.startswith("postgresql://"):
        text = "postgresql+psycopg://" + text[len("postgresql://") :]
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ConfigError(
            f"database_url {redact_url(url)!r} is not a database URL "
            "(use sqlite:///path/to/file.db or postgresql://user@host/db)",
            field="database_url",
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"database_url uses {parsed.get_backend_name()!r}; shipmate supports sqlite and "
            "postgresql",
            field="database_url",
        )
    if parsed.get_backend_name() == "postgresql" and parsed.drivername != "postgresql+psycopg":
        raise ConfigError(
            "database_url: PostgreSQL is reached through psycopg 3; "
            "write the URL as postgresql://...",
            field="database_url",
        )
    return text


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """Build an engine for ``url`` with shipmate's connection settings."""
    text = normalize_url(url)
    if text.startswith("sqlite"):
        return _sqlite_engine(text)
    require("psycopg", needed_for="PostgreSQL (database_url)", field="database_url")
    engine = create_engine(
        text,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        connect_args={"connect_timeout": 10, "application_name": "shipmate"},
        json_deserializer=load_stored_json,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Times come back in the session's zone; in UTC, psycopg hands back datetimes
        # already in datetime.UTC and the hot reads skip a conversion per value.  (A
        # pooler that drops session settings only costs that conversion again.)
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.commit()

    watch(engine)
    return engine


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).expanduser()
        folder = path.parent
        try:
            if not folder.exists():
                # Private: the folder and file hold key hashes and the deployment record.
                folder.mkdir(parents=True, exist_ok=True)
                folder.chmod(0o700)
            # Created 0600 before SQLite opens it (its -wal and -shm files copy the mode).
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError as exc:
            raise ConfigError(
                f"database_url: cannot create {exc.filename or folder}: {exc.strerror}",
                field="database_url",
            ) from None
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        # Every transaction is ended explicitly (Context.write/read commit or roll back),
        # so the pool's extra ROLLBACK on return is pure overhead.
        pool_reset_on_return=None,
        json_deserializer=load_stored_json,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk when it returns (WAL with NORMAL may lose the last
        # commits on power loss, and "an accepted write is durable" is a promise).
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    outage = watch(engine)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Straight on the driver's connection: through exec_driver_sql this one word
        # cost a third of a warm history read.
        begin = "BEGIN IMMEDIATE" if conn.get_execution_options().get("shipmate_write") else "BEGIN"
        try:
            conn.connection.dbapi_connection.execute(begin)
        except sqlite3.Error as exc:
            # Raised from an event, so SQLAlchemy's handle_error never sees it: e.g.
            # "database is locked" after the busy timeout is an unavailable database.
            reason = sqlite_unavailable(exc)
            if reason is None:
                raise OperationalError(begin, (), exc) from exc
            outage.failed(reason, writes_only=sqlite_locked(exc))
            raise DatabaseUnavailableError(reason, retry_after=RETRY_AFTER_SECONDS) from exc

    return engine
