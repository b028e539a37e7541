"""A zero that proves a drain: the DBOS system database must know the app and version.

:class:`~shipmate.engine.drain.dbos.DbosDrainCheck` counts a version's active workflows.
Zero is what a drained version reads, but also what a check reads that looks in the
wrong place: a mistyped ``app_name`` (no row is that app's), or the system database of
another application (no row is this version's).  Trusting that zero retires the old
version mid-work.

:class:`ConfirmedDbosDrainCheck` (what :func:`~shipmate.engine.drain.config.make_drain_check`
builds for ``type = "dbos"``) therefore accepts a zero only once the database shows it
knows what is counted, read-only, in the same way the count is read:

* the app, when an ``app_name`` is configured and the table has ``application_name``
  (dbos >= 2.30): some workflow of that app was recorded, or the app registered a
  version in ``application_versions``;
* the version: some workflow of it (of that app, or unclaimed) was ever recorded, in
  any status, or the version is registered in ``application_versions`` (dbos >= 2.14
  registers every launched version, so a version that never ran a workflow counts).

Without that evidence the reading raises :class:`~shipmate.errors.ConfigError`, naming
the app names and versions the database does hold.  It is not a read error (those are
retried until the deadline): waiting does not make a wrong database right, so the
wait, and the run, stop before the old version is retired.  Evidence found once is
remembered by the check object; it stays true.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from shipmate.engine.drain.dbos import DbosDrainCheck, postgres_reading, sqlite_reading
from shipmate.errors import ConfigError

if TYPE_CHECKING:
    from shipmate.engine.drain.config import DrainConfig

__all__ = ["ConfirmedDbosDrainCheck", "Evidence", "confirmed_dbos_check"]

_VERSIONS_TABLE: Final = "application_versions"
#: At most this many app names and versions are named in a refusal.
_SHOWN: Final = 10

Query = Callable[[str, Sequence[str]], list[tuple[Any, ...]]]


@dataclass(frozen=True)
class Evidence:
    """What the system database knows of one app and version."""

    #: None when it cannot tell (no app_name configured, or no application_name column).
    app_known: bool | None
    version_known: bool
    apps: tuple[str, ...]
    versions: tuple[str, ...]


def _shown(values: Sequence[str]) -> str:
    if not values:
        return "none"
    more = f" and {len(values) - _SHOWN} more" if len(values) > _SHOWN else ""
    return ", ".join(repr(v) for v in values[:_SHOWN]) + more


def _distinct(query: Query, sql: str, params: Sequence[str] = ()) -> list[str]:
    return [str(row[0]) for row in query(sql, params) if row[0] is not None]


def _gather(
    query: Query,
    table: Callable[[str], str],
    status_columns: frozenset[str],
    versions_columns: frozenset[str],
    app_name: str | None,
    version: str,
) -> Evidence:
    """Read the evidence with ``query(sql, params)`` (``?`` placeholders) and ``table(name)``
    (the quoted table name)."""
    status, registry = table("workflow_status"), table(_VERSIONS_TABLE)
    by_app = app_name is not None and "application_name" in status_columns
    registry_by_app = app_name is not None and "application_name" in versions_columns
    has_registry = "version_name" in versions_columns

    def any_row(sql: str, params: Sequence[str]) -> bool:
        return bool(query(sql + " LIMIT 1", params))

    app = app_name or ""
    app_known: bool | None = None
    if by_app:
        app_known = any_row(f"SELECT 1 FROM {status} WHERE application_name = ?", [app])
        if not app_known and registry_by_app:
            app_known = any_row(f"SELECT 1 FROM {registry} WHERE application_name = ?", [app])
    scope, scope_params = "", list[str]()
    if by_app:
        scope, scope_params = " AND (application_name = ? OR application_name IS NULL)", [app]
    version_known = app_known is not False and any_row(
        f"SELECT 1 FROM {status} WHERE application_version = ?{scope}", [version, *scope_params]
    )
    if not version_known and app_known is not False and has_registry:
        registry_scope = scope if registry_by_app else ""
        version_known = any_row(
            f"SELECT 1 FROM {registry} WHERE version_name = ?{registry_scope}",
            [version, *(scope_params if registry_by_app else [])],
        )
    if version_known:
        return Evidence(app_known, True, (), ())
    apps: set[str] = set()
    if "application_name" in status_columns:
        apps.update(_distinct(query, f"SELECT DISTINCT application_name FROM {status}"))
    if "application_name" in versions_columns:
        apps.update(_distinct(query, f"SELECT DISTINCT application_name FROM {registry}"))
    versions: set[str] = set()
    of_app = scope if app_known else ""
    of_app_params = scope_params if app_known else []
    versions.update(
        _distinct(
            query,
            f"SELECT DISTINCT application_version FROM {status} WHERE 1 = 1{of_app}",
            of_app_params,
        )
    )
    if has_registry:
        registry_scope = of_app if registry_by_app else ""
        versions.update(
            _distinct(
                query,
                f"SELECT DISTINCT version_name FROM {registry} WHERE 1 = 1{registry_scope}",
                of_app_params if registry_by_app else [],
            )
        )
    return Evidence(app_known, False, tuple(sorted(apps)), tuple(sorted(versions)))


class ConfirmedDbosDrainCheck(DbosDrainCheck):
    """A :class:`DbosDrainCheck` whose zero needs evidence (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._confirmed: set[str] = set()

    def pending(self, version: str) -> int:
        count = super().pending(version)
        if count == 0 and version not in self._confirmed:
            self.confirm(version)
        return count

    def confirm(self, version: str) -> None:
        """Raise ConfigError unless the database knows this app and ``version``."""
        evidence = self.evidence(version)
        if evidence.version_known:
            self._confirmed.add(version)
            return
        where = self.describe()
        if evidence.app_known is False:
            field = "app_name"
            message = (
                f"drain: {where} never recorded a workflow or version of app "
                f"{self.app_name!r} (it knows apps {_shown(evidence.apps)}; versions "
                f"{_shown(evidence.versions)}); {version} reads 0 "
                "pending there, which proves nothing: it is not called drained and is not "
                "retired. Check app_name and system_database_url"
            )
        else:
            field = "system_database_url"
            of_app = f" of app {self.app_name!r}" if evidence.app_known else ""
            message = (
                f"drain: {where} never recorded a workflow of version {version!r}{of_app}, nor "
                f"registered that version (it knows versions {_shown(evidence.versions)}; apps "
                f"{_shown(evidence.apps)}); 0 pending there proves nothing: it is not called "
                "drained and is not retired. Is this the app's system database, and does the "
                "app run with DBOS__APPVERSION set to the version shipmate deploys?"
            )
        raise ConfigError(
            message, field=field, apps=list(evidence.apps), versions=list(evidence.versions)
        )

    def evidence(self, version: str) -> Evidence:
        """What the system database knows of this check's app and ``version``."""
        status_columns = self.columns or frozenset()
        if self.dialect == "sqlite":
            return self._sqlite_evidence(version, status_columns)
        return self._postgres_evidence(version, status_columns)

    def _sqlite_evidence(self, version: str, status_columns: frozenset[str]) -> Evidence:
        path = str(self._sqlite_path)
        where = f"SQLite system database {path}"
        with sqlite_reading(path, timeout_ms=self.statement_timeout_ms, where=where) as connection:

            def query(sql: str, params: Sequence[str]) -> list[tuple[Any, ...]]:
                return list(connection.execute(sql, list(params)).fetchall())

            rows = query(f"PRAGMA table_info({_VERSIONS_TABLE})", [])
            versions_columns = frozenset(str(r[1]) for r in rows)
            return _gather(
                query,
                lambda name: name,
                status_columns,
                versions_columns,
                self.app_name,
                version,
            )

    def _postgres_evidence(self, version: str, status_columns: frozenset[str]) -> Evidence:
        from psycopg import sql

        where = f"PostgreSQL system database (schema {self.schema})"
        timeout_ms = self.statement_timeout_ms
        with postgres_reading(self.url, timeout_ms=timeout_ms, where=where) as connection:

            def query(text: str, params: Sequence[str]) -> list[tuple[Any, ...]]:
                # Placeholders first, then the quoted tables (a schema may hold ? or %).
                text = text.replace("?", "%s")
                for name in ("workflow_status", _VERSIONS_TABLE):
                    quoted = sql.Identifier(self.schema, name).as_string(connection)
                    text = text.replace(f"\x00{name}\x00", quoted.replace("%", "%%"))
                return list(connection.execute(text.encode(), list(params)).fetchall())

            rows = query(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?",
                [self.schema, _VERSIONS_TABLE],
            )
            versions_columns = frozenset(str(r[0]) for r in rows)
            return _gather(
                query,
                lambda name: f"\x00{name}\x00",  # replaced in query()
                status_columns,
                versions_columns,
                self.app_name,
                version,
            )


def confirmed_dbos_check(config: DrainConfig) -> ConfirmedDbosDrainCheck:
    """The check ``make_drain_check`` builds for a ``dbos`` drain table."""
    assert config.system_database_url is not None
    return ConfirmedDbosDrainCheck(
        config.system_database_url,
        schema=config.schema,
        app_name=config.app_name,
        statement_timeout_ms=config.statement_timeout_ms,
    )
