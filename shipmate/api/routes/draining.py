"""API routes of the draining feature (registered by shipmate.api.app).

* ``GET /api/v1/version-states``: version states (``product``, ``environment``,
  ``state`` repeatable); each item: product, environment, version, full_version,
  state (active, draining, drained, retired), slot, pending, since, drain times,
  forced / forced_pending.
* ``POST /api/v1/drain/check`` (admin): finish the retirement of versions whose
  drain has completed, as ``shipmate drain check`` does, on the server's host.

The server also checks draining versions by itself every
:data:`~shipmate.services.draining.watcher.DRAIN_CHECK_INTERVAL` seconds
(:func:`start_drain_watcher`, from the app's lifespan).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request

from shipmate.api.appstate import app_context
from shipmate.api.auth import Admin, Reader, scoped_product
from shipmate.api.schemas import ErrorBody, error_responses

__all__ = ["router", "start_drain_watcher", "stop_drain_watcher"]

router = APIRouter(
    prefix="/api/v1",
    tags=["draining"],
    responses=error_responses(ErrorBody, 401, 403, 404, 413, 422),
)


@router.get("/version-states", summary="Version states: active, draining, drained, retired")
def get_version_states(
    request: Request,
    principal: Reader,
    product: Annotated[str | None, Query(max_length=255)] = None,
    environment: Annotated[str | None, Query(max_length=100)] = None,
    state: Annotated[list[str] | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    from shipmate.services.draining.states import list_version_states

    items = list_version_states(
        app_context(request),
        scoped_product(principal, product),
        environment,
        states=tuple(state) if state else None,
    )
    return {"items": [s.to_dict() for s in items]}


@router.post("/drain/check", summary="Retire the versions that drained (admin)")
def post_drain_check(
    request: Request,
    principal: Admin,
    product: Annotated[str | None, Query(max_length=255)] = None,
    environment: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    from shipmate.services.draining.check import check_draining

    reports = check_draining(app_context(request), scoped_product(principal, product), environment)
    return {"items": [r.to_dict() for r in reports]}


def start_drain_watcher(app: FastAPI) -> None:
    """Start the thread that retires drained versions (called from the app's lifespan)."""
    from shipmate.services.draining.watcher import DrainWatcher

    app.state.drain_watcher = DrainWatcher(app.state.ctx).start()


def stop_drain_watcher(app: FastAPI) -> None:
    watcher = getattr(app.state, "drain_watcher", None)
    if watcher is not None:
        watcher.close()
        app.state.drain_watcher = None
