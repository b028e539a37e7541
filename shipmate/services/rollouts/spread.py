"""What each host of an environment serves, from what the agents report (``hosts.state``).

An agent reports, after each run, which version runs in each slot of the run's
product and where its switch sends traffic.  :func:`host_spread` turns every
registered host's report into one phrase per product and environment served by
more than one host (:func:`~shipmate.domain.fleet.rollout.describe_hosts`):
``2.0.0 on all 3 hosts``, or ``2.0.0 on 2 of 3 hosts; 1.0.0 on web-3`` while they
disagree.  The matrix shows it beside the recorded current version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from shipmate.domain.fleet.rollout import describe_hosts
from shipmate.store.schema_agents import hosts

__all__ = ["host_spread", "served_versions"]


def _served(report: object) -> str | None:
    """The version a host serves for one product and environment (its live slot's)."""
    if not isinstance(report, Mapping):
        return None
    slots = report.get("slots")
    live = report.get("live")
    slot = live.get("slot") if isinstance(live, Mapping) else None
    if not isinstance(slots, Mapping) or slot is None:
        return None
    version = slots.get(slot)
    return str(version) if version else None


def served_versions(conn: Connection) -> dict[tuple[str, str], dict[str, str | None]]:
    """(product, environment) -> {host: the version it serves} for every reporting host."""
    rows = conn.execute(
        select(hosts.c.name, hosts.c.state)
        .where(hosts.c.archived_at.is_(None))
        .order_by(hosts.c.name)
    ).all()
    found: dict[tuple[str, str], dict[str, str | None]] = defaultdict(dict)
    for row in rows:
        state: Any = row.state or {}
        if not isinstance(state, Mapping):
            continue
        for product, envs in state.items():
            if not isinstance(envs, Mapping):
                continue
            for environment, report in envs.items():
                found[(str(product), str(environment))][str(row.name)] = _served(report)
    return dict(found)


def host_spread(conn: Connection) -> dict[tuple[str, str], str]:
    """(product, environment) -> what its hosts serve, where more than one host reports."""
    return {
        pair: describe_hosts(versions)
        for pair, versions in served_versions(conn).items()
        if len(versions) > 1
    }
