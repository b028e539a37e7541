"""A database that cannot be reached right now, recognised once: at the engine.

:func:`watch` hooks an engine so that every failure meaning "the database is not
there" (a connection refused, a pooled connection cut, a server shutting down or
starting up; for SQLite a file that cannot be opened, is locked past the busy
timeout, or fails with an I/O error) is raised as
:class:`~shipmate.errors.DatabaseUnavailableError` wherever it happens: a request,
a background loop or a CLI command.  Any other database error (a constraint, a bad
statement) is left alone.

Each engine keeps one :class:`OutageLog`: the first such failure after the
database was reached logs ``database unreachable: <reason>`` once, and the first
committed transaction after that logs ``database reachable again`` once, so an
outage costs the server's log two lines, not a traceback per request.  A process
that never reached its database logs nothing: the error it raises says why.

Connections cut by a restart are handled by SQLAlchemy: a disconnect invalidates
the pool, and PostgreSQL's pool pings a connection before lending it out.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext

from shipmate.domain.redaction import redact
from shipmate.errors import RETRY_AFTER_SECONDS, DatabaseUnavailableError

__all__ = [
    "OutageLog",
    "sqlite_locked",
    "sqlite_unavailable",
    "unavailable",
    "watch",
]


log = logging.getLogger("shipmate.store")

# SQLite primary result codes that say "the file cannot be used now", not "this
# statement is wrong": BUSY/LOCKED (held past the busy timeout), READONLY, IOERR,
# FULL, CANTOPEN, PROTOCOL (a lock race on the WAL), NOTADB (the path is not a
# database: replaced, or a directory).
_SQLITE_UNAVAILABLE = frozenset({5, 6, 8, 10, 13, 14, 15, 26})

# PostgreSQL SQLSTATEs of a server going away: class 08 (connection exception),
# admin_shutdown, crash_shutdown, cannot_connect_now (starting up, shutting down).
_PG_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03"})


class OutageLog:
    """One engine's view of its database: up, down, or not reached yet.

    An outage ends with a commit on a connection opened after it began: one opened
    before (a transaction finishing while a server shuts down) proves nothing.  A lock
    held past the busy timeout (SQLite) refuses writes while reads go on, so that
    outage ends with a committed write, on any connection.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reached = False
        self.down = False
        self.writes_only = False
        #: Counts outages; a connection remembers the count it was opened under.
        self.epoch = 0
        #: True while nothing needs noting: the database was reached and is up.
        self.steady = False

    def failed(self, reason: str, *, writes_only: bool = False) -> None:
        with self._lock:
            if self.down:
                self.writes_only = self.writes_only and writes_only
                return
            self.down, self.writes_only, self.steady = True, writes_only, False
            self.epoch += 1
            announce = self.reached
        if announce:
            log.warning("database unreachable: %s", reason)

    def succeeded(self, *, write: bool, opened_in: int) -> None:
        with self._lock:
            if self.down and (not write if self.writes_only else opened_in < self.epoch):
                return
            recovered = self.down and self.reached
            self.reached, self.down, self.steady = True, False, True
        if recovered:
            log.warning("database reachable again")


def _one_line(exc: BaseException) -> str:
    return redact(" ".join(str(exc).split()))


def sqlite_unavailable(exc: BaseException) -> str | None:
    """The reason ``exc`` (a :mod:`sqlite3` error) means the file is unusable now."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in _SQLITE_UNAVAILABLE:
        return _one_line(exc)
    return None


def sqlite_locked(exc: BaseException) -> bool:
    """``database is locked``: another connection holds the write lock."""
    return isinstance(exc, sqlite3.Error) and (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (5, 6)


def _postgres_unavailable(exc: BaseException, dbapi: Any, *, connecting: bool) -> str | None:
    if dbapi is None or not isinstance(exc, dbapi.OperationalError):
        return None
    state = getattr(exc, "sqlstate", None)
    if connecting or state is None or state.startswith("08") or state in _PG_UNAVAILABLE_STATES:
        return _one_line(exc)
    return None


def unavailable(context: ExceptionContext) -> str | None:
    """Why the failure in ``context`` means the database cannot be reached, or None."""
    exc = context.original_exception
    if context.dialect.name == "sqlite":
        reason = sqlite_unavailable(exc)
    else:
        reason = _postgres_unavailable(
            exc, context.dialect.loaded_dbapi, connecting=context.connection is None
        )
    if reason is None and context.is_disconnect:
        reason = _one_line(exc)
    return reason


def watch(engine: Engine) -> OutageLog:
    """Raise an unreachable database as DatabaseUnavailableError; log its transitions."""
    outage = OutageLog()

    @event.listens_for(engine, "handle_error", retval=True)
    def _on_error(context: ExceptionContext) -> BaseException | None:
        if context.is_pre_ping:  # the pool reconnects, or the reconnect fails here again
            return None
        reason = unavailable(context)
        if reason is None:
            return None
        outage.failed(reason, writes_only=sqlite_locked(context.original_exception))
        return DatabaseUnavailableError(reason, retry_after=RETRY_AFTER_SECONDS)

    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info["shipmate_epoch"] = outage.epoch

    @event.listens_for(engine, "commit")
    def _on_commit(conn: Any) -> None:
        if not outage.steady:  # the hot path: one attribute read per transaction
            outage.succeeded(
                write=bool(conn.get_execution_options().get("shipmate_write")),
                opened_in=int(conn.info.get("shipmate_epoch", 0)),
            )

    return outage
