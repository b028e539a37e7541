"""The DBOS drain check: a version's active workflows in the app's system database.

:class:`DbosDrainCheck` counts the rows of the app's DBOS system database table
``workflow_status`` with ``application_version = <version>`` and a status of
``PENDING``, ``ENQUEUED`` or ``DELAYED`` (the set DBOS itself calls *active*;
``DELAYED`` exists since dbos 2.16 and counting it on an older database simply finds
no rows).  When the table has an ``application_name`` column (dbos >= 2.30) and an
``app_name`` is configured, only rows of that app or of no app (NULL, unclaimed) count.

The reader is strictly read-only and never launches DBOS (a launch migrates):

* SQLite: the stdlib ``sqlite3`` module opens ``file:<path>?mode=ro`` as a URI,
  in autocommit mode with ``PRAGMA query_only``, one short connection per
  reading, so no transaction is held between polls and writers are never
  locked out for longer than one indexed ``COUNT``.  A reading that runs past
  ``statement_timeout_ms`` is interrupted.  The path must be absolute: DBOS
  resolves a relative one against the *app's* working directory.  The main
  file is never modified; on a WAL database SQLite itself opens (and, if
  missing, creates empty) ``-wal``/``-shm`` side files, so the reader needs
  access to them.
* PostgreSQL: psycopg 3, ``SET default_transaction_read_only = on`` and
  ``SET statement_timeout``, autocommit (each statement is its own short
  transaction), one connection per reading.  The schema (default ``dbos``) is
  quoted as an identifier.

Which columns exist is detected (``PRAGMA table_info`` / ``information_schema``)
instead of assuming a DBOS release, once per check object.  A zero it reads is
confirmed by :mod:`shipmate.engine.drain.evidence`.
"""

from __future__ import annotations

import math
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from shipmate.domain.extras import require
from shipmate.domain.redaction import redact_url
from shipmate.errors import ConfigError, DeployError, InvalidInputError

if TYPE_CHECKING:  # psycopg is imported only when a PostgreSQL check reads
    import psycopg

__all__ = [
    "ACTIVE_STATUSES",
    "DbosDrainCheck",
    "connect_postgres_readonly",
    "connect_sqlite_readonly",
    "postgres_reading",
    "sqlite_reading",
]

#: Workflow statuses DBOS treats as active (``workflow_is_active`` in dbos 3.x).
ACTIVE_STATUSES: Final[tuple[str, ...]] = ("PENDING", "ENQUEUED", "DELAYED")

_TABLE: Final = "workflow_status"
_REQUIRED_COLUMNS: Final = frozenset({"status", "application_version"})


