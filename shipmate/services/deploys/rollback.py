"""``shipmate rollback``: pick a target, validate it, and run it blue-green.

Target selection (:func:`choose_rollback`):

* The *current* deployment is the one shipmate's current state names: the latest
  completed deployment of the product in the environment that was not rolled
  back.  Without one there is nothing to roll back.
* The default target is the previous **completed** deployment with another full
  version (failed, aborted and rolled-back deployments are skipped: Helm rolls
  back to "current − 1" whatever it was; we roll back to the last good one).
* ``steps=N`` is the N-th such version counting back (1 = the default).
* ``to=V`` names a version (the newest completed deployment of it) or a full
  version (``1.4.0+build.7``).  Any version that once completed qualifies, even
  one that was rolled back later: the user asked for it by name.

Validation happens before anything changes (:func:`preview_rollback`): the target
exists, and its artifact is still available unless it still runs, warm, in a slot.
A confirmation is for what was shown: the transaction that opens the rollback's run
checks that the current deployment is still the one the choice names, and refuses
with a ConflictError naming what changed (a deploy finished while the prompt
waited, say).
The rollback itself is a run of kind ``rollback`` naming the current deployment
as the one it reverts; when it completes, that deployment is marked
``rolled_back``.  Nothing is deleted or renumbered.  A rollback supersedes a run
that only keeps its old slot warm, so it can switch straight back to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Unpack

from sqlalchemy import Connection, desc, select

from shipmate.domain.inputs.fields import validate_name
from shipmate.domain.lifecycle import Status
from shipmate.domain.records import DeploymentRecord
from shipmate.domain.runs.model import RunPlan
from shipmate.engine.release import Release
from shipmate.errors import ArtifactMissingError, ConflictError, InvalidInputError, NotFoundError
from shipmate.services.context import Context
from shipmate.services.deploys.config import ProductDeploy, RunParts, build_parts
from shipmate.services.deploys.deploy import (
    DeployRequest,
    RunOptions,
    RunOutcome,
    RunPreview,
    make_plan,
    preview_run,
    start_run,
)
from shipmate.store.catalog import find_environment_id, find_product_id
from shipmate.store.deployments import deployment_select, get_deployment, row_to_deployment
from shipmate.store.schema import current_state, deployments

__all__ = ["RollbackChoice", "choose_rollback", "preview_rollback", "rollback", "still_current"]

RECENT = 10


@dataclass(frozen=True)
class RollbackChoice:
    """The deployment being reverted, the one rolled back to, and recent history."""

    product: str
    environment: str
    current: DeploymentRecord
    target: DeploymentRecord
    #: The environment's latest deployments, newest first (for the confirmation).
    recent: tuple[DeploymentRecord, ...]
    #: How the target was chosen, in words.
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "environment": self.environment,
            "current": self.current.to_dict(),
            "target": self.target.to_dict(),
            "reason": self.reason,
            "recent": [d.to_dict() for d in self.recent],
        }


def choose_rollback(
    ctx: Context,
    product: str,
    environment: str,
    *,
    to: str | None = None,
    steps: int | None = None,
) -> RollbackChoice:
    """Find the deployment to roll back to; NotFoundError/InvalidInputError saying why not."""
    product = validate_name(product, field="product", max_length=255)
    environment = validate_name(environment, field="environment")
    if to is not None and steps is not None:
        raise InvalidInputError("give --to or --steps, not both", field="to")
    if steps is not None and (isinstance(steps, bool) or steps < 1):
        raise InvalidInputError("--steps must be 1 or more", field="steps")
    with ctx.read() as conn:
        pid = find_product_id(conn, product)
        if pid is None:
            raise NotFoundError(
                f"nothing to roll back: product {product!r} has no deployments", field="product"
            )
        eid = find_environment_id(conn, environment)
        if eid is None:
            raise NotFoundError(
                f"nothing to roll back: environment {environment!r} has no deployments",
                field="environment",
            )
        row = conn.execute(
            select(current_state.c.deployment_id).where(
                current_state.c.product_id == pid, current_state.c.environment_id == eid
            )
        ).first()
        current = get_deployment(conn, int(row.deployment_id)) if row is not None else None
        if current is None:
            raise NotFoundError(
                f"nothing to roll back: {product} has no completed deployment in {environment}",
                field="environment",
            )
        done = [
            row_to_deployment(r)
            for r in conn.execute(
                deployment_select()
                .where(
                    deployments.c.product_id == pid,
                    deployments.c.environment_id == eid,
                    deployments.c.status.in_([Status.COMPLETED.value, Status.ROLLED_BACK.value]),
                    deployments.c.id != current.id,
                )
                .order_by(desc(deployments.c.finished_at), desc(deployments.c.id))
                .limit(500)
            )
        ]
        recent = tuple(
            row_to_deployment(r)
            for r in conn.execute(
                deployment_select()
                .where(deployments.c.product_id == pid, deployments.c.environment_id == eid)
                .order_by(desc(deployments.c.deployed_at), desc(deployments.c.id))
                .limit(RECENT)
            )
        )
    target, reason = _pick(current, done, to=to, steps=steps)
    return RollbackChoice(product, environment, current, target, recent, reason)


def _pick(
    current: DeploymentRecord,
    done: list[DeploymentRecord],
    *,
    to: str | None,
    steps: int | None,
) -> tuple[DeploymentRecord, str]:
    where = f"{current.product} in {current.environment}"
    if to is not None:
        to = to.strip()
        for d in done:
            if d.full_version == to and d.full_version != current.full_version:
                return d, f"--to {to}"
        for d in done:
            if d.version == to and d.full_version != current.full_version:
                return d, f"--to {to} (its newest completed build, {d.full_version})"
        if to in (current.full_version, current.version):
            raise InvalidInputError(
                f"{to} is what runs in {current.environment} now ({current.full_version}); "
                "nothing to roll back to",
                field="to",
            )
        known = sorted({d.full_version for d in done})
        hint = f"; completed before: {', '.join(known[:10])}" if known else ""
        raise NotFoundError(
            f"{to} never completed a deployment of {where}, so it cannot be a rollback "
            f"target{hint}",
            field="to",
        )
    candidates: list[DeploymentRecord] = []
    seen = {current.full_version}
    for d in done:
        if d.status == Status.COMPLETED.value and d.full_version not in seen:
            seen.add(d.full_version)
            candidates.append(d)
    n = steps or 1
    if not candidates:
        raise NotFoundError(
            f"nothing to roll back to: {current.full_version} is the only version of {where} "
            "that completed and was not rolled back",
            field="environment",
        )
    if n > len(candidates):
        raise NotFoundError(
            f"--steps {n} goes back further than the history of {where}: only "
            f"{len(candidates)} earlier completed version(s)",
            field="steps",
        )
    reason = "the previous completed version" if n == 1 else f"--steps {n}"
    return candidates[n - 1], reason


def _rollback_plan(ctx: Context, deploy: ProductDeploy, choice: RollbackChoice) -> RunPlan:
    return make_plan(
        ctx,
        deploy,
        kind="rollback",
        environment=choice.environment,
        version=choice.target.version,
        build_number=choice.target.build_number,
        reverts_id=choice.current.id,
    )


def preview_rollback(
    ctx: Context,
    deploy: ProductDeploy,
    choice: RollbackChoice,
    *,
    parts: RunParts | None = None,
) -> RunPreview:
    """What the rollback would do; ArtifactMissingError if the target cannot start.

    Reads only.  When the target still runs warm in a slot the artifact does not
    matter: the rollback is a switch back.
    """
    parts = parts or build_parts(deploy)
    plan = _rollback_plan(ctx, deploy, choice)
    result = preview_run(ctx, plan, parts)
    if not result.warm:
        release = Release(plan.product, plan.version, plan.full_version, plan.build_number)
        try:
            parts.target.check_artifact(release)
        except ArtifactMissingError as exc:
            raise ArtifactMissingError(
                f"cannot roll back to {plan.full_version}: {exc.message}",
                field=exc.field,
                **exc.details,
            ) from None
    return result


def still_current(choice: RollbackChoice) -> Callable[[Connection], None]:
    """A check, run in the transaction that opens the run, that nothing changed meanwhile."""
    shown = choice.current

    def check(conn: Connection) -> None:
        pid = find_product_id(conn, choice.product)
        eid = find_environment_id(conn, choice.environment)
        query = select(current_state.c.deployment_id).where(
            current_state.c.product_id == pid, current_state.c.environment_id == eid
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        now_id = int(row.deployment_id) if row is not None else None
        if now_id == shown.id:
            return
        now = get_deployment(conn, now_id) if now_id is not None else None
        what = (
            f"deployment {now.id} ({now.full_version}, {now.kind} by {now.deployed_by or '-'})"
            if now is not None
            else "no completed deployment"
        )
        raise ConflictError(
            f"{choice.product} in {choice.environment} changed while the rollback waited: "
            f"the current deployment was {shown.id} ({shown.full_version}) when the rollback to "
            f"{choice.target.full_version} was shown, and is now {what}; nothing was rolled "
            "back, run shipmate rollback again to see what runs now",
            field="environment",
            shown_deployment_id=str(shown.id),
            current_deployment_id=str(now_id) if now_id is not None else None,
        )

    return check


def rollback(
    ctx: Context,
    deploy: ProductDeploy,
    choice: RollbackChoice,
    request: DeployRequest,
    **options: Unpack[RunOptions],
) -> RunOutcome:
    """Roll back to ``choice.target`` as a run (validate with :func:`preview_rollback` first)."""
    return start_run(
        ctx,
        deploy,
        _rollback_plan(ctx, deploy, choice),
        request.record_fields(),
        supersede=True,
        precondition=still_current(choice),
        **options,
    )
