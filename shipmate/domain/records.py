"""What services return: plain frozen records, rendered by every adapter.

``to_dict`` gives the JSON shape of shipmate's own API and ``--json`` output:
snake_case names, ids as strings, times as RFC 3339 with ``Z``.  The version matrix
is in :mod:`shipmate.domain.matrix`, the counts of ``shipmate stats`` in
:mod:`shipmate.domain.stats`: the CLI's remote ``record`` and ``version next`` create
only the classes they use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shipmate.domain.fielddicts import fields_dict, optional_str
from shipmate.domain.inputs.fields import format_time

__all__ = [
    "BuildRecord",
    "DeploymentRecord",
    "EventRecord",
    "HistoryPage",
]


@dataclass(frozen=True)
class BuildRecord:
    """One build: a product version's build number and where it came from."""

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
    """One entry of the event log."""

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
    """One deployment of a version to an environment, with its latest status."""

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
    """One page of deployment history and the cursor of the next."""

    items: tuple[DeploymentRecord, ...]
    next_cursor: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": [d.to_dict() for d in self.items],
            "next_cursor": self.next_cursor,
            "count": len(self.items),
        }
