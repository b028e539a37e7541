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
A key limited to products sees the rules that apply to its products and changes
only rules naming nothing but its products (:mod:`shipmate.services.auth.access`).
``{name}`` may hold ``/`` (rules named so by older versions): the rest of the path.

An approval is made by, and counted as, the key that sends it: ``approver``, if
given, must be the key's own name, whatever the scope (a body field never chooses
whose approval it is).  The deployer the self-approval rule compares with is the
key that records the deployment, likewise.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from shipmate.api.appstate import app_context
from shipmate.api.auth import Admin, Reader, Writer
from shipmate.api.schemas import COMMON_ERRORS, ErrorBody, error_responses
from shipmate.domain.fielddicts import named
from shipmate.domain.inputs.fields import parse_id
from shipmate.errors import NotFoundError, PermissionDeniedError
from shipmate.services import queries
from shipmate.services.auth.access import can_see, rule_guard, with_visible_products
from shipmate.services.auth.keys import Principal
from shipmate.services.gates import approvals, verdicts
from shipmate.services.gates import rules as gate_rules
from shipmate.services.gates.unlock import unlock

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1", tags=["gates"], responses=error_responses(ErrorBody, *COMMON_ERRORS)
)

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


def _changed_by(principal: Principal) -> gate_rules.RuleChange:
    """Who changes a rule, and the check of the key's product limits."""
    return {"actor": principal.name, "key_name": principal.name, "guard": rule_guard(principal)}


def _shown(principal: Principal, stored: gate_rules.StoredRule) -> dict[str, Any]:
    return with_visible_products(principal, stored.to_dict())


def _visible(
    principal: Principal, stored: gate_rules.StoredRule, name: str
) -> gate_rules.StoredRule:
    """The rule, or 404 when it applies to none of a limited key's products."""
    if not can_see(principal, stored.rule.products):
        raise NotFoundError(
            f"gate rule {name!r} does not exist (shipmate gates list shows the rules)",
            field="name",
        )
    return stored


def _seen_first(request: Request, principal: Principal, name: str) -> None:
    """A limited key learns nothing of a rule it cannot see: 404 before any other answer."""
    if not principal.unrestricted:
        _visible(principal, gate_rules.get_rule(app_context(request), name), name)


@router.get("/gates/rules", summary="Gate rules: shipmate.toml's, then managed ones")
def get_rules(request: Request, principal: Reader) -> dict[str, Any]:
    rules = gate_rules.list_rules(app_context(request))
    return {"items": [_shown(principal, r) for r in rules if can_see(principal, r.rule.products)]}


@router.post("/gates/rules", status_code=201, summary="Add a gate rule (admin)")
def post_rule(request: Request, body: RuleDefinition, principal: Admin) -> dict[str, Any]:
    stored = gate_rules.add_rule(app_context(request), body, **_changed_by(principal))
    return _shown(principal, stored)


@router.get("/gates/rules/{name:path}", summary="One gate rule")
def get_rule(request: Request, name: str, principal: Reader) -> dict[str, Any]:
    return _shown(
        principal, _visible(principal, gate_rules.get_rule(app_context(request), name), name)
    )


@router.put("/gates/rules/{name:path}", summary="Replace a managed gate rule (admin)")
def put_rule(request: Request, name: str, body: RuleDefinition, principal: Admin) -> dict[str, Any]:
    _seen_first(request, principal, name)
    stored = gate_rules.replace_rule(app_context(request), name, body, **_changed_by(principal))
    return _shown(principal, stored)


@router.patch("/gates/rules/{name:path}", summary="Set a managed gate rule's mode (admin)")
def patch_rule(request: Request, name: str, body: ModeBody, principal: Admin) -> dict[str, Any]:
    _seen_first(request, principal, name)
    stored = gate_rules.set_rule_mode(
        app_context(request), name, body.mode, **_changed_by(principal)
    )
    return _shown(principal, stored)


@router.delete("/gates/rules/{name:path}", summary="Remove a managed gate rule (admin)")
def delete_rule(request: Request, name: str, principal: Admin) -> dict[str, Any]:
    _seen_first(request, principal, name)
    removed = gate_rules.remove_rule(app_context(request), name, **_changed_by(principal))
    return {**_shown(principal, removed), "removed": True}


@router.post("/gates/check", summary="Dry run: evaluate the gates, record nothing")
def post_check(request: Request, body: CheckBody, principal: Reader) -> dict[str, Any]:
    principal.require_product(body.product)
    # By default the deployer is the key asking, as when it records the deployment.
    deployer = body.deployer if body.deployer is not None else principal.name
    outcome = verdicts.dry_run(
        app_context(request), body.product, body.version, body.environment, deployer
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
    approver = principal.name  # who is authenticated, never who the body names
    if (
        body.approver is not None
        and approver is not None
        and body.approver.strip().casefold() != approver.strip().casefold()
    ):
        raise PermissionDeniedError(
            f"key {approver!r} approves as itself; an approval counts for the key that "
            f"sends it, so it cannot be made as {body.approver!r}",
            field="approver",
        )
    approval = approvals.approve(
        app_context(request),
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
    items = approvals.list_approvals(app_context(request), product, version, environment)
    return {"items": [a.to_dict() for a in items]}


@router.post(
    "/deployments/{deployment_id}/unlock",
    summary="Release a started deployment: mark it aborted with a reason (admin)",
)
def post_unlock(
    request: Request, deployment_id: str, body: UnlockBody, principal: Admin
) -> dict[str, Any]:
    ctx = app_context(request)
    current = queries.show_deployment(ctx, parse_id(deployment_id, field="id"))
    principal.require_product(current.product)
    dep = unlock(
        ctx,
        **named(current, "product", "environment"),
        deployment_id=current.id,
        reason=body.reason,
        actor=principal.name,
        key_name=principal.name,
    )
    return dep.to_dict()
