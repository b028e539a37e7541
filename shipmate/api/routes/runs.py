"""API routes of the runs feature (registered by shipmate.api.app).

* ``GET /api/v1/runs``: runs, newest first (``product``, ``environment``,
  ``status`` incl. ``interrupted``, ``limit``, ``before`` for the next page).
* ``GET /api/v1/runs/{id}``: one run with its steps, their output and results
  (a read key gets release actions' bodies and output as ``null``, see
  :func:`shipmate.services.auth.access.redact_run`).

Runs are started and resumed by ``shipmate deploy`` / ``rollback`` / ``runs resume``
on the host that runs the apps.  The server never resumes a run (it would run the
run's deploy steps and release actions on its own host): at start-up and every
15 s it only marks running runs whose process is gone as needing attention
(:func:`start_run_recovery`; the run's ``attention`` field).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request

from shipmate.api.appstate import app_context
from shipmate.api.auth import Reader, scoped_product
from shipmate.api.schemas import ErrorBody, error_responses
from shipmate.domain.inputs.fields import parse_id
from shipmate.services.auth.access import redact_run
from shipmate.services.runs.attention import RunWatch
from shipmate.services.runs.control import get_run, list_runs

__all__ = ["router", "start_run_recovery", "stop_run_recovery"]

router = APIRouter(
    prefix="/api/v1", tags=["runs"], responses=error_responses(ErrorBody, 401, 403, 404, 413, 422)
)


def _id(value: str, field: str) -> int:
    return parse_id(value, field=field, noun="a run id")


@router.get("/runs", summary="Deploy and rollback runs, newest first")
def get_runs(
    request: Request,
    principal: Reader,
    product: Annotated[str | None, Query(max_length=255)] = None,
    environment: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    before: Annotated[str | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    product = scoped_product(principal, product)
    ctx = app_context(request)
    items = list_runs(
        ctx,
        product=product,
        environment=environment,
        status=status,
        limit=limit,
        before_id=_id(before, "before") if before is not None else None,
    )
    now = ctx.now()
    return {
        "items": [r.to_dict(now=now) for r in items],
        "next_before": str(items[-1].id) if len(items) == limit else None,
    }


@router.get("/runs/{run_id}", summary="One run with its steps")
def get_one_run(request: Request, run_id: str, principal: Reader) -> dict[str, Any]:
    ctx = app_context(request)
    run = get_run(ctx, _id(run_id, "id"))
    principal.require_product(run.product)
    return redact_run(principal, run.to_dict(now=ctx.now(), with_steps=True))


def start_run_recovery(app: FastAPI) -> None:
    """Start the thread that marks interrupted runs (called from the app's lifespan).

    It never resumes a run: see :mod:`shipmate.services.runs.attention`.
    """
    app.state.run_recovery = RunWatch(app.state.ctx).start()


def stop_run_recovery(app: FastAPI) -> None:
    recovery = getattr(app.state, "run_recovery", None)
    if recovery is not None:
        recovery.close()
        app.state.run_recovery = None
