"""Versioner's wire protocol (../shared/reference/versioner-api.md), served at a base path.

``POST {base}/build-events/``, ``{base}/version-events/`` (the old name) and
``{base}/deployment-events/``, with and without the trailing slash (a doubled
leading slash is collapsed by middleware).  Answers carry string ids, string
statuses and RFC 3339 times with a zone; errors use Versioner's ``{"detail": ...}``
shapes (see :mod:`shipmate.api.errors`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from shipmate.api.auth import writer
from shipmate.api.schemas import COMMON_ERRORS, VersionerErrorBody, error_responses
from shipmate.domain.inputs.fields import format_time, parse_time
from shipmate.domain.inputs.reservedkeys import RESERVED_BUILD_METADATA_KEYS, check_client_metadata
from shipmate.domain.records import BuildRecord, DeploymentRecord
from shipmate.domain.requests import BuildRequest, RecordRequest
from shipmate.services.auth.keys import Principal
from shipmate.services.context import Context
from shipmate.services.records.builds import record_build_event
from shipmate.services.records.deployments import record_deployment_event

__all__ = ["make_router"]

Writer = Annotated[Principal, Depends(writer)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")

    product_name: str = Field(min_length=1, max_length=255)
    version: str = Field(min_length=1, max_length=100)
    status: str = Field(min_length=1, max_length=50)
    source_system: str | None = Field(default=None, max_length=50)
    build_number: str | int | None = Field(default=None)
    scm_sha: str | None = Field(default=None, max_length=40)
    scm_branch: str | None = Field(default=None, max_length=100)
    scm_repository: str | None = Field(default=None, max_length=500)
    invoke_id: str | None = Field(default=None, max_length=255)
    completed_at: str | None = Field(default=None, max_length=64)
    extra_metadata: dict[str, Any] | None = None


class BuildEvent(_Event):
    build_url: str | None = Field(default=None, max_length=500)
    built_by: str | None = Field(default=None, max_length=255)
    built_by_email: str | None = Field(default=None, max_length=255)
    built_by_name: str | None = Field(default=None, max_length=255)
    started_at: str | None = Field(default=None, max_length=64)


class DeploymentEvent(_Event):
    environment_name: str = Field(min_length=1, max_length=100)
    deploy_url: str | None = Field(default=None, max_length=500)
    build_url: str | None = Field(default=None, max_length=500)
    deployed_by: str | None = Field(default=None, max_length=255)
    deployed_by_email: str | None = Field(default=None, max_length=255)
    deployed_by_name: str | None = Field(default=None, max_length=255)
    skip_preflight_checks: bool | None = None


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def _derived(event: _Event, **extra: Any) -> dict[str, Any]:
    """The metadata shipmate derives from the event's own fields."""
    data: dict[str, Any] = {}
    if event.build_number is not None and str(event.build_number).strip():
        data["client_build_number"] = str(event.build_number)[:100]
    data.update({key: value for key, value in extra.items() if value})
    return data


def _time(value: str | None, field: str) -> Any:
    return None if value is None or not value.strip() else parse_time(value, field=field)


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

    def build_event(
        request: Request, response: Response, body: BuildEvent, principal: Writer
    ) -> dict[str, Any]:
        principal.require_product(body.product_name)
        check_client_metadata(
            body.extra_metadata or {}, field="extra_metadata", reserved=RESERVED_BUILD_METADATA_KEYS
        )
        recorded = record_build_event(
            _ctx(request),
            BuildRequest(
                product=body.product_name,
                version=body.version,
                status=body.status,
                commit_sha=body.scm_sha,
                branch=body.scm_branch,
                repository=body.scm_repository,
                built_by=body.built_by or body.built_by_name or body.built_by_email,
                ci_run_id=body.invoke_id,
                ci_run_url=body.build_url,
                source_system=body.source_system,
                metadata=dict(body.extra_metadata or {}),
                own_metadata=_derived(
                    body, built_by_email=body.built_by_email, built_by_name=body.built_by_name
                ),
                started_at=_time(body.started_at, "started_at"),
                completed_at=_time(body.completed_at, "completed_at"),
                key_name=principal.name,
            ),
        )
        if recorded.replayed:
            response.status_code = 200  # a retry of an event already recorded
        return build_response(recorded.build)

    def deployment_event(
        request: Request, response: Response, body: DeploymentEvent, principal: Writer
    ) -> dict[str, Any]:
        principal.require_product(body.product_name)
        check_client_metadata(body.extra_metadata or {}, field="extra_metadata")
        recorded = record_deployment_event(
            _ctx(request),
            RecordRequest(
                product=body.product_name,
                environment=body.environment_name,
                version=body.version,
                status=body.status,
                commit_sha=body.scm_sha,
                branch=body.scm_branch,
                repository=body.scm_repository,
                deployed_by=body.deployed_by or body.deployed_by_name or body.deployed_by_email,
                ci_run_id=body.invoke_id,
                ci_run_url=body.deploy_url or body.build_url,
                source_system=body.source_system,
                metadata=dict(body.extra_metadata or {}),
                own_metadata=_derived(
                    body,
                    deployed_by_email=body.deployed_by_email,
                    deployed_by_name=body.deployed_by_name,
                ),
                completed_at=_time(body.completed_at, "completed_at"),
                key_name=principal.name,
            ),
        )
        if recorded.replayed:
            response.status_code = 200  # a retry of an event already recorded
        return deployment_response(recorded.deployment)

    for path in ("/build-events/", "/build-events", "/version-events/", "/version-events"):
        router.add_api_route(
            path,
            build_event,
            methods=["POST"],
            status_code=201,
            include_in_schema=path == "/build-events/",
            summary="Versioner: record a build event",
            responses={200: {"description": "A retry: the build as already recorded"}},
        )
    for path in ("/deployment-events/", "/deployment-events"):
        router.add_api_route(
            path,
            deployment_event,
            methods=["POST"],
            status_code=201,
            include_in_schema=path == "/deployment-events/",
            summary="Versioner: record a deployment event",
            responses={200: {"description": "A retry: the deployment as already recorded"}},
        )
    return router
