"""A rollout has one deployment record: what a host's run records maps onto it.

Every host's run records as if it were alone (``record_started``,
``record_completed``, ``record_failed``, ``record_rollback``).  For a child run of
a rollout the server maps those onto the rollout's single deployment:

* ``record_started`` (a new deployment ``started``): the rollout's deployment, built
  from the coordinating run's plan and fields with the key
  ``shipmate-run-<rollout>-started``, so the first host to get there records it
  (gates are evaluated then) and every other host gets the same record back;
* ``record_completed`` (a host is only there once the rollout told every host to
  continue: every host switched and is healthy): the rollout's deployment
  ``completed``, with the key ``shipmate-run-<rollout>-completed`` and the same
  request whichever host sends it, so it is written once, before the hosts keep
  their old slots warm (as for one host: a rollback meanwhile reverts a completed
  deployment and finds the old slots warm);
* anything else (failed, an automatic rollback): nothing is written; the answer
  is the rollout's deployment as it stands.  The coordinator records how the
  rollout ended (:mod:`shipmate.services.rollouts.coordinator`).
"""

from __future__ import annotations

from sqlalchemy import and_, update

from shipmate.domain.records import DeploymentRecord
from shipmate.domain.requests import RecordRequest
from shipmate.domain.runs.model import RunPlan
from shipmate.errors import ConflictError
from shipmate.services.context import Context
from shipmate.services.records.deployments import record_deployment
from shipmate.services.runs.journal import get_run
from shipmate.services.runs.records import RunRecord
from shipmate.store.deployments import get_deployment
from shipmate.store.schema_runs import runs

__all__ = ["completed_request", "record_for_child"]


def record_for_child(ctx: Context, child: RunRecord, forced: RecordRequest) -> DeploymentRecord:
    """What ``child`` (a host's run of a rollout) records, mapped onto the rollout's record."""
    assert child.parent_id is not None
    parent = get_run(ctx, child.parent_id)
    if forced.deployment_id is None and forced.status == "started":
        plan = RunPlan.from_dict(parent.params["plan"])
        fields = {k: v for k, v in (parent.params.get("record") or {}).items() if v is not None}
        dep = record_deployment(
            ctx,
            RecordRequest(
                environment=parent.environment,
                status="started",
                product=parent.product,
                version=plan.version,
                build_number=plan.build_number,
                kind=plan.kind,
                reverts_id=plan.reverts_id,
                source_system="shipmate",
                metadata={"run_id": str(parent.id), "hosts": ", ".join(_hosts(parent))},
                idempotency_key=f"shipmate-run-{parent.id}-started",
                key_name=forced.key_name,
                **fields,
            ),
        )
        with ctx.write() as conn:
            conn.execute(
                update(runs)
                .where(and_(runs.c.id == parent.id, runs.c.deployment_id.is_(None)))
                .values(deployment_id=dep.id)
            )
        return dep
    dep_id = parent.deployment_id
    if dep_id is not None and forced.deployment_id == dep_id and forced.status == "completed":
        return record_deployment(ctx, completed_request(parent, dep_id))
    found = None
    if dep_id is not None:
        with ctx.read() as conn:
            found = get_deployment(conn, dep_id)
    if found is None:
        raise ConflictError(
            f"run {child.id} is part of rollout run {parent.id}, which recorded no deployment yet",
            field="run",
        )
    return found


def completed_request(parent: RunRecord, dep_id: int) -> RecordRequest:
    """The rollout's deployment completed: one request whichever host or coordinator sends it."""
    fields = parent.params.get("record") or {}
    return RecordRequest(
        environment=parent.environment,
        status="completed",
        deployment_id=dep_id,
        deployed_by=fields.get("deployed_by"),
        idempotency_key=f"shipmate-run-{parent.id}-completed",
    )


def _hosts(parent: RunRecord) -> list[str]:
    return [str(h) for h in (parent.params.get("rollout") or {}).get("hosts") or []]
