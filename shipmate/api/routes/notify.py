"""API routes of the notifications feature (registered by shipmate.api.app).

``GET /api/v1/notifications/rules`` (read): the configured rules, targets redacted.
``GET /api/v1/notifications/deliveries`` (admin): the delivery log, newest first,
with every attempt.  ``POST /api/v1/notifications/test`` (admin): send a test
message to one rule's target now and return the answer.

A key limited to products sees the rules that apply to its products and the
deliveries of its products' events; it tests only rules naming nothing but its
products (:mod:`shipmate.services.auth.access`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from shipmate.api.appstate import app_context
from shipmate.api.auth import Admin, Reader, scoped_product
from shipmate.api.schemas import ErrorBody, error_responses
from shipmate.domain.inputs.fields import parse_id
from shipmate.domain.notify.rules import NotifyConfig
from shipmate.errors import NotFoundError
from shipmate.services.auth.access import can_see, require_manage, with_visible_products
from shipmate.services.notify.config import load_notify_config
from shipmate.services.notify.delivery_log import MAX_PAGE_SIZE, list_deliveries
from shipmate.services.notify.sending import send_test

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/notifications",
    tags=["notifications"],
    responses=error_responses(ErrorBody, 401, 403, 404, 413, 422),
)


class NotifyTestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: str = Field(min_length=1, max_length=100, description="the rule's name")


def _config(request: Request) -> NotifyConfig:
    """The rules, read from the server's settings once (the worker's, when it runs)."""
    worker = getattr(request.app.state, "notification_worker", None)
    if worker is not None:
        running: NotifyConfig = worker.config
        return running
    cached = getattr(request.app.state, "notify_config", None)
    if cached is None:
        cached = load_notify_config(app_context(request).settings)
        request.app.state.notify_config = cached
    config: NotifyConfig = cached
    return config


@router.get("/rules", summary="The notification rules (targets without secrets)")
def get_rules(request: Request, principal: Reader) -> dict[str, Any]:
    config = _config(request)
    worker = getattr(request.app.state, "notification_worker", None)
    return {
        "items": [
            with_visible_products(principal, r.to_dict())
            for r in config.rules
            if can_see(principal, r.products)
        ],
        "base_url": config.base_url,
        "worker_running": bool(worker is not None and worker.running),
    }


@router.get("/deliveries", summary="The delivery log, newest first, with attempts")
def get_deliveries(
    request: Request,
    principal: Admin,
    status: Annotated[str | None, Query(max_length=20)] = None,
    rule: Annotated[str | None, Query(max_length=100)] = None,
    event_type: Annotated[str | None, Query(max_length=50)] = None,
    product: Annotated[str | None, Query(max_length=255)] = None,
    environment: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    before_id: Annotated[str | None, Query(max_length=18)] = None,
) -> dict[str, Any]:
    before = None if before_id is None else parse_id(before_id, field="before_id")
    items = list_deliveries(
        app_context(request),
        status=status,
        rule=rule,
        event_type=event_type,
        product=scoped_product(principal, product),  # a limited admin: its products only
        environment=environment,
        limit=limit,
        before_id=before,
    )
    next_before = items[-1].id if len(items) == limit else None
    return {
        "items": [d.to_dict() for d in items],
        "next_before_id": None if next_before is None else str(next_before),
    }


@router.post("/test", summary="Send a test message to one rule's target now")
def post_test(request: Request, body: NotifyTestBody, principal: Admin) -> dict[str, Any]:
    config = _config(request)
    rule = config.rule(body.rule)
    if not principal.unrestricted:  # others' rules do not exist for it, nor their names
        if rule is None or not can_see(principal, rule.products):
            raise NotFoundError(f"notification rule {body.rule!r} does not exist", field="rule")
        require_manage(principal, rule.products, f"notification rule {rule.name!r}")
    result = send_test(app_context(request), config, body.rule)
    return {"rule": body.rule, "target": None if rule is None else rule.target} | result.to_dict()