def connect_sqlite_readonly(path: str | Path, *, timeout_ms: int = 5000) -> sqlite3.Connection:
    """Open a SQLite file read-only (``mode=ro`` URI, autocommit, ``query_only``).

    The file must exist (``mode=ro`` never creates it).  ``timeout_ms`` is the busy
    timeout: how long a reading waits for a writer that holds the file.
    """
    uri = Path(path).as_uri() + "?mode=ro"
    connection = sqlite3.connect(
        uri, uri=True, timeout=timeout_ms / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        connection.execute("PRAGMA query_only = ON")
    except sqlite3.Error:
        connection.close()
        raise
    return connection


def connect_postgres_readonly(
    url: str, *, timeout_ms: int = 5000
) -> psycopg.Connection[tuple[Any, ...]]:
    """Open a psycopg 3 connection whose transactions are read-only and time-limited.

    Autocommit, ``default_transaction_read_only = on``, ``statement_timeout`` and a
    connect timeout derived from ``timeout_ms``.
    """
    import psycopg
    from psycopg import sql

    connection = psycopg.connect(
        url,
        autocommit=True,
        connect_timeout=max(2, math.ceil(timeout_ms / 1000)),
        application_name="shipmate-drain",
    )
    try:
        connection.execute("SET default_transaction_read_only = on")
        connection.execute(
            sql.SQL("SET statement_timeout = {}").format(sql.Literal(int(timeout_ms)))
        )
    except BaseException:
        connection.close()
        raise
    return connection


def _libpq_url(url: str) -> str:
    """A SQLAlchemy-style PostgreSQL URL as libpq accepts it (driver suffix dropped)."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgresql+") else url


def _count_query(
    columns: frozenset[str], app_name: str | None, version: str
) -> tuple[str, list[str]]:
    """The WHERE clause body (``?`` placeholders) and its parameters: the active
    workflows of ``version``, of ``app_name`` (or of no app) when the table says."""
    marks = ", ".join("?" for _ in ACTIVE_STATUSES)
    where = f"application_version = ? AND status IN ({marks})"
    params = [version, *ACTIVE_STATUSES]
    if app_name is not None and "application_name" in columns:
        where += " AND (application_name = ? OR application_name IS NULL)"
        params.append(app_name)
    return where, params


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@contextmanager
def sqlite_reading(path: str, *, timeout_ms: int, where: str) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the SQLite file ``path`` for one reading.

    A statement running past ``timeout_ms`` (counted from now) is interrupted.  Failing
    to open or to read is a :class:`DeployError` on ``system_database_url`` whose message
    starts with ``where``; the connection is closed on the way out.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    try:
        connection = connect_sqlite_readonly(path, timeout_ms=timeout_ms)
    except sqlite3.Error as exc:
        raise DeployError(
            f"{where} cannot be opened read-only: {exc}", field="system_database_url"
        ) from exc
    try:
        connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        yield connection
    except sqlite3.Error as exc:
        if isinstance(exc, sqlite3.OperationalError) and "interrupted" in str(exc):
            message = f"{where}: reading took longer than {timeout_ms} ms"
        else:
            message = f"{where} cannot be read: {exc}"
        raise DeployError(message, field="system_database_url") from exc
    finally:
        connection.close()


@contextmanager
def postgres_reading(
    url: str, *, timeout_ms: int, where: str
) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A read-only connection to the PostgreSQL database ``url`` for one reading.

    ``url`` may be SQLAlchemy-style (``postgresql+psycopg://``).  Failing to connect, a
    statement past ``timeout_ms`` or failing to read is a :class:`DeployError` on
    ``system_database_url`` whose message starts with ``where``; the connection is
    closed on the way out.
    """
    require("psycopg", needed_for=where, field="system_database_url")
    import psycopg

    try:
        connection = connect_postgres_readonly(_libpq_url(url), timeout_ms=timeout_ms)
    except psycopg.Error as exc:
        raise DeployError(
            f"{where} cannot be reached: {_one_line(exc)}", field="system_database_url"
        ) from exc
    try:
        yield connection
    except psycopg.errors.QueryCanceled as exc:
        raise DeployError(
            f"{where}: reading took longer than {timeout_ms} ms", field="system_database_url"
        ) from exc
    except psycopg.Error as exc:
        raise DeployError(
            f"{where} cannot be read: {_one_line(exc)}", field="system_database_url"
        ) from exc
    finally:
        connection.close()


class DbosDrainCheck:
    """Counts a version's active workflows in a DBOS system database, read-only."""

    def __init__(
        self,
        system_database_url: str,
        *,
        schema: str = "dbos",
        app_name: str | None = None,
        statement_timeout_ms: int = 5000,
    ) -> None:
        if not isinstance(system_database_url, str) or not system_database_url.strip():
            raise ConfigError(
                "system_database_url must be a non-empty database URL",
                field="system_database_url",
            )
        if not isinstance(schema, str) or not schema or "\x00" in schema:
            raise ConfigError(
                "schema must be a non-empty name without NUL characters", field="schema"
            )
        if app_name is not None and (not isinstance(app_name, str) or not app_name):
            raise ConfigError("app_name must be a non-empty string when given", field="app_name")
        if (
            isinstance(statement_timeout_ms, bool)
            or not isinstance(statement_timeout_ms, int)
            or statement_timeout_ms < 1
        ):
            raise ConfigError(
                "statement_timeout_ms must be a positive integer (milliseconds)",
                field="statement_timeout_ms",
            )
        self.url = system_database_url.strip()
        self.schema = schema
        self.app_name = app_name
        self.statement_timeout_ms = statement_timeout_ms
        self._columns: frozenset[str] | None = None
        self._sqlite_path: str | None = None
        scheme = self.url.split("://", 1)[0].lower() if "://" in self.url else ""
        if scheme == "sqlite" or scheme.startswith("sqlite+"):
            self.dialect: Literal["sqlite", "postgresql"] = "sqlite"
            self._sqlite_path = self._parse_sqlite_path(self.url)
        elif scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
            self.dialect = "postgresql"
        else:
            raise ConfigError(
                f"system_database_url must be a sqlite:/// or postgresql:// URL, not {scheme or self.url!r}",
                field="system_database_url",
            )

    @staticmethod
    def _parse_sqlite_path(url: str) -> str:
        rest = url.split("://", 1)[1]
        if not rest.startswith("/"):
            raise ConfigError(
                "system_database_url for SQLite must be sqlite:////absolute/path.sqlite (no host)",
                field="system_database_url",
            )
        path = urllib.parse.unquote(rest[1:].split("?", 1)[0])
        if not path or path == ":memory:":
            raise ConfigError(
                "system_database_url names no SQLite file; an in-memory database cannot be read",
                field="system_database_url",
            )
        if not Path(path).is_absolute():
            raise ConfigError(
                f"system_database_url must name an absolute SQLite path (sqlite:////abs/{path}): "
                "DBOS resolves a relative path against the app's working directory",
                field="system_database_url",
            )
        return path

    def describe(self) -> str:
        scope = f", app {self.app_name}" if self.app_name else ""
        if self.dialect == "sqlite":
            return f"dbos workflows in SQLite {self._sqlite_path} (read-only{scope})"
        return (
            f"dbos workflows in PostgreSQL {redact_url(self.url)} schema {self.schema} "
            f"(read-only{scope})"
        )

    @property
    def columns(self) -> frozenset[str] | None:
        """The ``workflow_status`` columns found by the first successful reading."""
        return self._columns

    def pending(self, version: str) -> int:
        return sum(self.pending_by_status(version).values())

    def pending_by_status(self, version: str) -> dict[str, int]:
        """Active workflows of ``version`` per status (statuses with none are absent)."""
        if not isinstance(version, str) or not version:
            raise InvalidInputError("version must be a non-empty string", field="version")
        if self.dialect == "sqlite":
            return self._sqlite_counts(version)
        return self._postgres_counts(version)

    def _check_columns(self, columns: frozenset[str], where: str) -> frozenset[str]:
        if not columns:
            raise DeployError(
                f"{where} has no table {_TABLE}: is it the app's DBOS system database?",
                field="system_database_url",
            )
        missing = _REQUIRED_COLUMNS - columns
        if missing:
            raise DeployError(
                f"{where}: table {_TABLE} lacks column(s) {', '.join(sorted(missing))}; "
                "not a DBOS system database shipmate can read",
                field="system_database_url",
            )
        return columns

    # -- SQLite

    def _sqlite_counts(self, version: str) -> dict[str, int]:
        assert self._sqlite_path is not None
        path = self._sqlite_path
        where = f"SQLite system database {path}"
        if not Path(path).is_file():
            raise DeployError(
                f"{where} does not exist (or is not a file)", field="system_database_url"
            )
        with sqlite_reading(path, timeout_ms=self.statement_timeout_ms, where=where) as connection:
            if self._columns is None:
                rows = connection.execute(f"PRAGMA table_info({_TABLE})").fetchall()
                self._columns = self._check_columns(frozenset(str(r[1]) for r in rows), where)
            clause, params = _count_query(self._columns, self.app_name, version)
            result = connection.execute(
                f"SELECT status, COUNT(*) FROM {_TABLE} WHERE {clause} GROUP BY status", params
            ).fetchall()
        return {str(status): int(count) for status, count in result}

    # -- PostgreSQL

    def _postgres_counts(self, version: str) -> dict[str, int]:
        from psycopg import sql

        where = f"PostgreSQL system database {redact_url(self.url)} (schema {self.schema})"
        timeout_ms = self.statement_timeout_ms
        with postgres_reading(self.url, timeout_ms=timeout_ms, where=where) as connection:
            if self._columns is None:
                rows = connection.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s",
                    (self.schema, _TABLE),
                ).fetchall()
                self._columns = self._check_columns(frozenset(str(r[0]) for r in rows), where)
            clause, params = _count_query(self._columns, self.app_name, version)
            query = sql.SQL("SELECT status, COUNT(*) FROM {} WHERE {} GROUP BY status").format(
                sql.Identifier(self.schema, _TABLE), sql.SQL(clause.replace("?", "%s"))
            )
            result = connection.execute(query, params).fetchall()
        return {str(status): int(count) for status, count in result}
