"""What ``shipmate stats`` counts: deployments by status and by version.

``to_dict`` gives the JSON shape of the API and ``--json`` output, as the records of
:mod:`shipmate.domain.records` do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shipmate.domain.fielddicts import fields_dict
from shipmate.domain.inputs.fields import format_time

__all__ = ["Stats", "VersionCount"]


@dataclass(frozen=True)
class VersionCount:
    """How the deployments of one version ended."""

    version: str
    total: int
    completed: int
    failed: int
    rolled_back: int

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self)


@dataclass(frozen=True)
class Stats:
    """Deployment counts by status, the success rate and the counts per version."""

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
