"""What services return: plain frozen records, rendered by every adapter.

``to_dict`` gives the JSON shape of shipmate's own API and ``--json`` output:
snake_case names, ids as strings, times as RFC 3339 with ``Z``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from shipmate.domain.drift import WARNING_DIRECTIONS
from shipmate.domain.fielddicts import fields_dict, optional_str
from shipmate.domain.inputs.fields import format_time

__all__ = [
    "BuildRecord",
    "DeploymentRecord",
    "EventRecord",
    "HistoryPage",
    "Matrix",
    "MatrixCell",
    "Stats",
    "VersionCount",
]


@dataclass(frozen=True)
class BuildRecord:
    id: int
    product: str
    version: str
    build_number: int
    full_version: str
    status: str
    commit_sha: str | None
    branch: str | None
    repository: str | None
    built_by: str | None
    ci_platform: str | None
    ci_run_id: str | None
    ci_run_url: str | None
    source_system: str | None
    metadata: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    product_id: int = 0
    version_id: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "product": self.product,
            "product_id": str(self.product_id),
            "version": self.version,
            "version_id": str(self.version_id),
            "build_number": self.build_number,
            "full_version": self.full_version,
            "status": self.status,
            "commit_sha": self.commit_sha,
            "branch": self.branch,
            "repository": self.repository,
            "built_by": self.built_by,
            "ci_platform": self.ci_platform,
            "ci_run_id": self.ci_run_id,
            "ci_run_url": self.ci_run_url,
            "source_system": self.source_system,
            "metadata": self.metadata,
            "created_at": format_time(self.created_at),
            "started_at": format_time(self.started_at),
            "completed_at": format_time(self.completed_at),
        }


@dataclass(frozen=True)
class EventRecord:
    id: int
    type: str
    at: datetime
    actor: str | None
    key_name: str | None
    product: str | None
    environment: str | None
    deployment_id: int | None
    from_status: str | None
    to_status: str | None
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self, id=str, at=format_time, deployment_id=optional_str)


@dataclass(frozen=True)
class DeploymentRecord:
    id: int
    product: str
    environment: str
    environment_kind: str
    version: str
    build_number: int | None
    full_version: str
    status: str
    kind: str
    reverts_id: int | None
    commit_sha: str | None
    branch: str | None
    repository: str | None
    deployed_by: str | None
    ci_platform: str | None
    ci_run_id: str | None
    ci_run_url: str | None
    source_system: str | None
    metadata: dict[str, Any]
    deployed_at: datetime
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    product_id: int = 0
    environment_id: int = 0
    version_id: int = 0
    commit_time: datetime | None = None
    events: tuple[EventRecord, ...] = field(default=())

    def to_dict(self, *, with_events: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": str(self.id),
            "product": self.product,
            "product_id": str(self.product_id),
            "environment": self.environment,
            "environment_id": str(self.environment_id),
            "environment_kind": self.environment_kind,
            "version": self.version,
            "version_id": str(self.version_id),
            "build_number": self.build_number,
            "full_version": self.full_version,
            "status": self.status,
            "kind": self.kind,
            "reverts_id": optional_str(self.reverts_id),
            "commit_sha": self.commit_sha,
            "commit_time": format_time(self.commit_time),
            "branch": self.branch,
            "repository": self.repository,
            "deployed_by": self.deployed_by,
            "ci_platform": self.ci_platform,
            "ci_run_id": self.ci_run_id,
            "ci_run_url": self.ci_run_url,
            "source_system": self.source_system,
            "metadata": self.metadata,
            "deployed_at": format_time(self.deployed_at),
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
            "started_at": format_time(self.started_at),
            "finished_at": format_time(self.finished_at),
            "duration_ms": self.duration_ms,
        }
        if with_events:
            body["events"] = [e.to_dict() for e in self.events]
        return body


@dataclass(frozen=True)
class HistoryPage:
    items: tuple[DeploymentRecord, ...]
    next_cursor: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": [d.to_dict() for d in self.items],
            "next_cursor": self.next_cursor,
            "count": len(self.items),
        }


@dataclass(frozen=True)
class MatrixCell:
    product: str
    environment: str
    deployment_id: int
    version: str
    full_version: str
    status: str
    since: datetime
    age_seconds: float
    deployed_by: str | None
    commit_sha: str | None
    #: The version differs from the product's most-promoted environment.
    drift: bool
    #: Which way (:class:`shipmate.domain.drift.DriftDirection` value): ``ahead``,
    #: ``behind`` or ``skipped``; None when it agrees with every later environment.
    drift_direction: str | None = None
    #: The environment the direction compares with.
    drift_against: str | None = None
    #: Served by several hosts: what they serve (``2.0.0 on 2 of 3 hosts; 1.0.0 on web-3``).
    hosts: str | None = None

    @property
    def drift_warning(self) -> bool:
        """Behind a later environment, or never in the one before: worth a warning."""
        return self.drift_direction in WARNING_DIRECTIONS

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(
            self, deployment_id=str, since=format_time, age_seconds=lambda s: round(s, 3)
        )


@dataclass(frozen=True)
class Matrix:
    products: tuple[str, ...]
    environments: tuple[tuple[str, str], ...]  # (name, kind), in promotion order
    cells: tuple[MatrixCell, ...]

    @cached_property
    def _by_pair(self) -> dict[tuple[str, str], MatrixCell]:
        # Built once: the dashboard asks for every cell.
        return {(c.product, c.environment): c for c in self.cells}

    def cell(self, product: str, environment: str) -> MatrixCell | None:
        return self._by_pair.get((product, environment))

    def to_dict(self) -> dict[str, Any]:
        return {
            "products": list(self.products),
            "environments": [{"name": n, "kind": k} for n, k in self.environments],
            "cells": [c.to_dict() for c in self.cells],
        }


@dataclass(frozen=True)
class VersionCount:
    version: str
    total: int
    completed: int
    failed: int
    rolled_back: int

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self)


@dataclass(frozen=True)
class Stats:
    total: int
    by_status: dict[str, int]
    success_rate: float | None
    latest_full_version: str | None
    latest_deployed_at: datetime | None
    versions: tuple[VersionCount, ...]

    @property
    def completed(self) -> int:
        return self.by_status.get("completed", 0)

    @property
    def failed(self) -> int:
        return self.by_status.get("failed", 0)

    @property
    def rolled_back(self) -> int:
        return self.by_status.get("rolled_back", 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_status": self.by_status,
            "completed": self.completed,
            "failed": self.failed,
            "rolled_back": self.rolled_back,
            "success_rate": self.success_rate,
            "latest_full_version": self.latest_full_version,
            "latest_deployed_at": format_time(self.latest_deployed_at),
            "versions": [v.to_dict() for v in self.versions],
        }
