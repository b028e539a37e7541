"""API routes of the gates feature (registered by shipmate.api.app).

::

    GET    /api/v1/gates/rules               every rule (config and managed)     read
    POST   /api/v1/gates/rules               add a rule (its TOML/JSON form)      admin
    GET    /api/v1/gates/rules/{name}        one rule                             read
    PUT    /api/v1/gates/rules/{name}        replace a managed rule               admin
    PATCH  /api/v1/gates/rules/{name}        {"mode": ...}                        admin
    DELETE /api/v1/gates/rules/{name}        remove a managed rule                admin
    POST   /api/v1/gates/check               dry run: evaluate, record nothing    read
    POST   /api/v1/approvals                 approve (product, version, env)      write
    GET    /api/v1/approvals                 approvals of (product, version, env) read
    POST   /api/v1/deployments/{id}/unlock   abort a started deployment           admin

Rules from ``shipmate.toml`` are listed but read-only here (409 naming the file).
An approval is made by the key's name; an admin key may approve on behalf of
someone else with ``approver``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from shipmate.api.auth import admin, reader, writer
from shipmate.api.schemas import COMMON_ERRORS, ErrorBody, error_responses
from shipmate.domain.fields import parse_id
from shipmate.errors import PermissionDeniedError
from shipmate.services import gates, queries
from shipmate.services.context import Context
from shipmate.services.keys import Principal, Scope

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1", tags=["gates"], responses=error_responses(ErrorBody, *COMMON_ERRORS)
)

Reader = Annotated[Principal, Depends(reader)]
Writer = Annotated[Principal, Depends(writer)]
Admin = Annotated[Principal, Depends(admin)]
RuleDefinition = Annotated[dict[str, Any], Body()]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModeBody(_Body):
    mode: str = Field(max_length=20)


class CheckBody(_Body):
    product: str = Field(max_length=255)
    version: str = Field(max_length=150)
    environment: str = Field(max_length=100)
    deployer: str | None = Field(default=None, max_length=255)


class ApprovalBody(_Body):
    product: str = Field(max_length=255)
    version: str = Field(max_length=150)
    environment: str = Field(max_length=100)
    approver: str | None = Field(default=None, max_length=255)
    comment: str | None = Field(default=None, max_length=500)


class UnlockBody(_Body):
    reason: str = Field(max_length=1000)


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


@router.get("/gates/rules", summary="Gate rules: shipmate.toml's, then managed ones")
def get_rules(request: Request, principal: Reader) -> dict[str, Any]:
    return {"items": [r.to_dict() for r in gates.list_rules(_ctx(request))]}


@router.post("/gates/rules", status_code=201, summary="Add a gate rule (admin)")
def post_rule(request: Request, body: RuleDefinition, principal: Admin) -> dict[str, Any]:
    stored = gates.add_rule(_ctx(request), body, actor=principal.name, key_name=principal.name)
    return stored.to_dict()


@router.get("/gates/rules/{name}", summary="One gate rule")
def get_rule(request: Request, name: str, principal: Reader) -> dict[str, Any]:
    return gates.get_rule(_ctx(request), name).to_dict()


@router.put("/gates/rules/{name}", summary="Replace a managed gate rule (admin)")
def put_rule(request: Request, name: str, body: RuleDefinition, principal: Admin) -> dict[str, Any]:
    stored = gates.replace_rule(
        _ctx(request), name, body, actor=principal.name, key_name=principal.name
    )
    return stored.to_dict()


@router.patch("/gates/rules/{name}", summary="Set a managed gate rule's mode (admin)")
def patch_rule(request: Request, name: str, body: ModeBody, principal: Admin) -> dict[str, Any]:
    stored = gates.set_rule_mode(
        _ctx(request), name, body.mode, actor=principal.name, key_name=principal.name
    )
    return stored.to_dict()


@router.delete("/gates/rules/{name}", summary="Remove a managed gate rule (admin)")
def delete_rule(request: Request, name: str, principal: Admin) -> dict[str, Any]:
    removed = gates.remove_rule(_ctx(request), name, actor=principal.name, key_name=principal.name)
    return {**removed.to_dict(), "removed": True}


@router.post("/gates/check", summary="Dry run: evaluate the gates, record nothing")
def post_check(request: Request, body: CheckBody, principal: Reader) -> dict[str, Any]:
    principal.require_product(body.product)
    outcome = gates.dry_run(
        _ctx(request), body.product, body.version, body.environment, body.deployer
    )
    return outcome.to_dict()


@router.post(
    "/approvals",
    status_code=201,
    summary="Approve a version for an environment",
    responses={200: {"description": "This identity had approved already: the first approval"}},
)
def post_approval(request: Request, body: ApprovalBody, principal: Writer) -> JSONResponse:
    principal.require_product(body.product)
    approver = body.approver if body.approver is not None else principal.name
    if (
        approver is not None
        and principal.name is not None
        and approver.strip().casefold() != principal.name.strip().casefold()
        and principal.scope is not Scope.ADMIN
    ):
        raise PermissionDeniedError(
            f"key {principal.name!r} approves as itself; only an admin key may approve as "
            f"{approver!r}",
            field="approver",
        )
    approval = gates.approve(
        _ctx(request),
        body.product,
        body.version,
        body.environment,
        approver=approver,
        comment=body.comment,
        key_name=principal.name,
    )
    return JSONResponse(approval.to_dict(), status_code=201 if approval.created else 200)


@router.get("/approvals", summary="Approvals of a version for an environment")
def get_approvals(
    request: Request,
    principal: Reader,
    product: Annotated[str, Query(max_length=255)],
    version: Annotated[str, Query(max_length=150)],
    environment: Annotated[str, Query(max_length=100)],
) -> dict[str, Any]:
    principal.require_product(product)
    items = gates.list_approvals(_ctx(request), product, version, environment)
    return {"items": [a.to_dict() for a in items]}


@router.post(
    "/deployments/{deployment_id}/unlock",
    summary="Release a started deployment: mark it aborted with a reason (admin)",
)
def post_unlock(
    request: Request, deployment_id: str, body: UnlockBody, principal: Admin
) -> dict[str, Any]:
    ctx = _ctx(request)
    current = queries.show_deployment(ctx, parse_id(deployment_id, field="id"))
    principal.require_product(current.product)
    dep = gates.unlock(
        ctx,
        product=current.product,
        environment=current.environment,
        deployment_id=current.id,
        reason=body.reason,
        actor=principal.name,
        key_name=principal.name,
    )
    return dep.to_dict()
