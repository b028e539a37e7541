"""The registry of deploy hosts: an agent's hello, when it was last seen, what it runs.

A ``hosts`` row is created by the first hello of an agent for that host name (the
name comes from its key, never from the request) and updated by every later one;
every claim poll renews ``last_seen_at`` (at most once per :data:`SEEN_RESOLUTION`),
so ``shipmate hosts`` tells a silent host from a busy one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from shipmate.domain.hostlabels import validate_labels
from shipmate.domain.inputs.fields import format_time, validate_text
from shipmate.errors import InvalidInputError
from shipmate.services.context import Context
from shipmate.store.schema_agents import hosts

__all__ = ["HostRecord", "hello", "list_hosts", "report_state", "seen"]

#: ``last_seen_at`` is renewed at most this often by claim polls.
SEEN_RESOLUTION = timedelta(seconds=5)
MAX_STATE_BYTES = 64_000


@dataclass(frozen=True)
class HostRecord:
    name: str
    labels: dict[str, str]
    agent_version: str | None
    key_name: str | None
    registered_at: datetime
    last_seen_at: datetime
    state: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "labels": dict(self.labels),
            "agent_version": self.agent_version,
            "key_name": self.key_name,
            "registered_at": format_time(self.registered_at),
            "last_seen_at": format_time(self.last_seen_at),
            "state": self.state,
        }


def _record(row: Any) -> HostRecord:
    return HostRecord(
        name=row.name,
        labels=dict(row.labels or {}),
        agent_version=row.agent_version,
        key_name=row.key_name,
        registered_at=row.registered_at,
        last_seen_at=row.last_seen_at,
        state=dict(row.state) if row.state is not None else None,
    )


def hello(
    ctx: Context,
    host: str,
    *,
    key_name: str | None,
    labels: Mapping[str, object],
    agent_version: str | None,
) -> HostRecord:
    """Register ``host`` (or update its labels and version); a repeated hello is harmless."""
    checked = validate_labels(labels)
    version = validate_text(agent_version, field="agent_version", max_length=50)
    values = {
        "labels": checked,
        "agent_version": version,
        "key_name": key_name,
        "archived_at": None,
    }
    for attempt in range(2):
        now = ctx.now()
        try:
            with ctx.write() as conn:
                done = conn.execute(
                    update(hosts).where(hosts.c.name == host).values(last_seen_at=now, **values)
                ).rowcount
                if not done:
                    conn.execute(
                        insert(hosts).values(
                            name=host, registered_at=now, last_seen_at=now, state=None, **values
                        )
                    )
                row = conn.execute(select(hosts).where(hosts.c.name == host)).one()
                return _record(row)
        except IntegrityError:
            if attempt == 1:  # two first hellos at once: the other one inserted
                raise
    raise AssertionError("unreachable")


def seen(ctx: Context, host: str) -> None:
    """Renew ``host``'s ``last_seen_at`` (a claim poll), at most once per resolution."""
    now = ctx.now()
    with ctx.write() as conn:
        conn.execute(
            update(hosts)
            .where(hosts.c.name == host, hosts.c.last_seen_at < now - SEEN_RESOLUTION)
            .values(last_seen_at=now)
        )


def report_state(ctx: Context, host: str, state: Mapping[str, Any]) -> None:
    """Store what the agent of ``host`` says runs in each slot of each product."""
    if len(json.dumps(state, default=str)) > MAX_STATE_BYTES:
        raise InvalidInputError(f"a host's state is at most {MAX_STATE_BYTES} bytes", field="state")
    now = ctx.now()
    with ctx.write() as conn:
        done = conn.execute(
            update(hosts).where(hosts.c.name == host).values(state=dict(state), last_seen_at=now)
        ).rowcount
    if not done:
        raise InvalidInputError(
            f"host {host} has not said hello yet; an agent says hello first", field="host"
        )


def list_hosts(ctx: Context) -> list[HostRecord]:
    with ctx.read() as conn:
        rows = conn.execute(
            select(hosts).where(hosts.c.archived_at.is_(None)).order_by(hosts.c.name)
        ).all()
    return [_record(r) for r in rows]
