"""Drain checks: how much in-flight work an old application version still has.

Between the traffic switch and the retirement of the old slot, a run waits for the
old version to *drain*.  A :class:`DrainCheck` answers one question,
``pending(version) -> int``: how many units of work of that application version are
still in flight.  Three implementations:

``dbos`` (:class:`DbosDrainCheck`)
    Counts the rows of the app's DBOS system database table ``workflow_status`` with
    ``application_version = <version>`` and a status of ``PENDING``, ``ENQUEUED`` or
    ``DELAYED`` (the set DBOS itself calls *active*; ``DELAYED`` exists since dbos
    2.16 and counting it on an older database simply finds no rows).  When the table
    has an ``application_name`` column (dbos >= 2.30) and an ``app_name`` is
    configured, only rows of that app or of no app (NULL, unclaimed) count.

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
    instead of assuming a DBOS release, once per check object.

``http`` (:class:`HttpDrainCheck`)
    GETs a URL on the old slot (``{version}`` in the template is replaced by the
    URL-quoted version).  A 2xx body is either a plain integer (``3``) or JSON: an
    integer, or an object with an integer ``"pending"`` or ``"in_flight"`` member
    (``{"pending": 3}``).  Anything else, a non-2xx status, a negative number or a
    network failure is a read error.  Environment proxies are not used: the old slot
    is reached directly.

``grace`` (:class:`GraceDrainCheck`)
    Reports 1 until a fixed number of seconds has passed since the first reading of
    a version, then 0 (connection draining without a way to count).

:func:`wait_drained` polls a check until it reads zero ``consecutive_zeros`` times in
a row (new old-version work can still appear shortly after the switch: schedules,
child workflows, requests in flight) or until its deadline.  A read error
(:class:`~shipmate.errors.DeployError` from ``pending``) counts as a non-zero reading
and is reported through ``on_progress``; only when the last reading at the deadline
also fails is it raised.  At the deadline it returns ``drained=False`` with the last
count: the caller applies the ``keep`` / ``force`` policy.

:func:`parse_drain_config` validates a product's ``drain`` table into a frozen
:class:`DrainConfig`; :func:`make_drain_check` builds the check from either.
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, runtime_checkable

from shipmate.errors import ConfigError, DeployError, InvalidInputError

if TYPE_CHECKING:  # psycopg is imported only when a PostgreSQL check reads
    import psycopg

__all__ = [
    "ACTIVE_STATUSES",
    "DbosDrainCheck",
    "DrainCheck",
    "DrainConfig",
    "DrainResult",
    "GraceDrainCheck",
    "HttpDrainCheck",
    "ProgressCallback",
    "ScriptedDrainCheck",
    "connect_postgres_readonly",
    "connect_sqlite_readonly",
    "make_drain_check",
    "parse_drain_config",
    "wait_drained",
]

#: Workflow statuses DBOS treats as active (``workflow_is_active`` in dbos 3.x).
ACTIVE_STATUSES: Final[tuple[str, ...]] = ("PENDING", "ENQUEUED", "DELAYED")

_TABLE: Final = "workflow_status"
_REQUIRED_COLUMNS: Final = frozenset({"status", "application_version"})


@runtime_checkable
class DrainCheck(Protocol):
    """Counts the in-flight work of one application version."""

    def pending(self, version: str) -> int:
        """In-flight units of ``version``; :class:`DeployError` when unreadable."""
        ...

    def describe(self) -> str:
        """One line for logs and progress output (never a password)."""
        ...


# --------------------------------------------------------------------------- dbos


def _redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


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


def _count_sql(columns: frozenset[str], app_name: str | None) -> tuple[str, bool]:
    """The WHERE clause body and whether it filters on the application name."""
    marks = ", ".join("?" for _ in ACTIVE_STATUSES)
    where = f"application_version = ? AND status IN ({marks})"
    by_name = app_name is not None and "application_name" in columns
    if by_name:
        where += " AND (application_name = ? OR application_name IS NULL)"
    return where, by_name


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
            f"dbos workflows in PostgreSQL {_redact_url(self.url)} schema {self.schema} "
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
        deadline = time.monotonic() + self.statement_timeout_ms / 1000
        try:
            connection = connect_sqlite_readonly(path, timeout_ms=self.statement_timeout_ms)
        except sqlite3.Error as exc:
            raise DeployError(
                f"{where} cannot be opened read-only: {exc}", field="system_database_url"
            ) from exc
        try:
            connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
            if self._columns is None:
                rows = connection.execute(f"PRAGMA table_info({_TABLE})").fetchall()
                self._columns = self._check_columns(frozenset(str(r[1]) for r in rows), where)
            clause, by_name = _count_sql(self._columns, self.app_name)
            params: list[str] = [version, *ACTIVE_STATUSES]
            if by_name:
                assert self.app_name is not None
                params.append(self.app_name)
            result = connection.execute(
                f"SELECT status, COUNT(*) FROM {_TABLE} WHERE {clause} GROUP BY status", params
            ).fetchall()
        except sqlite3.Error as exc:
            if isinstance(exc, sqlite3.OperationalError) and "interrupted" in str(exc):
                message = f"{where}: reading took longer than {self.statement_timeout_ms} ms"
            else:
                message = f"{where} cannot be read: {exc}"
            raise DeployError(message, field="system_database_url") from exc
        finally:
            connection.close()
        return {str(status): int(count) for status, count in result}

    # -- PostgreSQL

    def _postgres_counts(self, version: str) -> dict[str, int]:
        import psycopg
        from psycopg import sql

        where = f"PostgreSQL system database {_redact_url(self.url)} (schema {self.schema})"
        try:
            connection = connect_postgres_readonly(
                _libpq_url(self.url), timeout_ms=self.statement_timeout_ms
            )
        except psycopg.Error as exc:
            raise DeployError(
                f"{where} cannot be reached: {_one_line(exc)}", field="system_database_url"
            ) from exc
        try:
            if self._columns is None:
                rows = connection.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s",
                    (self.schema, _TABLE),
                ).fetchall()
                self._columns = self._check_columns(frozenset(str(r[0]) for r in rows), where)
            clause, by_name = _count_sql(self._columns, self.app_name)
            params: list[str] = [version, *ACTIVE_STATUSES]
            if by_name:
                assert self.app_name is not None
                params.append(self.app_name)
            query = sql.SQL("SELECT status, COUNT(*) FROM {} WHERE {} GROUP BY status").format(
                sql.Identifier(self.schema, _TABLE), sql.SQL(clause.replace("?", "%s"))
            )
            result = connection.execute(query, params).fetchall()
        except psycopg.errors.QueryCanceled as exc:
            raise DeployError(
                f"{where}: reading took longer than {self.statement_timeout_ms} ms",
                field="system_database_url",
            ) from exc
        except psycopg.Error as exc:
            raise DeployError(
                f"{where} cannot be read: {_one_line(exc)}", field="system_database_url"
            ) from exc
        finally:
            connection.close()
        return {str(status): int(count) for status, count in result}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# --------------------------------------------------------------------------- http


def _parse_count(body: bytes) -> int:
    text = body.decode("utf-8", errors="replace").strip()
    try:
        value: Any = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"body is neither an integer nor JSON: {text[:80]!r}") from exc
    if isinstance(value, dict):
        for key in ("pending", "in_flight"):
            if key in value:
                value = value[key]
                break
        else:
            raise ValueError(f'JSON body has no "pending" or "in_flight" member: {text[:80]!r}')
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"in-flight count is not an integer: {value!r}")
    if value < 0:
        raise ValueError(f"in-flight count is negative: {value}")
    return value


class HttpDrainCheck:
    """Reads the in-flight count from a URL on the old slot (see the module doc)."""

    def __init__(self, url_template: str, *, timeout: float = 5.0) -> None:
        if not isinstance(url_template, str) or not url_template.strip():
            raise ConfigError("url must be a non-empty http(s) URL", field="url")
        probe = urllib.parse.urlsplit(url_template.strip().replace("{version}", "v"))
        if probe.scheme not in ("http", "https") or not probe.hostname:
            raise ConfigError(
                f"url must be an http:// or https:// URL with a host, not {url_template!r}",
                field="url",
            )
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError("timeout must be a positive number of seconds", field="timeout")
        self.url_template = url_template.strip()
        self.timeout = float(timeout)
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def url_for(self, version: str) -> str:
        return self.url_template.replace("{version}", urllib.parse.quote(version, safe=""))

    def describe(self) -> str:
        return f"in-flight count from {_redact_url(self.url_template)}"

    def pending(self, version: str) -> int:
        url = self.url_for(version)
        shown = _redact_url(url)
        request = urllib.request.Request(url, headers={"Accept": "application/json, text/plain"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read(65536)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise DeployError(
                f"drain URL {shown} answered HTTP {exc.code}", field="url", status=exc.code
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeployError(f"drain URL {shown} cannot be read: {reason}", field="url") from exc
        try:
            return _parse_count(body)
        except ValueError as exc:
            raise DeployError(f"drain URL {shown}: {exc}", field="url") from exc


# --------------------------------------------------------------------------- grace


class GraceDrainCheck:
    """Pending (1) until ``seconds`` have passed since a version's first reading, then 0."""

    def __init__(self, seconds: float, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise ConfigError("seconds must be a non-negative number", field="seconds")
        self.seconds = float(seconds)
        self._monotonic = monotonic
        self._started: dict[str, float] = {}

    def describe(self) -> str:
        return f"grace period of {self.seconds:g} s"

    def pending(self, version: str) -> int:
        now = self._monotonic()
        started = self._started.setdefault(version, now)
        return 0 if now - started >= self.seconds else 1


# --------------------------------------------------------------------------- fake


class ScriptedDrainCheck:
    """A fake for tests of the layers above: plays back readings, then repeats the last.

    Each reading is a count or a :class:`DeployError` to raise.  ``calls`` records the
    versions asked for.
    """

    def __init__(self, readings: Sequence[int | DeployError]) -> None:
        if not readings:
            raise InvalidInputError("readings must not be empty", field="readings")
        self._readings = list(readings)
        self.calls: list[str] = []

    def describe(self) -> str:
        return "scripted readings"

    def pending(self, version: str) -> int:
        index = min(len(self.calls), len(self._readings) - 1)
        self.calls.append(version)
        reading = self._readings[index]
        if isinstance(reading, DeployError):
            raise reading
        return reading


# --------------------------------------------------------------------------- wait


@dataclass(frozen=True)
class DrainResult:
    """How a wait for a drain ended."""

    #: True once ``consecutive_zeros`` readings in a row were 0.
    drained: bool
    #: The last count read successfully (None if no reading ever succeeded).
    last_pending: int | None
    elapsed_seconds: float
    #: Readings taken, failed ones included.
    readings: int
    #: The message of the last reading when it failed, else None.
    last_error: str | None = None


class ProgressCallback(Protocol):
    """Told about every reading: the count (None when it failed), seconds since the
    start of the wait, and the read error (None when it succeeded)."""

    def __call__(
        self, pending: int | None, elapsed: float, error: DeployError | None, /
    ) -> None: ...


def _positive_number(name: str, value: object, *, allow_zero: bool) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        kind = "a non-negative" if allow_zero else "a positive"
        raise InvalidInputError(f"{name} must be {kind} number, not {value!r}", field=name)
    return float(value)


def wait_drained(
    check: DrainCheck,
    version: str,
    *,
    consecutive_zeros: int = 3,
    interval: float = 2.0,
    deadline: float = 3600.0,
    on_progress: ProgressCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> DrainResult:
    """Poll ``check`` for ``version`` until drained or ``deadline`` seconds have passed.

    Drained means ``consecutive_zeros`` zero readings in a row.  Readings are
    ``interval`` seconds apart; the last one is taken at the deadline.  A reading
    that raises :class:`DeployError` counts as non-zero and is passed to
    ``on_progress``; if the reading at the deadline fails too, that error is raised
    (with ``last_pending`` and ``readings`` in its details).  Otherwise the deadline
    returns ``drained=False`` with the last count.
    """
    if isinstance(consecutive_zeros, bool) or not isinstance(consecutive_zeros, int):
        raise InvalidInputError("consecutive_zeros must be an integer", field="consecutive_zeros")
    if consecutive_zeros < 1:
        raise InvalidInputError("consecutive_zeros must be at least 1", field="consecutive_zeros")
    interval = _positive_number("interval", interval, allow_zero=True)
    deadline = _positive_number("deadline", deadline, allow_zero=True)

    start = monotonic()
    zeros = 0
    readings = 0
    last_pending: int | None = None
    while True:
        error: DeployError | None = None
        count: int | None = None
        try:
            count = check.pending(version)
        except DeployError as exc:
            error = exc
        readings += 1
        elapsed = monotonic() - start
        if count is not None:
            last_pending = count
        zeros = zeros + 1 if count == 0 else 0
        if on_progress is not None:
            on_progress(count, elapsed, error)
        if zeros >= consecutive_zeros:
            return DrainResult(True, 0, elapsed, readings)
        if elapsed >= deadline:
            if error is not None:
                error.details.setdefault("last_pending", last_pending)
                error.details.setdefault("readings", readings)
                raise error
            return DrainResult(False, last_pending, elapsed, readings)
        sleep(min(interval, deadline - elapsed))


# --------------------------------------------------------------------------- config

DrainType = Literal["dbos", "http", "grace"]
OnDeadline = Literal["keep", "force"]

_COMMON_KEYS: Final = frozenset(
    {"type", "consecutive_zeros", "interval", "deadline", "on_deadline"}
)
_TYPE_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "dbos": frozenset({"system_database_url", "schema", "app_name", "statement_timeout_ms"}),
    "http": frozenset({"url", "timeout"}),
    "grace": frozenset({"seconds"}),
}
_REQUIRED: Final[Mapping[str, str]] = {
    "dbos": "system_database_url",
    "http": "url",
    "grace": "seconds",
}
_ENV_REF: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class DrainConfig:
    """A product's validated ``drain`` table.

    Defaults: ``consecutive_zeros`` 3 (1 for ``grace``, whose reading cannot bounce
    back), ``interval`` 2 s, ``deadline`` 3600 s, ``on_deadline`` ``keep``;
    ``schema`` ``dbos``; ``statement_timeout_ms`` 5000; ``timeout`` 5 s.
    """

    type: DrainType
    consecutive_zeros: int = 3
    interval: float = 2.0
    deadline: float = 3600.0
    on_deadline: OnDeadline = "keep"
    # dbos
    system_database_url: str | None = None
    schema: str = "dbos"
    app_name: str | None = None
    statement_timeout_ms: int = 5000
    # http
    url: str | None = None
    timeout: float = 5.0
    # grace
    seconds: float | None = None


def _name(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _string(table: Mapping[str, Any], key: str, where: str, env: Mapping[str, str]) -> str:
    value = table[key]
    field = _name(where, key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{field} must be a non-empty string, not {value!r}", field=field)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(
                f"{field} refers to ${{{name}}}, which is not set in the environment",
                field=field,
            )
        return env[name]

    result = _ENV_REF.sub(substitute, value).strip()
    if not result:
        raise ConfigError(f"{field} is empty after substituting the environment", field=field)
    return result


def _number(table: Mapping[str, Any], key: str, where: str, *, allow_zero: bool) -> float:
    value = table[key]
    field = _name(where, key)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        kind = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"{field} must be {kind} number of seconds, not {value!r}", field=field)
    return float(value)


def _integer(table: Mapping[str, Any], key: str, where: str) -> int:
    value = table[key]
    field = _name(where, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{field} must be a positive integer, not {value!r}", field=field)
    return value


def parse_drain_config(
    table: Mapping[str, Any], *, env: Mapping[str, str] | None = None, where: str = "drain"
) -> DrainConfig:
    """Validate a ``drain`` table, e.g. ``{type = "dbos", system_database_url = "${APP_DBOS_URL}"}``.

    ``${VAR}`` in string values is replaced from ``env`` (default ``os.environ``).
    ``where`` prefixes the key in error messages and ``field`` (``drain.interval``).
    Every problem is a :class:`ConfigError` naming the key.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(
            f"{where or 'drain'} must be a table, not {type(table).__name__}", field=where or None
        )
    env = os.environ if env is None else env
    kind = table.get("type")
    if not isinstance(kind, str) or kind not in _TYPE_KEYS:
        field = _name(where, "type")
        raise ConfigError(f"{field} must be one of dbos, http, grace, not {kind!r}", field=field)
    allowed = _COMMON_KEYS | _TYPE_KEYS[kind]
    for key in table:
        if key not in allowed:
            field = _name(where, str(key))
            raise ConfigError(
                f"{field} is not a setting of a {kind} drain check "
                f"(known: {', '.join(sorted(allowed))})",
                field=field,
            )
    required = _REQUIRED[kind]
    if required not in table:
        field = _name(where, required)
        raise ConfigError(f"{field} is required for a {kind} drain check", field=field)

    values: dict[str, Any] = {"type": kind}
    values["consecutive_zeros"] = (
        _integer(table, "consecutive_zeros", where)
        if "consecutive_zeros" in table
        else (1 if kind == "grace" else 3)
    )
    if "interval" in table:
        values["interval"] = _number(table, "interval", where, allow_zero=False)
    if "deadline" in table:
        values["deadline"] = _number(table, "deadline", where, allow_zero=True)
    if "on_deadline" in table:
        policy = table["on_deadline"]
        if policy not in ("keep", "force"):
            field = _name(where, "on_deadline")
            raise ConfigError(f"{field} must be keep or force, not {policy!r}", field=field)
        values["on_deadline"] = policy
    for key in ("system_database_url", "schema", "app_name", "url"):
        if key in table:
            values[key] = _string(table, key, where, env)
    if "statement_timeout_ms" in table:
        values["statement_timeout_ms"] = _integer(table, "statement_timeout_ms", where)
    if "timeout" in table:
        values["timeout"] = _number(table, "timeout", where, allow_zero=False)
    if "seconds" in table:
        values["seconds"] = _number(table, "seconds", where, allow_zero=True)
    config = DrainConfig(**values)
    # Build once so a bad URL or schema is reported now, under its key.
    try:
        make_drain_check(config)
    except ConfigError as exc:
        key = exc.field or ""
        field = _name(where, key)
        message = exc.message
        if key and message.startswith(key):
            message = field + message[len(key) :]
        elif where:
            message = f"{where}: {message}"
        raise ConfigError(message, field=field) from None
    return config


def make_drain_check(
    config: Mapping[str, Any] | DrainConfig, *, env: Mapping[str, str] | None = None
) -> DrainCheck:
    """The drain check a ``drain`` table (or a parsed :class:`DrainConfig`) describes."""
    if not isinstance(config, DrainConfig):
        config = parse_drain_config(config, env=env)
    if config.type == "dbos":  # a zero it reads needs evidence: see engine/drain/evidence.py
        from shipmate.engine.drain.evidence import confirmed_dbos_check

        return confirmed_dbos_check(config)
    if config.type == "http":
        assert config.url is not None
        return HttpDrainCheck(config.url, timeout=config.timeout)
    assert config.seconds is not None
    return GraceDrainCheck(config.seconds)
