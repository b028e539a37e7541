"""Finding the deployment or build a repeated finish event repeats (the rule:
:func:`shipmate.domain.repeats.is_repeated_finish`), inside the recording
transaction, after its lock: the (product, environment) lock for a deployment,
the version's row lock for a build.

A deployment's candidate is the top of the place's history (``deployed_at``, then
id: the order ``shipmate history`` shows), one seek on
``ix_deployments_product_env_at``.  A build's is the newest build of its version
(of its CI run, when the event names one), by id: builds are numbered in the
order they are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, desc, select

from shipmate.domain.records import BuildRecord, DeploymentRecord
from shipmate.domain.repeats import FINISHES, FinishEvent, RecordedFinish, is_repeated_finish
from shipmate.store.decoding import RowDecoder
from shipmate.store.recording import latest_deployment_here
from shipmate.store.schema import builds

__all__ = ["Recorded", "RecordedBuild", "find_repeated_build_finish", "find_repeated_finish"]


@dataclass(frozen=True)
class Recorded:
    """A recorded deployment, and whether the event only repeated what was there
    (nothing was written; adapters answer 200 instead of 201)."""

    deployment: DeploymentRecord
    replayed: bool = False


@dataclass(frozen=True)
class RecordedBuild:
    """A recorded build, and whether the event only repeated what was there
    (nothing was written; adapters answer 200 instead of 201)."""

    build: BuildRecord
    replayed: bool = False


def find_repeated_finish(
    conn: Connection, product_id: int, environment_id: int, event: FinishEvent, now: datetime
) -> DeploymentRecord | None:
    """The deployment ``event`` repeats, or None when it is a new one."""
    if event.status not in FINISHES:
        return None
    latest = latest_deployment_here(conn, product_id, environment_id)
    if latest is None or not is_repeated_finish(RecordedFinish.of_deployment(latest), event, now):
        return None
    return latest


#: A build row as a repeat compares it (a build has no kind and reverts nothing).
_build_finish = RowDecoder(
    RecordedFinish,
    columns={"finished_at": "completed_at"},
    skip=("version", "kind", "reverts_id"),
)


def find_repeated_build_finish(
    conn: Connection, version: str, version_id: int, event: FinishEvent, now: datetime
) -> int | None:
    """The id of the build ``event`` repeats, or None when it records a new one."""
    if event.status not in FINISHES:
        return None
    query = select(
        builds.c.id,
        builds.c.status,
        builds.c.build_number,
        builds.c.ci_run_id,
        builds.c.commit_sha,
        builds.c.started_at,
        builds.c.completed_at,
        builds.c.updated_at,
    ).where(builds.c.version_id == version_id)
    if event.ci_run_id is not None:
        query = query.where(builds.c.ci_run_id == event.ci_run_id)
    row = conn.execute(query.order_by(desc(builds.c.id)).limit(1)).first()
    if row is None:
        return None
    latest = _build_finish(row, version=version)
    return int(row.id) if is_repeated_finish(latest, event, now) else None
