"""bloqr-compatible endpoints (seed 000): ``/api/version``, ``/api/deployments``, ``/api/deployments/stats``.

Response shapes follow the seed field for field (``success``, camelCase names,
``fullVersion``, ``buildNumber``, a ``metadata`` object); statuses are bloqr's
``success | failed | rollback`` (other lifecycle states pass through by name).
Times are RFC 3339 with ``Z`` rather than the seed's zone-less SQLite text: every
JavaScript ``Date`` parses both, and a time without a zone is ambiguous.
The product comes from ``?product=`` or ``[server] default_product``; the
environment from ``?environment=``, ``[server] default_environment``, or (for
``/api/version``) the product's most-promoted environment.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from shipmate.api.appstate import app_context
from shipmate.api.auth import Reader
from shipmate.api.schemas import BloqrErrorBody, error_responses
from shipmate.domain.inputs.fields import format_time
from shipmate.domain.records import DeploymentRecord
from shipmate.domain.requests import HistoryFilter
from shipmate.errors import InvalidInputError, NotFoundError
from shipmate.services import queries
from shipmate.services.auth.keys import Principal

__all__ = ["router"]

router = APIRouter(
    prefix="/api", responses=error_responses(BloqrErrorBody, 401, 403, 404, 413, 422)
)


_STATUS = {"completed": "success", "rolled_back": "rollback"}


def _product(request: Request, principal: Principal, product: str | None) -> str:
    name = product or request.app.state.server.default_product
    if name is None and len(principal.products) == 1:
        name = principal.products[0]
    if not name:
        raise InvalidInputError(
            "product is required: pass ?product= or set [server] default_product", field="product"
        )
    principal.require_product(name)
    return str(name)


def bloqr_deployment(d: DeploymentRecord) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if d.ci_platform:
        metadata["ci_platform"] = d.ci_platform
    if d.ci_run_id:
        metadata["workflow_run_id"] = d.ci_run_id
    if d.ci_run_url:
        metadata["workflow_run_url"] = d.ci_run_url
    metadata.update(d.metadata)
    return {
        "id": str(d.id),
        "version": d.version,
        "buildNumber": d.build_number,
        "fullVersion": d.full_version,
        "gitCommit": d.commit_sha,
        "gitBranch": d.branch,
        "deployedAt": format_time(d.finished_at or d.deployed_at),
        "deployedBy": d.deployed_by,
        "status": _STATUS.get(d.status, d.status),
        "environment": d.environment,
        "deploymentDuration": d.duration_ms,
        "metadata": metadata,
    }


@router.get("/version", summary="bloqr: the current deployed version")
def get_version(
    request: Request,
    principal: Reader,
    product: Annotated[str | None, Query(max_length=255)] = None,
    environment: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    ctx = app_context(request)
    name = _product(request, principal, product)
    matrix = queries.current_matrix(ctx, product=name)
    wanted = environment or request.app.state.server.default_environment
    cells = [c for c in matrix.cells if wanted is None or c.environment == wanted]
    if not cells:
        where = f" in {wanted}" if wanted else ""
        raise NotFoundError(f"no completed deployment of {name}{where}", field="product")
    # cells come in promotion order; the last is the most-promoted environment
    dep = queries.show_deployment(ctx, cells[-1].deployment_id)
    body = bloqr_deployment(dep)
    body.pop("metadata")
    return {"success": True, **body}


@router.get("/deployments", summary="bloqr: deployment history")
def get_deployments(
    request: Request,
    principal: Reader,
    product: Annotated[str | None, Query(max_length=255)] = None,
    environment: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = 50,
    version: Annotated[str | None, Query(max_length=150)] = None,
    status: Annotated[str | None, Query(max_length=50)] = None,
    branch: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    name = _product(request, principal, product)
    page = queries.history(
        app_context(request),
        HistoryFilter(
            product=name,
            environment=environment or request.app.state.server.default_environment,
            version=version,
            status=status,
            branch=branch,
        ),
        limit=limit,
    )
    deployments = [bloqr_deployment(d) for d in page.items]
    return {"success": True, "deployments": deployments, "count": len(deployments)}


@router.get("/deployments/stats", summary="bloqr: deployment statistics")
def get_stats(
    request: Request,
    principal: Reader,
    product: Annotated[str | None, Query(max_length=255)] = None,
    environment: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    name = _product(request, principal, product)
    s = queries.stats(
        app_context(request),
        HistoryFilter(
            product=name, environment=environment or request.app.state.server.default_environment
        ),
    )
    return {
        "success": True,
        "totalDeployments": s.total,
        "successfulDeployments": s.completed,
        "failedDeployments": s.failed,
        "rolledBackDeployments": s.rolled_back,
        "latestVersion": s.latest_full_version,
    }
