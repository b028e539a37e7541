"""The agent protocol: what ``shipmate agent`` calls (registered by shipmate.api.app).

All under ``/api/v1/agent``, JSON, with an ``agent`` key (the host comes from the
key, never from the request).  The server stores what the agent reports and never
runs a step itself.  See docs/agents.md, "The agent protocol".
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from shipmate import __version__
from shipmate.api.appstate import app_context
from shipmate.api.auth import agent
from shipmate.api.schemas import ErrorBody, error_responses
from shipmate.domain.inputs.fields import parse_id
from shipmate.domain.requests import RecordRequest
from shipmate.domain.runs.model import FlowEnd, Step, StepResult
from shipmate.services.agents import hosts, reports
from shipmate.services.agents.claims import claim_next, validate_instance
from shipmate.services.auth.keys import Principal
from shipmate.services.rollouts import awaiting
from shipmate.services.runs.journal import HEARTBEAT_SECONDS, LEASE_SECONDS
from shipmate.services.runs.live import RECHECK_SECONDS, live_runs

__all__ = ["MAX_WAIT_SECONDS", "router"]

#: The longest a claim may wait for work.
MAX_WAIT_SECONDS = 30.0

router = APIRouter(
    prefix="/api/v1/agent",
    tags=["agent"],
    responses=error_responses(ErrorBody, 401, 403, 404, 409, 413, 422),
)

Agent = Annotated[Principal, Depends(agent)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HelloBody(_Body):
    labels: dict[str, str] = Field(default_factory=dict, max_length=50)
    agent_version: str | None = Field(default=None, max_length=50)
    instance: str = Field(max_length=64)


class ClaimBody(_Body):
    instance: str = Field(max_length=64)
    wait: float = Field(default=0.0, ge=0.0, le=MAX_WAIT_SECONDS)


class OwnerBody(_Body):
    owner: str = Field(max_length=400)


class BeginBody(OwnerBody):
    name: str = Field(max_length=100)
    title: str = Field(default="", max_length=2000)
    args: dict[str, Any] = Field(default_factory=dict)
    #: The attempt number the step's row has once this begin is written.
    attempt: int = Field(default=1, ge=1, le=1_000_000)


class ProgressBody(OwnerBody):
    message: str = Field(max_length=10_000)


class ResultBody(_Body):
    ok: bool
    data: dict[str, Any] = Field(default_factory=dict)
    error: str | None = Field(default=None, max_length=100_000)
    error_code: str | None = Field(default=None, max_length=100)
    output: str = Field(default="", max_length=1_000_000)


class FinishStepBody(OwnerBody):
    result: ResultBody
    duration_ms: int = Field(default=0, ge=0, le=10**12)
    run_updates: dict[str, Any] | None = None


class RecordFields(_Body):
    status: str = Field(max_length=20)
    version: str | None = Field(default=None, max_length=100)
    build_number: int | None = None
    deployment_id: str | None = Field(default=None, max_length=20)
    kind: str = Field(default="deploy", max_length=20)
    reverts_id: str | None = Field(default=None, max_length=20)
    commit_sha: str | None = Field(default=None, max_length=64)
    branch: str | None = Field(default=None, max_length=255)
    repository: str | None = Field(default=None, max_length=1000)
    deployed_by: str | None = Field(default=None, max_length=255)
    ci_platform: str | None = Field(default=None, max_length=50)
    ci_run_id: str | None = Field(default=None, max_length=255)
    ci_run_url: str | None = Field(default=None, max_length=2000)
    metadata: dict[str, Any] = Field(default_factory=dict)


class RecordBody(OwnerBody):
    seq: int = Field(ge=1, le=1_000_000)
    request: RecordFields


class EndBody(_Body):
    status: Literal["completed", "completed_draining", "failed"]
    message: str = Field(max_length=100_000)
    deployment_id: int | None = None
    rollback_deployment_id: int | None = None
    failed_step: str | None = Field(default=None, max_length=100)
    error: str | None = Field(default=None, max_length=100_000)
    error_code: str | None = Field(default=None, max_length=100)
    switched_back: bool = False
    retired: bool = False
    slot: str | None = Field(default=None, max_length=100)


class FinishRunBody(OwnerBody):
    end: EndBody


class StateBody(_Body):
    products: dict[str, Any] = Field(default_factory=dict, max_length=1000)


def _run_id(value: str) -> int:
    return parse_id(value, field="run", noun="a run id")


def _optional_id(value: str | None, field: str) -> int | None:
    return None if value is None else parse_id(value, field=field)


@router.post("/hello", summary="Register the key's host (labels, agent version)")
def post_hello(request: Request, body: HelloBody, principal: Agent) -> dict[str, Any]:
    ctx = app_context(request)
    host = reports.agent_host(principal)
    validate_instance(body.instance)
    hosts.hello(
        ctx, host, key_name=principal.name, labels=body.labels, agent_version=body.agent_version
    )
    return {
        "host": host,
        "lease_seconds": LEASE_SECONDS,
        "heartbeat_seconds": HEARTBEAT_SECONDS,
        "server_version": __version__,
    }


@router.post("/claim", summary="Take the next run of the key's host (long poll)")
def post_claim(request: Request, body: ClaimBody, principal: Agent) -> Any:
    ctx = app_context(request)
    host = reports.agent_host(principal)
    instance = validate_instance(body.instance)
    hosts.seen(ctx, host)
    deadline = time.monotonic() + body.wait
    while True:
        mark = live_runs.host_mark(host)
        claimed = claim_next(ctx, host, instance, products=principal.products)
        if claimed is not None:
            live_runs.changed(claimed.run.id)
            return {
                "run": claimed.run.to_dict(now=ctx.now(), with_steps=True)
                | {"params": claimed.run.params},
                "owner": claimed.owner,
            }
        left = deadline - time.monotonic()
        if left <= 0:
            return Response(status_code=204)
        live_runs.wait_host(host, mark, min(left, RECHECK_SECONDS))


@router.post("/runs/{run_id}/heartbeat", summary="Renew the lease on a run")
def post_heartbeat(
    request: Request, run_id: str, body: OwnerBody, principal: Agent
) -> dict[str, Any]:
    alive = reports.heartbeat(app_context(request), principal, _run_id(run_id), body.owner)
    return {"alive": alive}


@router.post("/runs/{run_id}/steps/{seq}/begin", summary="A step is about to act")
def post_begin(
    request: Request, run_id: str, seq: int, body: BeginBody, principal: Agent
) -> dict[str, Any]:
    step = Step(body.name, body.title, dict(body.args))
    row = reports.begin(
        app_context(request),
        principal,
        _run_id(run_id),
        body.owner,
        seq,
        step,
        attempt=body.attempt,
    )
    return row.to_dict()


@router.post("/runs/{run_id}/steps/{seq}/progress", status_code=204, summary="A progress line")
def post_progress(
    request: Request, run_id: str, seq: int, body: ProgressBody, principal: Agent
) -> Response:
    ctx = app_context(request)
    reports.progress(ctx, principal, _run_id(run_id), body.owner, seq, body.message)
    return Response(status_code=204)


@router.post("/runs/{run_id}/steps/{seq}/finish", status_code=204, summary="A step's outcome")
def post_finish_step(
    request: Request, run_id: str, seq: int, body: FinishStepBody, principal: Agent
) -> Response:
    r = body.result
    result = StepResult(r.ok, dict(r.data), error=r.error, error_code=r.error_code, output=r.output)
    reports.finish(
        app_context(request),
        principal,
        _run_id(run_id),
        body.owner,
        seq,
        result,
        duration_ms=body.duration_ms,
        run_updates=body.run_updates,
    )
    return Response(status_code=204)


@router.post("/runs/{run_id}/record", summary="Record the run's deployment (idempotent per step)")
def post_record(
    request: Request, run_id: str, body: RecordBody, principal: Agent
) -> dict[str, Any]:
    f = body.request
    req = RecordRequest(
        environment="",  # forced to the run's
        status=f.status,
        version=f.version,
        build_number=f.build_number,
        deployment_id=_optional_id(f.deployment_id, "deployment_id"),
        kind=f.kind,
        reverts_id=_optional_id(f.reverts_id, "reverts_id"),
        commit_sha=f.commit_sha,
        branch=f.branch,
        repository=f.repository,
        deployed_by=f.deployed_by,
        ci_platform=f.ci_platform,
        ci_run_id=f.ci_run_id,
        ci_run_url=f.ci_run_url,
        metadata=dict(f.metadata),
    )
    dep = reports.record(
        app_context(request), principal, _run_id(run_id), body.owner, body.seq, req
    )
    return dep.to_dict()


@router.get("/runs/{run_id}/current", summary="The current deployment of the run's environment")
def get_current(request: Request, run_id: str, principal: Agent) -> dict[str, Any] | None:
    found = reports.current(app_context(request), principal, _run_id(run_id))
    if found is None:
        return None
    return {"deployment_id": str(found[0]), "full_version": found[1]}


@router.post("/runs/{run_id}/finish", summary="Close the run with the flow's outcome")
def post_finish_run(
    request: Request, run_id: str, body: FinishRunBody, principal: Agent
) -> dict[str, Any]:
    ctx = app_context(request)
    end = FlowEnd(**body.end.model_dump())
    run = reports.finish_run(ctx, principal, _run_id(run_id), body.owner, end)
    return run.to_dict(now=ctx.now(), with_steps=True)


@router.post("/runs/{run_id}/release", status_code=204, summary="Stop driving the run (resumable)")
def post_release(request: Request, run_id: str, body: OwnerBody, principal: Agent) -> Response:
    reports.release(app_context(request), principal, _run_id(run_id), body.owner)
    return Response(status_code=204)


class AwaitBody(OwnerBody):
    wait: float = Field(default=0.0, ge=0.0, le=MAX_WAIT_SECONDS)


@router.post("/runs/{run_id}/await", summary="Wait for a rollout's verdict (long poll)")
def post_await(request: Request, run_id: str, body: AwaitBody, principal: Agent) -> dict[str, Any]:
    ctx = app_context(request)
    return awaiting.await_verdict(ctx, principal, _run_id(run_id), body.owner, body.wait)


@router.post("/state", status_code=204, summary="What runs in each slot on the key's host")
def post_state(request: Request, body: StateBody, principal: Agent) -> Response:
    hosts.report_state(app_context(request), reports.agent_host(principal), body.products)
    return Response(status_code=204)
