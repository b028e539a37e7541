"""Running one release action: a shell command or script, or a SQL script.

:class:`LocalActionRunner` is the real :class:`ActionRunner`.  It never raises for a
failing action: every outcome (exit status, database error, timeout, a database
reference that is not set) comes back as an :class:`ActionOutcome`, so the caller
records it and stops the walk.

Shell actions
-------------
The body runs through ``/bin/sh -c`` in its own process group, with exactly the
environment it is given (the caller builds it: the step's ``SHIPMATE_DEP_*`` flags
and versions, the app's configured variables, the inherited environment without
shipmate's own ``SHIPMATE_*`` settings).  A body starting with ``#!`` is a script:
it is written to a private temporary file and executed, so its interpreter line
counts.  stdout and stderr are captured together, bounded to
:data:`MAX_OUTPUT_BYTES` (the first :data:`HEAD_BYTES` and the rest from the end,
with a marker saying how much was left out).  After ``timeout`` seconds the
process group gets SIGTERM, then SIGKILL five seconds later.

SQL actions
-----------
The database is named by *reference*: ``database_ref`` is the name of a variable
of the action's environment holding the URL (``sqlite:///app.db``,
``postgresql://user:pw@host/db``; a SQLAlchemy driver suffix such as
``+psycopg`` is accepted).  The whole script runs in ONE transaction: on SQLite
with the standard library's ``sqlite3`` (``BEGIN IMMEDIATE``, one statement at a
time, split where :func:`sqlite3.complete_statement` says a statement ends, so
trigger bodies stay whole; ``executescript`` would commit on its own), on
PostgreSQL with psycopg (statements split on top-level semicolons, quotes,
comments and ``$tag$`` bodies respected).  DDL is transactional on both, so a
failing statement leaves nothing of the script behind.  A script that contains its
own ``BEGIN``/``COMMIT``/``ROLLBACK``/``SAVEPOINT`` is refused before it runs: it
would break that guarantee.  Errors carry the database's own message and the
number of the failing statement; the URL's password is never printed (outputs and
errors name the database as ``postgresql database app on 127.0.0.1:5432``).
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from shipmate.domain.releases.planning import ActionKind, ReleaseAction

__all__ = [
    "HEAD_BYTES",
    "MAX_OUTPUT_BYTES",
    "ActionOutcome",
    "ActionRunner",
    "DatabaseTarget",
    "LocalActionRunner",
    "find_transaction_control",
    "parse_database_url",
    "run_shell",
    "run_sql",
    "split_postgres_statements",
    "split_sqlite_statements",
]

#: Most output kept per action (bytes, before decoding).
MAX_OUTPUT_BYTES = 64 * 1024
#: How much of the start of the output is kept when it is longer than the limit.
HEAD_BYTES = 8 * 1024
#: Seconds between SIGTERM and SIGKILL for a shell action that ran out of time.
KILL_GRACE_SECONDS = 5.0
#: Seconds output is still read after the shell exited (children may hold the pipe).
DRAIN_AFTER_EXIT_SECONDS = 2.0

_TRANSACTION_WORDS = frozenset(
    {"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "START", "ABORT"}
)
_WORD = re.compile(r"[A-Za-z_]+")


@dataclass(frozen=True)
class ActionOutcome:
    """What one action did.  ``error`` is one line for people; ``output`` its log."""

    ok: bool
    output: str
    error: str | None = None
    exit_code: int | None = None
    timed_out: bool = False
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "output": self.output,
            "error": self.error,
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            "duration_ms": round(self.duration_ms, 3),
        }


class ActionRunner(Protocol):
    """Runs one action; returns its outcome, never raises for the action's own failure."""

    def run(
        self,
        action: ReleaseAction,
        *,
        env: Mapping[str, str],
        timeout: float,
        cwd: str | None = None,
    ) -> ActionOutcome: ...


class LocalActionRunner:
    """Shell actions as local processes, SQL actions on their database (see module doc)."""

    def run(
        self,
        action: ReleaseAction,
        *,
        env: Mapping[str, str],
        timeout: float,
        cwd: str | None = None,
    ) -> ActionOutcome:
        if action.kind is ActionKind.SHELL:
            return run_shell(action.body, env=env, timeout=timeout, cwd=cwd)
        assert action.database_ref is not None  # ReleaseAction guarantees it for SQL
        return run_sql(action.body, database_ref=action.database_ref, env=env, timeout=timeout)


# -- shell ------------------------------------------------------------------------------


