"""Versioner's wire protocol (../shared/reference/versioner-api.md), served at a base path.

``POST {base}/build-events/``, ``{base}/version-events/`` (the old name) and
``{base}/deployment-events/``, with and without the trailing slash (a doubled
leading slash is collapsed by middleware).  Answers carry string ids, string
statuses and RFC 3339 times with a zone; errors use Versioner's ``{"detail": ...}``
shapes (see :mod:`shipmate.api.errors`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from shipmate.api.appstate import app_context
from shipmate.api.auth import Writer
from shipmate.api.hotjson import hot_json
from shipmate.api.recordmapping import versioner_build_request, versioner_deployment_request
from shipmate.api.schemas import (
    COMMON_ERRORS,
    BuildEvent,
    DeploymentEvent,
    VersionerErrorBody,
    error_responses,
)
from shipmate.domain.inputs.fields import format_time
from shipmate.domain.records import BuildRecord, DeploymentRecord
from shipmate.services.records.builds import record_build_event
from shipmate.services.records.deployments import record_deployment_event

__all__ = ["make_router"]


def build_response(b: BuildRecord) -> dict[str, Any]:
    return {
        "id": str(b.id),
        "product_id": str(b.product_id),
        "product_name": b.product,
        "version_id": str(b.version_id),
        "version": b.version,
        "build_number": str(b.build_number),
        "full_version": b.full_version,
        "status": b.status,
        "scm_sha": b.commit_sha,
        "started_at": format_time(b.started_at),
        "completed_at": format_time(b.completed_at),
        "created_at": format_time(b.created_at),
        "extra_metadata": b.metadata,
    }


def deployment_response(d: DeploymentRecord) -> dict[str, Any]:
    return {
        "id": str(d.id),
        "product_id": str(d.product_id),
        "product_name": d.product,
        "version_id": str(d.version_id),
        "version": d.version,
        "environment_id": str(d.environment_id),
        "environment_name": d.environment,
        "status": d.status,
        "deployed_by": d.deployed_by,
        "deployed_at": format_time(d.deployed_at),
        "started_at": format_time(d.started_at),
        "completed_at": format_time(d.finished_at),
        "scm_sha": d.commit_sha,
        "extra_metadata": d.metadata,
    }


def make_router(base: str) -> APIRouter:
    router = APIRouter(
        prefix=base,
        tags=["versioner"],
        responses=error_responses(VersionerErrorBody, *COMMON_ERRORS),
    )

    # A retry of an event already recorded is answered 200, a new one 201.
    def build_event(
        request: Request, response: Response, body: BuildEvent, principal: Writer
    ) -> JSONResponse:
        principal.require_product(body.product_name)
        recorded = record_build_event(
            app_context(request), versioner_build_request(body, principal)
        )
        status = 200 if recorded.replayed else 201
        return hot_json(build_response(recorded.build), response, status_code=status)

    def deployment_event(
        request: Request, response: Response, body: DeploymentEvent, principal: Writer
    ) -> JSONResponse:
        principal.require_product(body.product_name)
        recorded = record_deployment_event(
            app_context(request), versioner_deployment_request(body, principal)
        )
        status = 200 if recorded.replayed else 201
        return hot_json(deployment_response(recorded.deployment), response, status_code=status)

    events = (
        (
            "build",
            build_event,
            ("/build-events/", "/build-events", "/version-events/", "/version-events"),
        ),
        ("deployment", deployment_event, ("/deployment-events/", "/deployment-events")),
    )
    for what, endpoint, paths in events:
        for path in paths:
            router.add_api_route(
                path,
                endpoint,
                methods=["POST"],
                status_code=201,
                include_in_schema=path == paths[0],
                summary=f"Versioner: record a {what} event",
                responses={200: {"description": f"A retry: the {what} as already recorded"}},
            )
    return router
