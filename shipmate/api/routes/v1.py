"""``/api/v1``: shipmate's own REST API.  Each route parses, calls a service, returns JSON."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from shipmate.api.appstate import app_context
from shipmate.api.auth import admin, reader, scoped_product, writer
from shipmate.api.newnames import new_names
from shipmate.api.recordmapping import build_request, deployment_request, status_event_request
from shipmate.api.schemas import (
    COMMON_ERRORS,
    BuildBody,
    DeploymentBody,
    EnvironmentBody,
    ErrorBody,
    KeyBody,
    RollbackMarkBody,
    StatusEventBody,
    error_responses,
)
from shipmate.domain.inputs.fields import parse_id, parse_time
from shipmate.domain.requests import HistoryFilter
from shipmate.services import queries
from shipmate.services.auth import keys
from shipmate.services.auth.keys import Principal, Scope
from shipmate.services.catalog import listing as catalog
from shipmate.services.records.builds import allocate_build
from shipmate.services.records.deployments import record_deployment_event
from shipmate.services.records.rollbackmarks import mark_rollback

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", responses=error_responses(ErrorBody, *COMMON_ERRORS))

Reader = Annotated[Principal, Depends(reader)]
Writer = Annotated[Principal, Depends(writer)]
Admin = Annotated[Principal, Depends(admin)]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
CreateFlag = Annotated[
    bool, Query(description="create a new product or environment even if it is a near miss")
]


class HistoryQuery:
    """The history filters of a request; see :func:`history_query`."""

    def __init__(self, base: HistoryFilter) -> None:
        self.base = base

    def filter(self, principal: Principal) -> HistoryFilter:
        return replace(self.base, product=scoped_product(principal, self.base.product))


async def history_query(
    product: Annotated[str | None, Query(max_length=255)] = None,
    environment: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=50)] = None,
    version: Annotated[str | None, Query(max_length=150)] = None,
    branch: Annotated[str | None, Query(max_length=255)] = None,
    actor: Annotated[str | None, Query(max_length=255)] = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    since: Annotated[str | None, Query(max_length=64)] = None,
    until: Annotated[str | None, Query(max_length=64)] = None,
) -> HistoryQuery:
    """The history filters from the query string.  ``async`` because it only parses:
    a plain function dependency would cost a hop to the thread pool per request."""
    return HistoryQuery(
        HistoryFilter(
            product=product,
            environment=environment,
            status=status,
            version=version,
            branch=branch,
            actor=actor,
            kind=kind,
            since=None if since is None else parse_time(since, field="since"),
            until=None if until is None else parse_time(until, field="until"),
        )
    )


History = Annotated[HistoryQuery, Depends(history_query)]


@router.get("/products", summary="List products")
def get_products(request: Request, principal: Reader) -> dict[str, Any]:
    items = catalog.list_products(app_context(request))
    if principal.products:
        items = [p for p in items if p.name in principal.products]
    return {"items": [p.to_dict() for p in items]}


@router.get("/products/{product}/versions", summary="A product's versions, newest first")
def get_versions(request: Request, product: str, principal: Reader) -> dict[str, Any]:
    principal.require_product(product)
    return {"items": [v.to_dict() for v in catalog.list_versions(app_context(request), product)]}


@router.get("/environments", summary="List environments in promotion order")
def get_environments(request: Request, principal: Reader) -> dict[str, Any]:
    return {"items": [e.to_dict() for e in catalog.list_environments(app_context(request))]}


@router.put(
    "/environments/{name}", summary="Create an environment or set its kind (unrestricted admin)"
)
def put_environment(
    request: Request, name: str, body: EnvironmentBody, principal: Admin
) -> dict[str, Any]:
    principal.require_unrestricted("an environment's kind (shared by every product)")
    return catalog.set_environment_kind(
        app_context(request), name, body.kind, key_name=principal.name
    ).to_dict()


@router.post("/builds", status_code=201, summary="Allocate the next build number")
def post_build(
    request: Request,
    response: Response,
    body: BuildBody,
    principal: Writer,
    idempotency_key: IdemKey = None,
    create: CreateFlag = False,
) -> dict[str, Any]:
    principal.require_product(body.product)
    with new_names(response, create):
        build = allocate_build(
            app_context(request), build_request(body, principal, idempotency_key)
        )
    return build.to_dict()


@router.post(
    "/deployments",
    status_code=201,
    summary="Record a deployment status (create or advance)",
    responses={200: {"description": "A replay: the deployment as already recorded, unchanged"}},
)
def post_deployment(
    request: Request,
    response: Response,
    body: DeploymentBody,
    principal: Writer,
    idempotency_key: IdemKey = None,
    create: CreateFlag = False,
) -> dict[str, Any]:
    principal.require_product(body.product)
    if body.override_gates:
        principal.require(Scope.ADMIN)  # only admins override gates
    with new_names(response, create):
        recorded = record_deployment_event(
            app_context(request), deployment_request(body, principal, idempotency_key)
        )
    if recorded.replayed:
        response.status_code = 200
    return recorded.deployment.to_dict()


@router.post("/deployments/{deployment_id}/events", summary="Advance a deployment's status")
def post_status_event(
    request: Request,
    deployment_id: str,
    body: StatusEventBody,
    principal: Writer,
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    ctx = app_context(request)
    current = queries.show_deployment(ctx, parse_id(deployment_id, field="id"))
    principal.require_product(current.product)
    if body.override_gates:
        principal.require(Scope.ADMIN)  # only admins override gates
    req = status_event_request(body, current.id, current.environment, principal, idempotency_key)
    dep = record_deployment_event(ctx, req).deployment
    return dep.to_dict()


@router.post(
    "/deployments/{deployment_id}/rollback-mark",
    summary="Mark a deployment rolled back (already rolled back: answered unchanged)",
)
def post_rollback_mark(
    request: Request, deployment_id: str, principal: Writer, body: RollbackMarkBody | None = None
) -> dict[str, Any]:
    ctx = app_context(request)
    current = queries.show_deployment(ctx, parse_id(deployment_id, field="id"))
    principal.require_product(current.product)
    dep = mark_rollback(
        ctx, str(current.id), reason=body.reason if body else None, key_name=principal.name
    )
    return dep.to_dict()


@router.get("/deployments", summary="Deployments, newest first, keyset-paginated")
def get_deployments(
    request: Request,
    principal: Reader,
    q: History,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    page = queries.history(app_context(request), q.filter(principal), limit=limit, cursor=cursor)
    return page.to_dict()


@router.get("/deployments/{deployment_id}", summary="One deployment with its events")
def get_deployment(request: Request, deployment_id: str, principal: Reader) -> dict[str, Any]:
    dep = queries.show_deployment(app_context(request), parse_id(deployment_id, field="id"))
    principal.require_product(dep.product)
    return dep.to_dict(with_events=True)


@router.get("/current", summary="The matrix: every product's current version per environment")
def get_current(
    request: Request,
    principal: Reader,
    product: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    return queries.current_matrix(
        app_context(request), product=scoped_product(principal, product)
    ).to_dict()


@router.get("/stats", summary="Totals, success rate, latest version, per-version counts")
def get_stats(request: Request, principal: Reader, q: History) -> dict[str, Any]:
    return queries.stats(app_context(request), q.filter(principal)).to_dict()


@router.get("/events", summary="The audit log (admin)")
def get_events(
    request: Request,
    principal: Admin,
    type: Annotated[str | None, Query(max_length=50)] = None,
    product: Annotated[str | None, Query(max_length=255)] = None,
    environment: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=255)] = None,
    since: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = 100,
) -> dict[str, Any]:
    items = queries.list_events(
        app_context(request),
        type_prefix=type,
        product=scoped_product(principal, product),  # a limited admin: its products only
        environment=environment,
        actor=actor,
        since=None if since is None else parse_time(since, field="since"),
        before_id=None if before is None else parse_id(before, field="before"),
        limit=limit,
    )
    return {
        "items": [e.to_dict() for e in items],
        "next_before": items[-1].to_dict()["id"] if len(items) == limit else None,
    }


@router.get("/keys", summary="List API keys (admin: those within its own reach)")
def get_keys(request: Request, principal: Admin) -> dict[str, Any]:
    return {"items": [k.to_dict() for k in keys.list_keys(app_context(request), viewer=principal)]}


@router.post("/keys", status_code=201, summary="Create an API key (admin); the token is shown once")
def post_key(request: Request, body: KeyBody, principal: Admin) -> dict[str, Any]:
    created = keys.create_key(
        app_context(request),
        body.name,
        body.scope,
        body.products,
        created_by=principal.name,
        creator=principal,  # no higher scope, no other products than the creator's
        host=body.host,
    )
    return created.to_dict()


@router.delete("/keys/{name:path}", summary="Revoke an API key (admin, within its reach)")
def delete_key(request: Request, name: str, principal: Admin) -> JSONResponse:
    revoked = keys.revoke_key(app_context(request), name, actor=principal.name, by=principal)
    request.app.state.verified_keys.clear()  # refused here from the next request on
    return JSONResponse(revoked.to_dict())
