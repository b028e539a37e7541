"""Finding the deployment a repeated finish event repeats (the rule:
:func:`shipmate.domain.repeats.is_repeated_finish`), inside the recording
transaction, after the (product, environment) lock.

The candidate is the top of the place's history (``deployed_at``, then id: the
order ``shipmate history`` shows), one seek on ``ix_deployments_product_env_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, desc

from shipmate.domain.records import DeploymentRecord
from shipmate.domain.repeats import FINISHES, FinishEvent, is_repeated_finish
from shipmate.store.deployments import deployment_select, row_to_deployment
from shipmate.store.schema import deployments

__all__ = ["Recorded", "find_repeated_finish"]


@dataclass(frozen=True)
class Recorded:
    """A recorded deployment, and whether the event only repeated what was there
    (nothing was written; adapters answer 200 instead of 201)."""

    deployment: DeploymentRecord
    replayed: bool = False


def find_repeated_finish(
    conn: Connection, product_id: int, environment_id: int, event: FinishEvent, now: datetime
) -> DeploymentRecord | None:
    """The deployment ``event`` repeats, or None when it is a new one."""
    if event.status not in FINISHES:
        return None
    row = conn.execute(
        deployment_select()
        .where(
            deployments.c.product_id == product_id,
            deployments.c.environment_id == environment_id,
        )
        .order_by(desc(deployments.c.deployed_at), desc(deployments.c.id))
        .limit(1)
    ).first()
    latest = None if row is None else row_to_deployment(row)
    return latest if is_repeated_finish(latest, event, now) else None