class _BoundedOutput:
    """Keeps the first ``head`` bytes and the last ``limit - head`` bytes."""

    def __init__(self, limit: int = MAX_OUTPUT_BYTES, head: int = HEAD_BYTES) -> None:
        self._head_limit = head
        self._tail_limit = limit - head
        self._head = bytearray()
        self._tail = bytearray()
        self._dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self._tail += chunk
        excess = len(self._tail) - self._tail_limit
        if excess > 0:
            del self._tail[:excess]
            self._dropped += excess

    def text(self) -> str:
        head = self._head.decode("utf-8", errors="replace")
        tail = self._tail.decode("utf-8", errors="replace")
        if self._dropped:
            return f"{head}\n… {self._dropped} bytes of output left out …\n{tail}"
        return head + tail


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE_SECONDS)
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE_SECONDS)


def _collect(proc: subprocess.Popen[bytes], timeout: float) -> tuple[str, bool]:
    """Read the merged output until EOF (or shortly after exit); kill on timeout."""
    assert proc.stdout is not None
    out = _BoundedOutput()
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    deadline = time.monotonic() + timeout
    exited_at: float | None = None
    timed_out = False
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        eof = False
        while not eof:
            now = time.monotonic()
            if proc.poll() is not None:
                if exited_at is None:
                    exited_at = now
                elif now - exited_at >= DRAIN_AFTER_EXIT_SECONDS:
                    break
            elif now >= deadline:
                timed_out = True
                break
            for _key, _events in selector.select(timeout=0.1):
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    eof = True
                    break
                out.add(chunk)
    if not timed_out:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
    if timed_out:
        _kill_group(proc)
        with contextlib.suppress(OSError):
            while chunk := os.read(fd, 65536):
                out.add(chunk)
    proc.stdout.close()
    return out.text(), timed_out


def run_shell(
    body: str,
    *,
    env: Mapping[str, str],
    timeout: float,
    cwd: str | None = None,
) -> ActionOutcome:
    """Run a command (``sh -c``) or a ``#!`` script with ``env``; see the module doc."""
    started = time.monotonic()
    script: str | None = None
    try:
        if body.startswith("#!"):
            handle, script = tempfile.mkstemp(prefix="shipmate-action-", suffix=".sh")
            with os.fdopen(handle, "w", encoding="utf-8") as f:
                f.write(body)
            os.chmod(script, 0o700)
            argv = [script]
        else:
            argv = ["/bin/sh", "-c", body]
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            return ActionOutcome(
                ok=False,
                output="",
                error=f"the command could not be started: {exc.strerror or exc}",
                exit_code=126,
                duration_ms=_ms_since(started),
            )
        output, timed_out = _collect(proc, timeout)
        code = proc.returncode
    finally:
        if script is not None:
            with contextlib.suppress(OSError):
                os.unlink(script)
    elapsed = _ms_since(started)
    if timed_out:
        return ActionOutcome(
            ok=False,
            output=output,
            error=f"did not finish within {timeout:g} s and was stopped",
            exit_code=code,
            timed_out=True,
            duration_ms=elapsed,
        )
    if code != 0:
        last = _last_line(output)
        reason = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
        return ActionOutcome(
            ok=False,
            output=output,
            error=f"{reason}: {last}" if last else reason,
            exit_code=code,
            duration_ms=elapsed,
        )
    return ActionOutcome(ok=True, output=output, exit_code=0, duration_ms=elapsed)


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000.0


