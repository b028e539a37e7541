"""The history query: deployment filters, compiled once per shape, rows decoded by hand.

History is the hottest read shipmate serves (the CLI's ``history``, the API's
list endpoints, the dashboard's pages), and at a million deployments the
database answers a page in a fraction of a millisecond; what remained was
SQLAlchemy's per-call work (building the statement, its cache key, a type
processor per cell: about 300 timestamps and 51 JSON documents a page), several
times the query itself.  So this module:

- names every filter term once (:data:`TERMS`), used both as literal SQLAlchemy
  terms (:func:`filter_terms`, for stats and other grouped queries) and as
  placeholders (the history statement);
- compiles the history statement once per dialect and *shape* (which terms are
  present, whether a keyset cursor is given) with SQLAlchemy's own compiler, so
  the SQL is exactly what SQLAlchemy would send;
- sends that SQL text with ``exec_driver_sql`` inside the caller's transaction
  (no result types to apply) and decodes each row positionally straight into a
  :class:`~shipmate.domain.records.DeploymentRecord`.

The decoding mirrors the column types: :class:`~shipmate.store.types.UTCDateTime`
(SQLite keeps naive UTC text, PostgreSQL ``timestamptz``) and ``JSON`` (text on
SQLite; psycopg hands back the parsed value).  ``tests/services/test_history_rows``
checks that a page decoded here equals the same rows through SQLAlchemy's types.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, desc, select, tuple_
from sqlalchemy.engine import Dialect

from shipmate.domain.records import DeploymentRecord
from shipmate.store.schema import deployments, environments, products

__all__ = ["TERMS", "fetch_history", "filter_terms"]

_d = deployments.c

#: Every history filter term by name: how a value for it constrains deployments.
TERMS: dict[str, Callable[[Any], ColumnElement[bool]]] = {
    "product_id": lambda v: _d.product_id == v,
    "environment_id": lambda v: _d.environment_id == v,
    "status": lambda v: _d.status == v,
    "kind": lambda v: _d.kind == v,
    "full_version": lambda v: _d.full_version == v,
    "version": lambda v: _d.version == v,
    "branch": lambda v: _d.branch == v,
    "deployed_by": lambda v: _d.deployed_by == v,
    "since": lambda v: _d.deployed_at >= v,
    "until": lambda v: _d.deployed_at < v,
}

#: Terms whose values are times (bound as the column stores them).
_TIME_TERMS = frozenset({"since", "until", "cursor_at"})


def filter_terms(values: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """SQLAlchemy WHERE terms for ``values`` (names from :data:`TERMS`)."""
    return [TERMS[name](value) for name, value in values.items()]


#: The selected columns, in :class:`DeploymentRecord` field order (``events`` aside).
_COLUMNS = (
    _d.id,
    products.c.name,
    environments.c.name,
    environments.c.kind,
    _d.version,
    _d.build_number,
    _d.full_version,
    _d.status,
    _d.kind,
    _d.reverts_id,
    _d.commit_sha,
    _d.branch,
    _d.repository,
    _d.deployed_by,
    _d.ci_platform,
    _d.ci_run_id,
    _d.ci_run_url,
    _d.source_system,
    _d.extra,
    _d.deployed_at,
    _d.created_at,
    _d.updated_at,
    _d.started_at,
    _d.finished_at,
    _d.duration_ms,
    _d.product_id,
    _d.environment_id,
    _d.version_id,
    _d.commit_time,
)


class _Compiled:
    """One shape's SQL for one dialect, and the order its parameters go in."""

    __slots__ = ("defaults", "names", "positional", "sql")

    def __init__(
        self, sql: str, names: tuple[str, ...], positional: bool, defaults: dict[str, Any]
    ) -> None:
        self.sql = sql
        self.names = names
        self.positional = positional
        #: Parameters SQLAlchemy added itself (SQLite's ``OFFSET`` beside a bound limit).
        self.defaults = defaults


_COMPILED: dict[tuple[str, tuple[str, ...], bool], _Compiled] = {}


def _compile(dialect: Dialect, shape: tuple[str, ...], keyset: bool) -> _Compiled:
    key = (dialect.name, shape, keyset)
    found = _COMPILED.get(key)
    if found is not None:
        return found
    query = (
        select(*_COLUMNS)
        .select_from(
            deployments.join(products, products.c.id == _d.product_id).join(
                environments, environments.c.id == _d.environment_id
            )
        )
        .where(*(TERMS[name](bindparam(name)) for name in shape))
    )
    if keyset:
        query = query.where(
            tuple_(_d.deployed_at, _d.id) < tuple_(bindparam("cursor_at"), bindparam("cursor_id"))
        )
    query = query.order_by(desc(_d.deployed_at), desc(_d.id)).limit(bindparam("limit"))
    compiled = query.compile(dialect=dialect)
    positional = bool(compiled.positional)
    names = tuple(compiled.positiontup or ()) if positional else ()
    ours = {*shape, "cursor_at", "cursor_id", "limit"}
    defaults = {k: v for k, v in compiled.params.items() if k not in ours}
    made = _Compiled(compiled.string, names, positional, defaults)
    _COMPILED[key] = made
    return made


