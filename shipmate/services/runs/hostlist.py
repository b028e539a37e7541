"""The deploy hosts agents registered, as ``shipmate hosts`` and ``GET /api/v1/hosts``
show them: labels, when the agent last called (stale after :data:`STALE_SECONDS`),
what each slot runs (the state the agent last reported) and the run in progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from shipmate.domain.inputs.fields import format_time
from shipmate.services.context import Context
from shipmate.services.runs.records import RUNNING, RunRecord, row_to_run
from shipmate.store.schema_agents import hosts
from shipmate.store.schema_runs import runs

__all__ = ["STALE_SECONDS", "HostInfo", "list_hosts"]

#: A host whose agent has not called for this long is shown as stale.
STALE_SECONDS = 120


@dataclass(frozen=True)
class HostInfo:
    name: str
    labels: dict[str, Any]
    agent_version: str | None
    registered_at: datetime
    last_seen_at: datetime
    archived_at: datetime | None
    state: dict[str, Any]
    stale: bool
    #: Runs of this host still running: ``{id, kind, product, environment, full_version,
    #: state}``.
    runs: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "labels": self.labels,
            "agent_version": self.agent_version,
            "registered_at": format_time(self.registered_at),
            "last_seen_at": format_time(self.last_seen_at),
            "archived_at": format_time(self.archived_at) if self.archived_at else None,
            "stale": self.stale,
            "state": self.state,
            "runs": list(self.runs),
        }


def _state(run: RunRecord, now: datetime) -> str:
    """A host's run in words; a host's part of a rollout says which."""
    part = f" (rollout run {run.parent_id})" if run.parent_id is not None else ""
    if run.status == "queued":
        return f"queued until its batch's turn{part}"
    return ("waiting for the agent" if run.owner is None else run.state(now)) + part


def list_hosts(ctx: Context, *, archived: bool = False) -> list[HostInfo]:
    """Every registered host by name (archived ones with ``archived``)."""
    now = ctx.now()
    with ctx.read() as conn:
        query = select(hosts).order_by(hosts.c.name)
        if not archived:
            query = query.where(hosts.c.archived_at.is_(None))
        rows = conn.execute(query).all()
        running = [
            row_to_run(r)
            for r in conn.execute(
                select(runs)
                .where(runs.c.status.in_((RUNNING, "queued")), runs.c.host.is_not(None))
                .order_by(runs.c.id)
            )
        ]
    by_host: dict[str, list[dict[str, Any]]] = {}
    for run in running:
        by_host.setdefault(str(run.agent_host), []).append(
            {
                "id": str(run.id),
                "kind": run.kind,
                "product": run.product,
                "environment": run.environment,
                "full_version": run.full_version,
                "state": _state(run, now),
                "rollout": None if run.parent_id is None else str(run.parent_id),
            }
        )
    stale_before = now - timedelta(seconds=STALE_SECONDS)
    return [
        HostInfo(
            name=str(r.name),
            labels=dict(r.labels or {}),
            agent_version=r.agent_version,
            registered_at=r.registered_at,
            last_seen_at=r.last_seen_at,
            archived_at=r.archived_at,
            state=dict(r.state or {}),
            stale=r.last_seen_at < stale_before,
            runs=tuple(by_host.get(str(r.name), ())),
        )
        for r in rows
    ]