def _last_line(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        if line.strip():
            return line.strip()[:500]
    return ""


# -- SQL: where the database is ------------------------------------------------------


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


# -- SQL: splitting and checking scripts ----------------------------------------------


def _skip_space_and_comments(sql: str, i: int) -> int:
    n = len(sql)
    while i < n:
        if sql[i].isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            break
    return i


def _first_word(statement: str) -> str:
    """The statement's first keyword, upper-cased ("" for an empty or comment-only one)."""
    i = _skip_space_and_comments(statement, 0)
    match = _WORD.match(statement, i)
    return match.group(0).upper() if match else ""


def split_sqlite_statements(script: str) -> list[str]:
    """The statements of ``script`` as SQLite reads them (comment-only pieces dropped)."""
    statements: list[str] = []
    pending = ""
    pieces = script.split(";")
    for piece in pieces[:-1]:
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if _first_word(pending):
                statements.append(pending.strip())
            pending = ""
    rest = pending + pieces[-1]
    if _first_word(rest):
        statements.append(rest.strip())
    return statements


_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def split_postgres_statements(script: str) -> list[str]:
    """Top-level statements of a PostgreSQL script (quotes, comments, ``$$`` respected)."""
    statements: list[str] = []
    n = len(script)
    i = 0
    start = 0
    while i < n:
        ch = script[i]
        if ch == "'":
            escapes = i > 0 and script[i - 1] in "eE" and (i < 2 or not _ident(script[i - 2]))
            i += 1
            while i < n:
                if escapes and script[i] == "\\":
                    i += 2
                    continue
                if script[i] == "'":
                    if i + 1 < n and script[i + 1] == "'":
                        i += 2
                        continue
                    break
                i += 1
            i += 1
        elif ch == '"':
            end = script.find('"', i + 1)
            while end >= 0 and script.startswith('""', end):
                end = script.find('"', end + 2)
            i = n if end < 0 else end + 1
        elif script.startswith("--", i):
            end = script.find("\n", i)
            i = n if end < 0 else end + 1
        elif script.startswith("/*", i):
            depth = 0
            while i < n:
                if script.startswith("/*", i):
                    depth += 1
                    i += 2
                elif script.startswith("*/", i):
                    depth -= 1
                    i += 2
                    if depth == 0:
                        break
                else:
                    i += 1
        elif ch == "$" and (i == 0 or not _ident(script[i - 1])):
            match = _DOLLAR_TAG.match(script, i)
            if match is None:
                i += 1
                continue
            tag = match.group(0)
            end = script.find(tag, match.end())
            i = n if end < 0 else end + len(tag)
        elif ch == ";":
            piece = script[start : i + 1]
            if _first_word(piece):
                statements.append(piece.strip())
            i += 1
            start = i
        else:
            i += 1
    rest = script[start:]
    if _first_word(rest):
        statements.append(rest.strip())
    return statements


def _ident(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def find_transaction_control(statements: list[str]) -> str | None:
    """The first statement that would begin or end a transaction itself, if any."""
    for statement in statements:
        word = _first_word(statement)
        if word in _TRANSACTION_WORDS:
            if word == "START" and "TRANSACTION" not in statement.upper():
                continue
            return statement
    return None


# -- SQL: running ------------------------------------------------------------------


def _excerpt(statement: str) -> str:
    line = " ".join(statement[_skip_space_and_comments(statement, 0) :].split())
    return line if len(line) <= 120 else line[:119] + "…"


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
        return ActionOutcome(ok=False, output=output, error=error, duration_ms=_ms_since(started))

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
    if target.dialect == "sqlite":
        statements = split_sqlite_statements(script)
    else:
        statements = split_postgres_statements(script)
    if not statements:
        return failed("the SQL script holds no statements")
    control = find_transaction_control(statements)
    if control is not None:
        return failed(
            f"the SQL script controls its own transaction ({_excerpt(control)!r}); shipmate runs "
            "each SQL action in one transaction of its own: remove BEGIN/COMMIT/ROLLBACK"
        )
    runner: Callable[[DatabaseTarget, list[str], float], tuple[list[str], str | None]]
    runner = _run_sqlite if target.dialect == "sqlite" else _run_postgres
    lines, error = runner(target, statements, timeout)
    output = target.scrub("\n".join(lines))
    if error is not None:
        return failed(target.scrub(error), output)
    return ActionOutcome(ok=True, output=output, duration_ms=_ms_since(started))


def _run_sqlite(
    target: DatabaseTarget, statements: list[str], timeout: float
) -> tuple[list[str], str | None]:
    assert target.path is not None
    lines = [f"{target.label}: {len(statements)} statement(s) in one transaction"]
    total = len(statements)
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
        for number, statement in enumerate(statements, start=1):
            try:
                cursor = conn.execute(statement)
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                message = str(exc)
                if message == "interrupted" and time.monotonic() > deadline:
                    message = f"did not finish within {timeout:g} s"
                lines.append(f"statement {number}: {_excerpt(statement)}")
                return lines, (
                    f"statement {number} of {total} failed on {target.label}: {message} "
                    "(rolled back: nothing of this script was applied)"
                )
            rows = cursor.rowcount
            suffix = f" ({rows} row{'s' if rows != 1 else ''})" if rows >= 0 else ""
            lines.append(f"statement {number}: {_excerpt(statement)}{suffix}")
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
    import psycopg

    assert target.conninfo is not None
    lines = [f"{target.label}: {len(statements)} statement(s) in one transaction"]
    total = len(statements)
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
        for number, statement in enumerate(statements, start=1):
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            try:
                if remaining_ms <= 0:
                    raise TimeoutError
                conn.execute(f"SET LOCAL statement_timeout = {max(1, remaining_ms)}")
                cursor = conn.execute(statement)
            except (psycopg.Error, TimeoutError) as exc:
                with contextlib.suppress(psycopg.Error):
                    conn.rollback()
                message = (
                    f"did not finish within {timeout:g} s"
                    if isinstance(exc, TimeoutError)
                    else _pg_message(exc)
                )
                lines.append(f"statement {number}: {_excerpt(statement)}")
                return lines, (
                    f"statement {number} of {total} failed on {target.label}: {message} "
                    "(rolled back: nothing of this script was applied)"
                )
            rows = cursor.rowcount
            suffix = f" ({rows} row{'s' if rows != 1 else ''})" if rows >= 0 else ""
            lines.append(f"statement {number}: {_excerpt(statement)}{suffix}")
        try:
            conn.commit()
        except psycopg.Error as exc:
            return lines, f"commit failed on {target.label}: {_pg_message(exc)} (rolled back)"
        lines.append("committed")
        return lines, None
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.close()