def _bind_time(value: datetime, dialect_name: str) -> Any:
    utc = value.astimezone(UTC)
    if dialect_name == "sqlite":
        # What UTCDateTime + SQLite's DATETIME store: naive UTC text, microseconds always.
        return utc.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return utc


@lru_cache(maxsize=4096)
def _parse_json(text: str) -> Any:
    return json.loads(text)


def _metadata(value: Any) -> dict[str, Any]:
    """The ``extra`` column as a fresh dict: many deployments carry the same small
    document, so SQLite's text is parsed once per distinct text and copied."""
    if value is None:
        return {}
    if isinstance(value, str):
        value = _parse_json(value)
    return dict(value) if value else {}


_fromiso = datetime.fromisoformat


def _sqlite_time(value: str | None) -> datetime | None:
    """UTCDateTime on SQLite: naive UTC text (``2026-11-22 03:30:52.666394``)."""
    return None if value is None else _fromiso(value + "+00:00")


def _pg_time(value: datetime | None) -> datetime | None:
    """UTCDateTime on PostgreSQL: ``timestamptz`` in the session's zone, made UTC."""
    if value is None or value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)


def fetch_history(
    conn: Connection,
    values: Mapping[str, Any],
    *,
    cursor: tuple[datetime, int] | None,
    limit: int,
) -> list[DeploymentRecord]:
    """Up to ``limit`` deployments matching ``values`` (names from :data:`TERMS`),
    older than ``cursor`` (``deployed_at``, id) when given, newest first."""
    dialect = conn.dialect
    name = dialect.name
    compiled = _compile(dialect, tuple(values), cursor is not None)
    params: dict[str, Any] = dict(compiled.defaults)
    for k, v in values.items():
        params[k] = _bind_time(v, name) if k in _TIME_TERMS else v
    if cursor is not None:
        params["cursor_at"] = _bind_time(cursor[0], name)
        params["cursor_id"] = cursor[1]
    params["limit"] = limit
    bound: Any = tuple(params[n] for n in compiled.names) if compiled.positional else params
    # exec_driver_sql: no statement to build or cache key to compute, no result types
    # to apply, but still SQLAlchemy's events (logging, the EXPLAIN test's capture).
    rows = conn.exec_driver_sql(compiled.sql, bound).all()
    return _decode(rows, _sqlite_time if name == "sqlite" else _pg_time)


_new = object.__new__
_setattr = object.__setattr__


def _decode(rows: Sequence[Any], t: Callable[[Any], datetime | None]) -> list[DeploymentRecord]:
    """Rows in :data:`_COLUMNS` order as records.

    DeploymentRecord is frozen, and a frozen dataclass's ``__init__`` sets its 30
    fields one ``object.__setattr__`` at a time, which was half the cost of a page.
    These values come from the table's own typed columns, so the instance gets its
    attribute dict whole; ``test_history_rows`` checks the result equals records
    built the ordinary way.
    """
    out = []
    for (
        id_, product, environment, environment_kind, version, build_number, full_version,
        status, kind, reverts_id, commit_sha, branch, repository, deployed_by, ci_platform,
        ci_run_id, ci_run_url, source_system, extra, deployed_at, created_at, updated_at,
        started_at, finished_at, duration_ms, product_id, environment_id, version_id,
        commit_time,
    ) in rows:  # fmt: skip
        record = _new(DeploymentRecord)
        _setattr(record, "__dict__", {
            "id": id_,
            "product": product,
            "environment": environment,
            "environment_kind": environment_kind,
            "version": version,
            "build_number": build_number,
            "full_version": full_version,
            "status": status,
            "kind": kind,
            "reverts_id": reverts_id,
            "commit_sha": commit_sha,
            "branch": branch,
            "repository": repository,
            "deployed_by": deployed_by,
            "ci_platform": ci_platform,
            "ci_run_id": ci_run_id,
            "ci_run_url": ci_run_url,
            "source_system": source_system,
            "metadata": _metadata(extra),
            "deployed_at": t(deployed_at),
            "created_at": t(created_at),
            "updated_at": t(updated_at),
            "started_at": t(started_at),
            "finished_at": t(finished_at),
            "duration_ms": duration_ms,
            "product_id": product_id,
            "environment_id": environment_id,
            "version_id": version_id,
            "commit_time": t(commit_time),
            "events": (),
        })  # fmt: skip
        out.append(record)
    return out
