"""From request bodies to the record services' requests: one mapping per body.

shipmate's own API (``/api/v1``) and Versioner's wire protocol receive the same
facts under other names; each body becomes a :class:`~shipmate.domain.requests.BuildRequest`
or :class:`~shipmate.domain.requests.RecordRequest` here, with the same rules for
times, the key that asked and the metadata shipmate derives.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shipmate.api.schemas import (
    BuildBody,
    BuildEvent,
    DeploymentBody,
    DeploymentEvent,
    StatusEventBody,
)
from shipmate.domain.inputs.fields import parse_id, parse_time
from shipmate.domain.inputs.reservedkeys import RESERVED_BUILD_METADATA_KEYS, check_client_metadata
from shipmate.domain.requests import BuildRequest, RecordRequest
from shipmate.services.auth.keys import Principal

__all__ = [
    "build_request",
    "deployment_request",
    "status_event_request",
    "versioner_build_request",
    "versioner_deployment_request",
]


def _time(value: str | None, field: str, *, blank_is_none: bool = False) -> datetime | None:
    """An optional RFC 3339 time; Versioner's clients also send blank strings for none."""
    if value is None or (blank_is_none and not value.strip()):
        return None
    return parse_time(value, field=field)


def build_request(
    body: BuildBody, principal: Principal, idempotency_key: str | None
) -> BuildRequest:
    return BuildRequest(
        product=body.product,
        version=body.version,
        commit_sha=body.commit,
        branch=body.branch,
        repository=body.repository,
        built_by=body.built_by,
        ci_platform=body.ci_platform,
        ci_run_id=body.ci_run_id,
        ci_run_url=body.ci_run_url,
        source_system="shipmate-api",
        metadata=body.metadata,
        key_name=principal.name,
        idempotency_key=idempotency_key,
    )


def deployment_request(
    body: DeploymentBody, principal: Principal, idempotency_key: str | None
) -> RecordRequest:
    return RecordRequest(
        product=body.product,
        environment=body.environment,
        version=body.version,
        status=body.status,
        build_number=body.build_number,
        kind=body.kind,
        reverts_id=None
        if body.reverts_id is None
        else parse_id(body.reverts_id, field="reverts_id"),
        commit_sha=body.commit,
        commit_time=_time(body.commit_time, "commit_time"),
        branch=body.branch,
        repository=body.repository,
        deployed_by=body.deployed_by,
        ci_platform=body.ci_platform,
        ci_run_id=body.ci_run_id,
        ci_run_url=body.ci_run_url,
        source_system="shipmate-api",
        metadata=body.metadata,
        started_at=_time(body.started_at, "started_at"),
        completed_at=_time(body.completed_at, "completed_at"),
        environment_kind=body.environment_kind,
        key_name=principal.name,
        idempotency_key=idempotency_key,
        override_gates=body.override_gates,
        override_reason=body.override_reason,
    )


def status_event_request(
    body: StatusEventBody,
    deployment_id: int,
    environment: str,
    principal: Principal,
    idempotency_key: str | None,
) -> RecordRequest:
    """A status for the deployment ``deployment_id`` (in ``environment``)."""
    return RecordRequest(
        environment=environment,
        status=body.status,
        deployment_id=deployment_id,
        deployed_by=body.deployed_by,
        metadata=body.metadata,
        override_gates=body.override_gates,
        override_reason=body.override_reason,
        started_at=_time(body.started_at, "started_at"),
        completed_at=_time(body.completed_at, "completed_at"),
        key_name=principal.name,
        idempotency_key=idempotency_key,
    )


def _derived(event: BuildEvent | DeploymentEvent, **extra: Any) -> dict[str, Any]:
    """The metadata shipmate derives from a Versioner event's own fields."""
    data: dict[str, Any] = {}
    if event.build_number is not None and str(event.build_number).strip():
        data["client_build_number"] = str(event.build_number)[:100]
    data.update({key: value for key, value in extra.items() if value})
    return data


def versioner_build_request(body: BuildEvent, principal: Principal) -> BuildRequest:
    check_client_metadata(
        body.extra_metadata or {}, field="extra_metadata", reserved=RESERVED_BUILD_METADATA_KEYS
    )
    return BuildRequest(
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
        started_at=_time(body.started_at, "started_at", blank_is_none=True),
        completed_at=_time(body.completed_at, "completed_at", blank_is_none=True),
        key_name=principal.name,
    )


def versioner_deployment_request(body: DeploymentEvent, principal: Principal) -> RecordRequest:
    check_client_metadata(body.extra_metadata or {}, field="extra_metadata")
    return RecordRequest(
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
            body, deployed_by_email=body.deployed_by_email, deployed_by_name=body.deployed_by_name
        ),
        completed_at=_time(body.completed_at, "completed_at", blank_is_none=True),
        key_name=principal.name,
    )
