"""API routes of the insights feature: DORA metrics and changelogs.

``GET /api/v1/dora`` and ``GET /api/v1/changelog`` answer with the same
``to_dict()`` the CLI's ``--json`` prints and the dashboard's JSON twins carry.
The server reads only the repositories its configuration names
(``[products.<name>] repository``): a request cannot point it at a path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from shipmate.api.appstate import app_context
from shipmate.api.auth import Reader, scoped_product
from shipmate.api.schemas import ErrorBody, error_responses
from shipmate.domain.inputs.fields import parse_id, parse_time
from shipmate.services import dora, queries
from shipmate.services.changelog.assembly import Changelog, changelog, deployment_changelog
from shipmate.services.changelog.commit_range import changelog_range

__all__ = ["router", "scoped_product"]

router = APIRouter(
    prefix="/api/v1",
    tags=["insights"],
    responses=error_responses(ErrorBody, 401, 403, 404, 413, 422),
)
#: The changelog answers JSON, or Markdown with ``format=markdown``.
_CHANGELOG_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The changelog (JSON), or its Markdown with format=markdown",
        "content": {"application/json": {}, "text/markdown": {"schema": {"type": "string"}}},
    }
}


@router.get("/dora", summary="DORA metrics of a product (or all) in an environment")
def get_dora(
    request: Request,
    principal: Reader,
    product: Annotated[str | None, Query(max_length=255)] = None,
    environment: Annotated[str | None, Query(max_length=100)] = None,
    days: Annotated[int | None, Query(ge=1, le=dora.MAX_DAYS)] = None,
    since: Annotated[str | None, Query(max_length=64)] = None,
    until: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    result = dora.dora_report(
        app_context(request),
        product=scoped_product(principal, product),
        environment=environment,
        days=days,
        since=None if since is None else parse_time(since, field="since"),
        until=None if until is None else parse_time(until, field="until"),
    )
    return result.to_dict()


def _render(log: Changelog, fmt: str) -> Response:
    if fmt == "markdown":
        return PlainTextResponse(log.markdown(), media_type="text/markdown; charset=utf-8")
    return JSONResponse(log.to_dict())


@router.get(
    "/changelog",
    summary="Commits between two deployed commits, grouped by Conventional Commit type",
    response_model=None,
    responses=_CHANGELOG_CONTENT,
)
def get_changelog(
    request: Request,
    principal: Reader,
    product: Annotated[str, Query(max_length=255)],
    environment: Annotated[str | None, Query(max_length=100)] = None,
    from_ref: Annotated[str | None, Query(alias="from", max_length=255)] = None,
    to_ref: Annotated[str | None, Query(alias="to", max_length=255)] = None,
    format: Literal["json", "markdown"] = "json",
    commits: bool = True,
) -> Response:
    principal.require_product(product)
    ctx = app_context(request)
    if not commits:  # the two ends only: a client with its own checkout reads git itself
        rng = changelog_range(ctx, product, environment, from_ref, to_ref)
        return JSONResponse(rng.to_dict())
    return _render(changelog(ctx, product, environment, from_ref, to_ref), format)


@router.get(
    "/deployments/{deployment_id}/changelog",
    summary="What one deployment shipped: from the deployment before it in its environment",
    response_model=None,
    responses=_CHANGELOG_CONTENT,
)
def get_deployment_changelog(
    request: Request,
    deployment_id: str,
    principal: Reader,
    format: Literal["json", "markdown"] = "json",
) -> Response:
    ctx = app_context(request)
    dep = queries.show_deployment(ctx, parse_id(deployment_id, field="id"))
    principal.require_product(dep.product)
    return _render(deployment_changelog(ctx, dep.id), format)
