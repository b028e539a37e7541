"""API routes of release actions (registered by shipmate.api.app).

::

    GET  /api/v1/releases/actions?product=&version=            stored actions        read
    POST /api/v1/releases/actions                               register one action   admin
    POST /api/v1/releases/sync                                  a versions folder     admin
    PUT  /api/v1/releases/predecessor                           set/clear one         admin
    GET  /api/v1/releases/lineage?product=&strict=              the ordered versions  read
    GET  /api/v1/releases/plan?product=&environment=&to=        the plan, no change   read
    GET  /api/v1/releases/position?product=&environment=        the schema position   read
    GET  /api/v1/releases/executions?product=&environment=...   stored executions     read

Registering actions needs an admin key: a release action is a command that deploy
hosts will run.  Reading an action's body or an execution's output needs write
scope: a read key gets them as ``null`` with ``"redacted": true``.  Products go in the query or the body (product names may hold
``/``).  Actions run on the host that deploys (``shipmate release apply``,
``shipmate deploy``), never on the server.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from shipmate.api.appstate import app_context
from shipmate.api.auth import Admin, Reader
from shipmate.api.schemas import COMMON_ERRORS, ErrorBody, error_responses
from shipmate.domain.fielddicts import record_from
from shipmate.domain.inputs.fields import parse_id
from shipmate.errors import ConflictError
from shipmate.services.auth.access import redact_actions, redact_executions, redact_plan
from shipmate.services.releases import positions
from shipmate.services.releases.actions import ActionSpec, add_action, list_actions
from shipmate.services.releases.executions import list_executions
from shipmate.services.releases.lineage import load_lineage, set_predecessor
from shipmate.services.releases.plans import plan_for
from shipmate.services.releases.sync import DeclaredVersion, sync_versions

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/releases",
    tags=["releases"],
    responses=error_responses(ErrorBody, *COMMON_ERRORS),
)

ProductQuery = Annotated[str, Query(min_length=1, max_length=255)]
_MAX_ORDER = 2_147_483_647


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActionBody(_Body):
    product: str = Field(max_length=255)
    version: str = Field(max_length=100)
    phase: str = Field(max_length=10, description="up or down")
    kind: str = Field(max_length=10, description="shell or sql")
    body: str = Field(description="the command, script or SQL")
    name: str | None = Field(default=None, max_length=255)
    order: int | None = Field(default=None, ge=0, le=_MAX_ORDER)
    database_ref: str | None = Field(
        default=None,
        max_length=255,
        description="sql only: the NAME of the environment variable holding the database URL",
    )
    replace: bool = False


class DeclaredAction(_Body):
    phase: str = Field(max_length=10)
    order: int = Field(ge=0, le=_MAX_ORDER)
    kind: str = Field(max_length=10)
    name: str = Field(max_length=255)
    body: str
    database_ref: str | None = Field(default=None, max_length=255)


class DeclaredVersionBody(_Body):
    version: str = Field(max_length=100)
    predecessor: str | None = Field(default=None, max_length=100)
    actions: list[DeclaredAction] = Field(default_factory=list, max_length=1000)


class SyncBody(_Body):
    product: str = Field(max_length=255)
    versions: list[DeclaredVersionBody] = Field(max_length=10_000)
    ignored: list[str] = Field(default_factory=list, max_length=10_000)


class PredecessorBody(_Body):
    product: str = Field(max_length=255)
    version: str = Field(max_length=100)
    predecessor: str | None = Field(default=None, max_length=100)


def _id(value: str | None, field: str) -> int | None:
    return None if value is None else parse_id(value, field=field)


@router.get("/actions", summary="A product's release actions")
def get_actions(
    request: Request,
    principal: Reader,
    product: ProductQuery,
    version: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    principal.require_product(product)
    ctx = app_context(request)
    items = list_actions(ctx, product, version=version)
    try:
        lineage = load_lineage(ctx, product, strict=False)
        order = list(lineage.versions)
        predecessors = {v: n.predecessor for v, n in lineage.nodes.items()}
    except ConflictError:
        order, predecessors = [], {}
    return {
        "items": redact_actions(principal, [s.to_dict() for s in items]),
        "lineage": order,
        "predecessors": predecessors,
    }


@router.post("/actions", summary="Register one up or down action of a version")
def post_action(request: Request, body: ActionBody, principal: Admin) -> dict[str, Any]:
    principal.require_product(body.product)
    change = add_action(
        app_context(request),
        body.product,
        record_from(ActionSpec, body),
        replace=body.replace,
        source="api",
    )
    return change.to_dict()


@router.post("/sync", summary="Make the declared versions' actions match (all or nothing)")
def post_sync(request: Request, body: SyncBody, principal: Admin) -> dict[str, Any]:
    principal.require_product(body.product)
    declared = [
        DeclaredVersion.from_dict(v.model_dump(), field=f"versions[{i}]")
        for i, v in enumerate(body.versions)
    ]
    report = sync_versions(
        app_context(request), body.product, declared, ignored=body.ignored, source="sync"
    )
    return report.to_dict()


@router.put("/predecessor", summary="Set (or with null clear) a version's explicit predecessor")
def put_predecessor(request: Request, body: PredecessorBody, principal: Admin) -> dict[str, Any]:
    principal.require_product(body.product)
    return set_predecessor(app_context(request), body.product, body.version, body.predecessor)


@router.get("/lineage", summary="A product's versions in lineage order")
def get_lineage(
    request: Request,
    principal: Reader,
    product: ProductQuery,
    strict: bool | None = None,
) -> dict[str, Any]:
    principal.require_product(product)
    lineage = load_lineage(app_context(request), product, strict=strict)
    return {
        "product": product,
        "strict": lineage.strict,
        "versions": list(lineage.versions),
        "predecessors": {v: n.predecessor for v, n in lineage.nodes.items()},
        "warnings": list(lineage.warnings),
    }


@router.get("/plan", summary="The walk to a version: interim versions, actions, flags")
def get_plan(
    request: Request,
    principal: Reader,
    product: ProductQuery,
    environment: Annotated[str, Query(min_length=1, max_length=100)],
    to: Annotated[str, Query(min_length=1, max_length=100)],
    strict: bool | None = None,
) -> dict[str, Any]:
    principal.require_product(product)
    plan = plan_for(app_context(request), product, environment, to, strict=strict)
    return {
        "plan": redact_plan(principal, plan.to_dict()),
        "lines": plan.render_lines(product, environment),  # names and kinds, no bodies
    }


@router.get("/position", summary="The schema position of a product in an environment")
def get_position(
    request: Request,
    principal: Reader,
    product: ProductQuery,
    environment: Annotated[str, Query(min_length=1, max_length=100)],
) -> dict[str, Any]:
    principal.require_product(product)
    position = positions.get_position(app_context(request), product, environment)
    if position is None:
        return {"product": product, "environment": environment, "version": None}
    return position.to_dict()


@router.get("/executions", summary="Stored action executions with their output, newest first")
def get_executions(
    request: Request,
    principal: Reader,
    product: ProductQuery,
    environment: Annotated[str | None, Query(max_length=100)] = None,
    run_id: Annotated[str | None, Query(max_length=18)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[str | None, Query(max_length=18)] = None,
) -> dict[str, Any]:
    principal.require_product(product)
    items = list_executions(
        app_context(request),
        product,
        environment=environment,
        run_id=_id(run_id, "run_id"),
        limit=limit,
        before_id=_id(before, "before"),
    )
    return {
        "items": redact_executions(principal, [e.to_dict() for e in items]),
        "next_before": str(items[-1].id) if len(items) == limit else None,
    }
