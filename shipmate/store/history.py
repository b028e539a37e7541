"""The history query: deployment filters, compiled once per shape, rows decoded by hand.

History is the hottest read shipmate serves (the CLI's ``history``, the API's
list endpoints, the dashboard's pages).  At a million deployments the database
answers a page in a fraction of a millisecond, and SQLAlchemy's per-call work
(building the statement, its cache key, a type processor per cell: about 300
timestamps and 51 JSON documents a page) cost several times the query.  So:

- every filter term is named once (:data:`TERMS`), used both as literal
  SQLAlchemy terms (:func:`filter_terms`, for stats and other grouped queries)
  and as placeholders (the history statement);
- the history statement is compiled once per dialect and *shape* (which terms are
  present, whether after a keyset cursor) by SQLAlchemy's own compiler
  (:class:`~shipmate.store.decoding.CompiledQuery`), and each row is decoded
  positionally straight into a :class:`~shipmate.domain.records.DeploymentRecord`
  (:mod:`shipmate.store.decoding`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, bindparam, desc, select, tuple_

from shipmate.domain.records import DeploymentRecord
from shipmate.store.decoding import (
    CompiledQuery,
    bind_time,
    fast_record,
    metadata_dict,
    time_decoder,
)
from shipmate.store.historysearch import search_term
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
    "search": search_term,
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


_QUERIES: dict[tuple[tuple[str, ...], bool], CompiledQuery] = {}


def _query(shape: tuple[str, ...], keyset: bool) -> CompiledQuery:
    """The history statement for one shape: which terms, and whether after a cursor."""
    found = _QUERIES.get((shape, keyset))
    if found is not None:
        return found

    def build() -> Select[Any]:
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
                tuple_(_d.deployed_at, _d.id)
                < tuple_(bindparam("cursor_at"), bindparam("cursor_id"))
            )
        return query.order_by(desc(_d.deployed_at), desc(_d.id)).limit(bindparam("limit"))

    made = _QUERIES[(shape, keyset)] = CompiledQuery(build)
    return made


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
    params: dict[str, Any] = {
        k: (bind_time(v, dialect) if k in _TIME_TERMS else v) for k, v in values.items()
    }
    if cursor is not None:
        params["cursor_at"] = bind_time(cursor[0], dialect)
        params["cursor_id"] = cursor[1]
    params["limit"] = limit
    rows = _query(tuple(values), cursor is not None).rows(conn, params)
    return _decode(rows, time_decoder(dialect))


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
        # A deployment's times often repeat (created = deployed = started, updated =
        # finished): decode each distinct value once.
        at = t(deployed_at)
        updated = t(updated_at)
        out.append(fast_record(DeploymentRecord, {
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
            "metadata": metadata_dict(extra),
            "deployed_at": at,
            "created_at": at if created_at == deployed_at else t(created_at),
            "updated_at": updated,
            "started_at": at if started_at == deployed_at else t(started_at),
            "finished_at": updated if finished_at == updated_at else t(finished_at),
            "duration_ms": duration_ms,
            "product_id": product_id,
            "environment_id": environment_id,
            "version_id": version_id,
            "commit_time": t(commit_time),
            "events": (),
        }))  # fmt: skip
    return out
