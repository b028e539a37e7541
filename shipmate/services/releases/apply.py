"""``shipmate release apply``: the walk through interim versions, recorded as a deployment.

:func:`apply_release` wraps :func:`~shipmate.services.releases.walk.run_interim_actions`
in a deployment record (``started`` first, so gates apply; ``completed`` when every
action ran; ``failed`` with the failing version, action and output otherwise), of
kind ``rollforward``, ``rollback`` (reverting the current deployment) or ``deploy``
(same version).  No application is delivered: it is for environments where
shipmate does not run the app, or whose delivery happens elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipmate.domain.inputs.fields import validate_name
from shipmate.domain.records import DeploymentRecord
from shipmate.domain.releases.lineage import Direction
from shipmate.domain.requests import RecordRequest
from shipmate.domain.versions import parse_full_version, validate_build_number
from shipmate.engine.actions import ActionRunner
from shipmate.errors import InvalidInputError
from shipmate.services.context import Context
from shipmate.services.deploys.deploy import DeployRequest
from shipmate.services.records.deployments import record_deployment
from shipmate.services.releases.action_env import app_env_for
from shipmate.services.releases.plans import plan_for
from shipmate.services.releases.positions import current_deployment_id
from shipmate.services.releases.walk import ProgressCallback, WalkResult, run_interim_actions
from shipmate.store.catalog import find_environment_id, find_product_id

__all__ = ["MAX_RECORDED_OUTPUT", "ApplyRequest", "ApplyResult", "apply_release"]

#: Longest output tail put into a failed deployment's metadata.
MAX_RECORDED_OUTPUT = 4000


@dataclass(frozen=True)
class ApplyRequest(DeployRequest):
    """``shipmate release apply``: move an environment to ``version`` by running actions.

    Who deploys what where and the CI metadata are a deploy's; the rest are the
    actions' options.
    """

    strict: bool | None = None
    timeout: float | None = None
    cwd: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: Extra variables for every action, over the app's configured ones.
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApplyResult:
    walk: WalkResult
    deployment: DeploymentRecord

    @property
    def ok(self) -> bool:
        return self.walk.ok

    def to_dict(self) -> dict[str, Any]:
        return {**self.walk.to_dict(), "deployment": self.deployment.to_dict()}


def _kind_for(direction: Direction) -> str:
    if direction is Direction.ROLLFORWARD:
        return "rollforward"
    if direction is Direction.ROLLBACK:
        return "rollback"
    return "deploy"


def _clip(text: str, limit: int = MAX_RECORDED_OUTPUT) -> str:
    text = text.replace("\x00", "")
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def apply_release(
    ctx: Context,
    req: ApplyRequest,
    *,
    runner: ActionRunner | None = None,
    on_progress: ProgressCallback | None = None,
) -> ApplyResult:
    """Run the actions to ``req.version`` and record the outcome as a deployment.

    Gates are checked when the deployment is recorded ``started`` (GateBlockedError
    before any action runs).  A failed action records it ``failed``, its
    ``metadata.release_actions`` naming the failing version, action and output tail.
    """
    product = validate_name(req.product, field="product", max_length=255)
    environment = validate_name(req.environment, field="environment")
    full = parse_full_version(str(req.version))
    build_number = req.build_number if req.build_number is not None else full.build_number
    if build_number is not None:
        build_number = validate_build_number(build_number)
    if full.build_number is not None and build_number != full.build_number:
        raise InvalidInputError(
            f"version names build {full.build_number} but build is {build_number}", field="build"
        )
    the_plan = plan_for(ctx, product, environment, full.version, strict=req.strict)
    env_of_app = {**app_env_for(ctx.settings, product), **dict(req.env)}
    kind = _kind_for(the_plan.direction)
    reverts_id = None
    if kind == "rollback":
        with ctx.read() as conn:
            product_id = find_product_id(conn, product)
            environment_id = find_environment_id(conn, environment)
            assert product_id is not None
            reverts_id = current_deployment_id(conn, product_id, environment_id)
    summary = {
        "from": the_plan.current,
        "position": the_plan.position,
        "direction": str(the_plan.direction),
        "versions": [s.version for s in the_plan.steps],
        "actions": the_plan.action_count,
    }
    started = record_deployment(
        ctx,
        RecordRequest(
            environment=environment,
            status="started",
            product=product,
            version=full.version,
            build_number=build_number,
            kind=kind,
            reverts_id=reverts_id,
            metadata=dict(req.metadata),
            own_metadata={"release_actions": summary},
            source_system="shipmate-release",
            **req.record_fields(),
        ),
    )
    try:
        walk = run_interim_actions(
            ctx,
            product,
            environment,
            full.version,
            runner=runner,
            on_progress=on_progress,
            deployment_id=started.id,
            app_env=env_of_app,
            timeout=req.timeout,
            cwd=req.cwd,
            plan=the_plan,
        )
    except Exception as exc:
        record_deployment(
            ctx,
            RecordRequest(
                environment=environment,
                status="failed",
                deployment_id=started.id,
                own_metadata={"release_actions": {**summary, "error": _clip(str(exc))}},
            ),
        )
        raise
    if walk.ok:
        final = record_deployment(
            ctx,
            RecordRequest(
                environment=environment,
                status="completed",
                deployment_id=started.id,
                own_metadata={"release_actions": {**summary, "position": walk.position}},
            ),
        )
    else:
        failed = walk.failed
        assert failed is not None
        final = record_deployment(
            ctx,
            RecordRequest(
                environment=environment,
                status="failed",
                deployment_id=started.id,
                own_metadata={
                    "release_actions": {
                        **summary,
                        "position": walk.position,
                        "failed_version": failed.version,
                        "failed_phase": failed.phase,
                        "failed_action": failed.name,
                        "error": _clip(failed.error or ""),
                        "output": _clip(failed.output),
                    }
                },
            ),
        )
    return ApplyResult(walk, final)
