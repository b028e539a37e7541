"""Running one release action and storing its execution (``release_action_runs``).

:func:`execute_action` runs one action of one plan step with
:func:`~shipmate.services.releases.action_env.action_env` and stores the execution:
a ``running`` row before the action starts, then ``ok``/``failed`` with exit code,
bounded output, error and duration, each in its own committed transaction.
:func:`list_executions` and :func:`find_execution` read them back (the API, the
CLI, a resumed run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import desc, select, update

from shipmate.domain.fielddicts import record_from
from shipmate.domain.inputs.fields import format_time, validate_lookup_name
from shipmate.domain.releases.planning import PlanStep, ReleaseAction
from shipmate.engine.action_outcome import ActionOutcome
from shipmate.engine.actions import ActionRunner, LocalActionRunner
from shipmate.errors import InvalidInputError, NotFoundError
from shipmate.services.context import Context
from shipmate.services.releases.action_env import action_env
from shipmate.services.releases.actions import slot_values
from shipmate.services.releases.settings import release_settings
from shipmate.store.catalog import find_environment_id, find_product_id
from shipmate.store.pair_ids import find_pair_ids
from shipmate.store.schema import environments, products, versions
from shipmate.store.schema_releases import release_action_runs, release_actions

__all__ = ["ActionExecution", "execute_action", "find_execution", "list_executions"]


@dataclass(frozen=True)
class ActionExecution:
    """One stored execution of one action in one environment."""

    id: int
    product: str
    environment: str
    version: str
    phase: str
    order: int
    name: str
    kind: str
    checksum: str
    status: str  # running | ok | failed
    step_index: int
    step_total: int
    started_at: datetime
    finished_at: datetime | None = None
    duration_ms: int | None = None
    exit_code: int | None = None
    output: str = ""
    error: str | None = None
    run_id: int | None = None
    deployment_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "product": self.product,
            "environment": self.environment,
            "version": self.version,
            "phase": self.phase,
            "order": self.order,
            "name": self.name,
            "kind": self.kind,
            "checksum": self.checksum,
            "status": self.status,
            "step": f"{self.step_index}/{self.step_total}",
            "started_at": format_time(self.started_at),
            "finished_at": format_time(self.finished_at),
            "duration_ms": self.duration_ms,
            "exit_code": self.exit_code,
            "output": self.output,
            "error": self.error,
            "run_id": None if self.run_id is None else str(self.run_id),
            "deployment_id": None if self.deployment_id is None else str(self.deployment_id),
        }


# -- reading stored executions -------------------------------------------------------


def _execution_select() -> Any:
    return select(
        release_action_runs,
        products.c.name.label("product_name"),
        environments.c.name.label("environment_name"),
    ).select_from(
        release_action_runs.join(products, products.c.id == release_action_runs.c.product_id).join(
            environments, environments.c.id == release_action_runs.c.environment_id
        )
    )


def _row_to_execution(row: Any) -> ActionExecution:
    return record_from(
        ActionExecution,
        row,
        id=int(row.id),
        product=row.product_name,
        environment=row.environment_name,
        order=int(row.sort_order),
        step_index=int(row.step_index),
        step_total=int(row.step_total),
        duration_ms=None if row.duration_ms is None else int(row.duration_ms),
        output=row.output or "",
        run_id=None if row.run_id is None else int(row.run_id),
        deployment_id=None if row.deployment_id is None else int(row.deployment_id),
    )


def list_executions(
    ctx: Context,
    product: str,
    *,
    environment: str | None = None,
    run_id: int | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[ActionExecution]:
    """Stored executions, newest first."""
    product = validate_lookup_name(product, field="product", max_length=255)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 500:
        raise InvalidInputError("limit must be between 1 and 500", field="limit")
    with ctx.read() as conn:
        product_id = find_product_id(conn, product)
        if product_id is None:
            raise NotFoundError(f"product {product!r} does not exist", field="product")
        query = _execution_select().where(release_action_runs.c.product_id == product_id)
        if environment is not None:
            environment_id = find_environment_id(conn, environment)
            if environment_id is None:
                raise NotFoundError(
                    f"environment {environment!r} does not exist", field="environment"
                )
            query = query.where(release_action_runs.c.environment_id == environment_id)
        if run_id is not None:
            query = query.where(release_action_runs.c.run_id == run_id)
        if before_id is not None:
            query = query.where(release_action_runs.c.id < before_id)
        rows = conn.execute(query.order_by(desc(release_action_runs.c.id)).limit(limit)).all()
    return [_row_to_execution(row) for row in rows]


def find_execution(
    ctx: Context,
    product: str,
    environment: str,
    *,
    run_id: int,
    step: PlanStep,
    action: ReleaseAction,
) -> ActionExecution | None:
    """The latest execution of ``action`` at ``step`` by run ``run_id`` (for resumed runs)."""
    with ctx.read() as conn:
        ids = find_pair_ids(conn, product, environment)
        if ids is None:
            return None
        product_id, environment_id = ids
        row = conn.execute(
            _execution_select()
            .where(
                release_action_runs.c.product_id == product_id,
                release_action_runs.c.environment_id == environment_id,
                release_action_runs.c.run_id == run_id,
                release_action_runs.c.version == action.version,
                release_action_runs.c.phase == str(action.phase),
                release_action_runs.c.sort_order == action.order,
                release_action_runs.c.step_index == step.index,
            )
            .order_by(desc(release_action_runs.c.id))
            .limit(1)
        ).first()
    return None if row is None else _row_to_execution(row)


def _start_execution(
    ctx: Context,
    product: str,
    environment: str,
    step: PlanStep,
    action: ReleaseAction,
    *,
    run_id: int | None,
    deployment_id: int | None,
) -> int:
    now = ctx.now()
    with ctx.write() as conn:
        ids = find_pair_ids(conn, product, environment)
        if ids is None:
            raise NotFoundError(f"{product} in {environment} is not known", field="environment")
        product_id, environment_id = ids
        action_id = conn.execute(
            select(release_actions.c.id)
            .select_from(
                release_actions.join(versions, versions.c.id == release_actions.c.version_id)
            )
            .where(
                release_actions.c.product_id == product_id,
                versions.c.version == action.version,
                release_actions.c.phase == str(action.phase),
                release_actions.c.sort_order == action.order,
                release_actions.c.checksum == action.checksum,
            )
        ).scalar()
        if action_id is None:
            raise NotFoundError(
                f"the {action.phase} action #{action.order} of {product} {action.version} "
                f"({action.name!r}) is no longer stored as planned; plan again",
                field="action",
            )
        return int(
            conn.execute(
                release_action_runs.insert()
                .values(
                    product_id=product_id,
                    environment_id=environment_id,
                    action_id=action_id,
                    version=action.version,
                    **slot_values(action),
                    run_id=run_id,
                    deployment_id=deployment_id,
                    step_index=step.index,
                    step_total=step.total,
                    status="running",
                    started_at=now,
                )
                .returning(release_action_runs.c.id)
            ).scalar_one()
        )


def _finish_execution(ctx: Context, execution_id: int, outcome: ActionOutcome) -> ActionExecution:
    now = ctx.now()
    with ctx.write() as conn:
        conn.execute(
            update(release_action_runs)
            .where(release_action_runs.c.id == execution_id)
            .values(
                status="ok" if outcome.ok else "failed",
                exit_code=outcome.exit_code,
                output=outcome.output.replace("\x00", ""),
                error=None if outcome.error is None else outcome.error.replace("\x00", ""),
                finished_at=now,
                duration_ms=round(outcome.duration_ms),
            )
        )
        row = conn.execute(
            _execution_select().where(release_action_runs.c.id == execution_id)
        ).one()
    return _row_to_execution(row)


# -- running one action --------------------------------------------------------------


def execute_action(
    ctx: Context,
    product: str,
    environment: str,
    step: PlanStep,
    action: ReleaseAction,
    *,
    runner: ActionRunner | None = None,
    app_env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    cwd: str | None = None,
    run_id: int | None = None,
    deployment_id: int | None = None,
) -> ActionExecution:
    """Run one action of one plan step and store its execution (never raises for its failure).

    The caller holds the lease and moves the position
    (:func:`~shipmate.services.releases.walk.complete_version`) once every action of
    the step succeeded.
    """
    seconds = timeout if timeout is not None else release_settings(ctx.settings).action_timeout
    execution_id = _start_execution(
        ctx, product, environment, step, action, run_id=run_id, deployment_id=deployment_id
    )
    env = action_env(step, action, product=product, environment=environment, app_env=app_env)
    try:
        outcome = (runner or LocalActionRunner()).run(action, env=env, timeout=seconds, cwd=cwd)
    except Exception as exc:  # a runner bug must still close the execution row
        outcome = ActionOutcome(ok=False, output="", error=f"{type(exc).__name__}: {exc}")
    return _finish_execution(ctx, execution_id, outcome)
