"""API routes of the runs feature (registered by shipmate.api.app).

* ``GET /api/v1/runs``: runs, newest first (``product``, ``environment``,
  ``status`` incl. ``interrupted``, ``limit``, ``before`` for the next page).
* ``GET /api/v1/runs/{id}``: one run with its steps, their output and results
  (a read key gets release actions' bodies and output as ``null``, see
  :func:`shipmate.services.auth.access.redact_run`).
* ``POST /api/v1/runs`` (write): a deploy or rollback run for the agent of the host
  that serves the environment (:mod:`shipmate.services.runs.remote`);
  ``Idempotency-Key`` makes a retry return the same run.
* ``GET /api/v1/runs/{id}/follow`` (read): long poll for what changed
  (:mod:`shipmate.services.runs.following`).
* ``POST /api/v1/runs/{id}/abort`` (write): give up an interrupted run.
* ``GET /api/v1/hosts`` (read): the registered deploy hosts.

Local runs are started and resumed by ``shipmate deploy`` / ``rollback`` / ``runs
resume`` on the host that runs the apps; remote runs by that host's agent.  The
server never executes a step: at start-up and every 15 s it only marks running runs
whose process is gone as needing attention (:func:`start_run_recovery`; the run's
``attention`` field).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from shipmate.api.appstate import app_context
from shipmate.api.auth import Reader, Writer, scoped_product
from shipmate.api.schemas import ErrorBody, error_responses
from shipmate.domain.inputs.fields import parse_id
from shipmate.services.auth.access import redact_run
from shipmate.services.runs.attention import RunWatch
from shipmate.services.runs.control import abort_run, get_run, list_runs
from shipmate.services.runs.following import MAX_WAIT_SECONDS, follow_run
from shipmate.services.runs.hostlist import list_hosts
from shipmate.services.runs.live import live_runs
from shipmate.services.runs.remote import RemoteRunRequest, create_remote_run

__all__ = ["router", "start_run_recovery", "stop_run_recovery"]

router = APIRouter(
    prefix="/api/v1", tags=["runs"], responses=error_responses(ErrorBody, 401, 403, 404, 413, 422)
)


def _id(value: str, field: str) -> int:
    return parse_id(value, field=field, noun="a run id")


class RunBody(BaseModel):
    """``POST /api/v1/runs``: a deploy (``version``) or a rollback (``to``, optional)."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(max_length=20)
    product: str = Field(max_length=255)
    environment: str = Field(max_length=100)
    version: str | None = Field(default=None, max_length=150)
    build_number: int | None = Field(default=None, ge=1, le=2_147_483_647)
    to: str | None = Field(default=None, max_length=150)
    steps: int | None = Field(default=None, ge=1, le=1000)
    current_id: int | None = Field(default=None, ge=1, le=2**62)
    deployed_by: str | None = Field(default=None, max_length=255)
    commit_sha: str | None = Field(default=None, max_length=64)
    branch: str | None = Field(default=None, max_length=255)
    repository: str | None = Field(default=None, max_length=500)
    ci_platform: str | None = Field(default=None, max_length=50)
    ci_run_id: str | None = Field(default=None, max_length=255)
    ci_run_url: str | None = Field(default=None, max_length=500)
    dry_run: bool = False


class AbortBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000)


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


@router.post(
    "/runs",
    summary="Create a deploy or rollback run for the agent of the environment's host",
    status_code=201,
    responses=error_responses(ErrorBody, 409),
)
def post_run(
    request: Request,
    response: Response,
    body: RunBody,
    principal: Writer,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> dict[str, Any]:
    principal.require_product(body.product)
    ctx = app_context(request)
    result = create_remote_run(
        ctx,
        RemoteRunRequest(
            **body.model_dump(), idempotency_key=idempotency_key, key_name=principal.name
        ),
    )
    if result.run is None or result.replayed:
        response.status_code = 200
    answer = result.to_dict()
    if result.run is not None:
        answer["run"] = redact_run(principal, result.run.to_dict(now=ctx.now(), with_steps=True))
    return answer


@router.get("/runs/{run_id}/follow", summary="Long poll: a run's steps and progress lines")
def get_follow(
    request: Request,
    run_id: str,
    principal: Reader,
    after_line: Annotated[int, Query(ge=0, le=2**62)] = 0,
    after_seq: Annotated[int, Query(ge=0, le=10_000)] = 0,
    seen: Annotated[str | None, Query(max_length=300)] = None,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = 0,
) -> dict[str, Any]:
    ctx = app_context(request)
    rid = _id(run_id, "id")
    principal.require_product(get_run(ctx, rid).product)
    answer = follow_run(ctx, rid, after_line=after_line, seen=seen, wait=wait).to_dict(
        after_seq=after_seq
    )
    answer["run"] = redact_run(principal, answer["run"])
    return answer


@router.post(
    "/runs/{run_id}/abort",
    summary="Give up an interrupted run",
    responses=error_responses(ErrorBody, 409),
)
def post_abort(
    request: Request, run_id: str, principal: Writer, body: AbortBody | None = None
) -> dict[str, Any]:
    ctx = app_context(request)
    rid = _id(run_id, "id")
    principal.require_product(get_run(ctx, rid).product)
    run = abort_run(
        ctx, rid, actor=principal.name, reason=body.reason if body is not None else None
    )
    live_runs.changed(rid)
    return redact_run(principal, run.to_dict(now=ctx.now(), with_steps=True))


@router.get("/hosts", summary="Deploy hosts: labels, last seen, what runs there")
def get_hosts(
    request: Request,
    principal: Reader,
    archived: Annotated[bool, Query()] = False,
) -> dict[str, Any]:
    ctx = app_context(request)
    items = [h.to_dict() for h in list_hosts(ctx, archived=archived)]
    if principal.products:
        # A key limited to products sees only its products' runs and slots.
        mine = set(principal.products)
        for item in items:
            item["runs"] = [r for r in item["runs"] if r["product"] in mine]
            item["state"] = {k: v for k, v in item["state"].items() if k in mine}
    return {"items": items}


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
