"""A version's state in an environment (active, draining, drained, retired), as a
record: what :mod:`shipmate.services.draining.states` reads from the database and
the API sends (``GET /api/v1/version-states``), so both CLI backends hand the same
record to ``shipmate show``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from shipmate.domain.inputs.fields import format_time, parse_time

__all__ = ["VersionKey", "VersionState"]

#: The fields of a :class:`VersionState` that hold times.
_TIMES = ("since", "updated_at", "drain_started_at", "drain_finished_at")


@dataclass(frozen=True)
class VersionKey:
    """Which version: product, environment and full version (``1.4.0+build.7``)."""

    product: str
    environment: str
    version: str
    full_version: str


@dataclass(frozen=True)
class VersionState:
    product: str
    environment: str
    version: str
    full_version: str
    state: str
    since: datetime
    updated_at: datetime
    slot: str | None = None
    pending: int | None = None
    run_id: int | None = None
    drain_check: str | None = None
    drain_started_at: datetime | None = None
    drain_finished_at: datetime | None = None
    forced: bool = False
    forced_pending: int | None = None
    note: str | None = None
    #: False for a current deployment shipmate holds no row for (listed as active).
    recorded: bool = True

    @property
    def key(self) -> VersionKey:
        return VersionKey(self.product, self.environment, self.version, self.full_version)

    @property
    def drain_seconds(self) -> float | None:
        """How long the drain took (None while it runs or when there was none)."""
        if self.drain_started_at is None or self.drain_finished_at is None:
            return None
        return (self.drain_finished_at - self.drain_started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        def when(value: datetime | None) -> str | None:
            return format_time(value) if value is not None else None

        return {
            "product": self.product,
            "environment": self.environment,
            "version": self.version,
            "full_version": self.full_version,
            "state": self.state,
            "slot": self.slot,
            "pending": self.pending,
            "since": format_time(self.since),
            "updated_at": format_time(self.updated_at),
            "run_id": str(self.run_id) if self.run_id is not None else None,
            "drain_check": self.drain_check,
            "drain_started_at": when(self.drain_started_at),
            "drain_finished_at": when(self.drain_finished_at),
            "drain_seconds": self.drain_seconds,
            "forced": self.forced,
            "forced_pending": self.forced_pending,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VersionState:
        """The record from :meth:`to_dict`'s fields (the API's answer, times as text) or
        from a database row (times as datetimes)."""
        given = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        for key in _TIMES:
            value = given.get(key)
            if value is not None and not isinstance(value, datetime):
                given[key] = parse_time(value, field=key)
        if given.get("run_id") is not None:
            given["run_id"] = int(given["run_id"])
        given["forced"] = bool(given.get("forced"))
        return cls(**given)
