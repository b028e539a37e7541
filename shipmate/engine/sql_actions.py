"""SQL release actions: a script run in ONE transaction on the database a reference names.

The database is named by *reference*: ``database_ref`` is the name of a variable
of the action's environment holding the URL (``sqlite:///app.db``,
``postgresql://user:pw@host/db``; a SQLAlchemy driver suffix such as
``+psycopg`` is accepted).  The whole script runs in ONE transaction: on SQLite
with the standard library's ``sqlite3`` (``BEGIN IMMEDIATE``, one statement at a
time; ``executescript`` would commit on its own), on PostgreSQL with psycopg
(statements split as :mod:`shipmate.engine.sql_statements` says).  DDL is
transactional on both, so a failing statement leaves nothing of the script behind.
A script that contains its own ``BEGIN``/``COMMIT``/``ROLLBACK``/``SAVEPOINT`` is
refused before it runs: it would break that guarantee.  Errors carry the
database's own message and the number of the failing statement; the URL's
password is never printed (outputs and errors name the database as ``postgresql
database app on 127.0.0.1:5432``).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from shipmate.domain.extras import require
from shipmate.engine.action_outcome import ActionOutcome, ms_since
from shipmate.engine.sql_statements import (
    find_transaction_control,
    split_statements,
    statement_excerpt,
)

__all__ = ["DatabaseTarget", "parse_database_url", "run_sql"]


@dataclass(frozen=True)
class DatabaseTarget:
    """A parsed database URL.  ``label`` names it without any secret."""

    dialect: str  # "sqlite" or "postgresql"
    label: str
    path: str | None = None  # SQLite
    conninfo: str | None = None  # PostgreSQL (holds the password: never print it)
    password: str | None = None

    def scrub(self, text: str) -> str:
        """``text`` with the password (if any) replaced by ``***``."""
        if self.password:
            return text.replace(self.password, "***")
        return text


def parse_database_url(url_text: str, *, ref: str) -> DatabaseTarget:
    """Parse the URL a database reference holds; ValueError (without the URL) if it is bad."""
    text = url_text.strip()
    if text.startswith("postgres://"):
        text = "postgresql://" + text[len("postgres://") :]
    try:
        url: URL = make_url(text)
    except ArgumentError:
        raise ValueError(
            f"the environment variable {ref} does not hold a database URL "
            "(expected sqlite:///path or postgresql://user@host/db)"
        ) from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            raise ValueError(
                f"the SQLite URL in {ref} must name a database file (sqlite:///path/app.db)"
            )
        path = str(Path(database).expanduser())
        return DatabaseTarget("sqlite", f"sqlite database {path}", path=path)
    if backend == "postgresql":
        plain = url.set(drivername="postgresql")
        conninfo = plain.render_as_string(hide_password=False)
        where = url.host or "local socket"
        if url.port:
            where += f":{url.port}"
        label = f"postgresql database {url.database or url.username or '?'} on {where}"
        return DatabaseTarget(
            "postgresql", label, conninfo=conninfo, password=str(url.password or "") or None
        )
    raise ValueError(
        f"the database in {ref} is {backend!r}; SQL actions run on sqlite or postgresql "
        "(use a shell action with your database's client for others)"
    )


def run_sql(
    script: str,
    *,
    database_ref: str,
    env: Mapping[str, str],
    timeout: float,
) -> ActionOutcome:
    """Run ``script`` in one transaction on the database ``env[database_ref]`` names."""
    started = time.monotonic()

    def failed(error: str, output: str = "") -> ActionOutcome:
        return ActionOutcome(ok=False, output=output, error=error, duration_ms=ms_since(started))

    url_text = env.get(database_ref, "")
    if not url_text.strip():
        return failed(
            f"database_ref {database_ref}: the environment variable {database_ref} is not set; "
            "it must hold the database URL (sqlite:///path or postgresql://user@host/db)"
        )
    try:
        target = parse_database_url(url_text, ref=database_ref)
    except ValueError as exc:
        return failed(f"database_ref {database_ref}: {exc}")
    statements = split_statements(script, target.dialect)
    if not statements:
        return failed("the SQL script holds no statements")
    control = find_transaction_control(statements)
    if control is not None:
        return failed(
            f"the SQL script controls its own transaction ({statement_excerpt(control)!r}); "
            "shipmate runs each SQL action in one transaction of its own: remove "
            "BEGIN/COMMIT/ROLLBACK"
        )
    runner: Callable[[DatabaseTarget, list[str], float], tuple[list[str], str | None]]
    runner = _run_sqlite if target.dialect == "sqlite" else _run_postgres
    lines, error = runner(target, statements, timeout)
    output = target.scrub("\n".join(lines))
    if error is not None:
        return failed(target.scrub(error), output)
    return ActionOutcome(ok=True, output=output, duration_ms=ms_since(started))


def _opening_line(target: DatabaseTarget, statements: list[str]) -> str:
    return f"{target.label}: {len(statements)} statement(s) in one transaction"


def _statement_line(number: int, statement: str, rows: int = -1) -> str:
    """The log line of one statement, with its row count when the database gives one."""
    suffix = f" ({rows} row{'s' if rows != 1 else ''})" if rows >= 0 else ""
    return f"statement {number}: {statement_excerpt(statement)}{suffix}"


def _run_statements(
    target: DatabaseTarget,
    statements: list[str],
    lines: list[str],
    *,
    execute: Callable[[str], int],
    errors: tuple[type[Exception], ...],
    abort: Callable[[Exception], str],
) -> str | None:
    """Run the statements in order, logging each with its row count (``execute`` returns it).

    The first one raising one of ``errors`` stops them: ``abort`` rolls the transaction
    back and says why it failed; the error names the statement.  None: all ran.
    """
    total = len(statements)
    for number, statement in enumerate(statements, start=1):
        try:
            rows = execute(statement)
        except errors as exc:
            message = abort(exc)
            lines.append(_statement_line(number, statement))
            return (
                f"statement {number} of {total} failed on {target.label}: {message} "
                "(rolled back: nothing of this script was applied)"
            )
        lines.append(_statement_line(number, statement, rows))
    return None


def _run_sqlite(
    target: DatabaseTarget, statements: list[str], timeout: float
) -> tuple[list[str], str | None]:
    assert target.path is not None
    lines = [_opening_line(target, statements)]
    deadline = time.monotonic() + timeout
    try:
        conn = sqlite3.connect(target.path, timeout=min(timeout, 30.0), isolation_level=None)
    except sqlite3.Error as exc:
        return lines, f"cannot open {target.label}: {exc}"
    try:
        conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            return lines, f"cannot start a transaction on {target.label}: {exc}"

        def abort(exc: Exception) -> str:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            message = str(exc)
            if message == "interrupted" and time.monotonic() > deadline:
                message = f"did not finish within {timeout:g} s"
            return message

        error = _run_statements(
            target,
            statements,
            lines,
            execute=lambda statement: conn.execute(statement).rowcount,
            errors=(sqlite3.Error,),
            abort=abort,
        )
        if error is not None:
            return lines, error
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            return lines, f"commit failed on {target.label}: {exc} (rolled back)"
        lines.append("committed")
        return lines, None
    finally:
        conn.close()


def _pg_message(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    lines = str(exc).strip().splitlines()
    text = str(primary or (lines[0] if lines else type(exc).__name__))
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate:
        text += f" (SQLSTATE {sqlstate})"
    detail = getattr(diag, "message_detail", None) if diag is not None else None
    hint = getattr(diag, "message_hint", None) if diag is not None else None
    if detail:
        text += f"; {detail}"
    if hint:
        text += f"; hint: {hint}"
    return text


def _run_postgres(
    target: DatabaseTarget, statements: list[str], timeout: float
) -> tuple[list[str], str | None]:
    require("psycopg", needed_for=f"the SQL action on {target.label}")
    import psycopg

    assert target.conninfo is not None
    lines = [_opening_line(target, statements)]
    deadline = time.monotonic() + timeout
    try:
        conn = psycopg.connect(
            target.conninfo, autocommit=False, connect_timeout=max(2, int(min(timeout, 30)))
        )
    except psycopg.Error as exc:
        return lines, f"cannot connect to {target.label}: {_pg_message(exc)}"
    try:
        conn.add_notice_handler(
            lambda diag: lines.append(f"{diag.severity or 'NOTICE'}: {diag.message_primary}")
        )

        def execute(statement: str) -> int:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                raise TimeoutError
            conn.execute(f"SET LOCAL statement_timeout = {max(1, remaining_ms)}")
            return conn.execute(statement).rowcount

        def abort(exc: Exception) -> str:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
            if isinstance(exc, TimeoutError):
                return f"did not finish within {timeout:g} s"
            return _pg_message(exc)

        error = _run_statements(
            target,
            statements,
            lines,
            execute=execute,
            errors=(psycopg.Error, TimeoutError),
            abort=abort,
        )
        if error is not None:
            return lines, error
        try:
            conn.commit()
        except psycopg.Error as exc:
            return lines, f"commit failed on {target.label}: {_pg_message(exc)} (rolled back)"
        lines.append("committed")
        return lines, None
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.close()
