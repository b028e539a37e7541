"""From request bodies to the record services' requests: one mapping per body.

shipmate's own API (``/api/v1``) and Versioner's wire protocol receive the same
facts under other names; each body becomes a :class:`~shipmate.domain.requests.BuildRequest`
or :class:`~shipmate.domain.requests.RecordRequest` here, with the same rules for
times, the key that asked and the metadata shipmate derives.
"""

from __future__ import annotations

from collections.abc import Mapping
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


def _alike(*names: str) -> dict[str, str]:
    """Request fields a body holds under the same names."""
    return {name: name for name in names}


#: Request field -> body attribute: the facts shipmate's own build and deployment
#: bodies hold alike.
_API_FIELDS = {
    **_alike("product", "version"),
    "commit_sha": "commit",
    **_alike("branch", "repository", "ci_platform", "ci_run_id", "ci_run_url", "metadata"),
}
#: The same for the facts only a deployment (or a status event) states.
_API_DEPLOYMENT_FIELDS = _alike("environment", "status", "build_number", "kind", "deployed_by")
_API_OVERRIDE_FIELDS = _alike("override_gates", "override_reason")
#: Request field -> attribute of a Versioner build or deployment event.
_VERSIONER_FIELDS = {
    "product": "product_name",
    **_alike("version", "status"),
    "commit_sha": "scm_sha",
    "branch": "scm_branch",
    "repository": "scm_repository",
    "ci_run_id": "invoke_id",
    "source_system": "source_system",
}


def _taken(body: object, fields: Mapping[str, str]) -> dict[str, Any]:
    """The request's ``fields`` read from ``body``'s attributes."""
    return {field: getattr(body, attribute) for field, attribute in fields.items()}


def _times(body: object, *names: str, blank_is_none: bool = False) -> dict[str, Any]:
    """The body's optional times ``names``, parsed, under the same names."""
    return {name: _time(getattr(body, name), name, blank_is_none=blank_is_none) for name in names}


def build_request(
    body: BuildBody, principal: Principal, idempotency_key: str | None
) -> BuildRequest:
    return BuildRequest(
        **_taken(body, _API_FIELDS),
        built_by=body.built_by,
        source_system="shipmate-api",
        key_name=principal.name,
        idempotency_key=idempotency_key,
    )


def deployment_request(
    body: DeploymentBody, principal: Principal, idempotency_key: str | None
) -> RecordRequest:
    return RecordRequest(
        **_taken(body, _API_FIELDS),
        **_taken(body, _API_DEPLOYMENT_FIELDS),
        reverts_id=None
        if body.reverts_id is None
        else parse_id(body.reverts_id, field="reverts_id"),
        commit_time=_time(body.commit_time, "commit_time"),
        source_system="shipmate-api",
        **_times(body, "started_at", "completed_at"),
        environment_kind=body.environment_kind,
        key_name=principal.name,
        idempotency_key=idempotency_key,
        **_taken(body, _API_OVERRIDE_FIELDS),
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
        **_taken(body, _alike("status", "deployed_by", "metadata")),
        **_taken(body, _API_OVERRIDE_FIELDS),
        deployment_id=deployment_id,
        **_times(body, "started_at", "completed_at"),
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
        **_taken(body, _VERSIONER_FIELDS),
        built_by=body.built_by or body.built_by_name or body.built_by_email,
        ci_run_url=body.build_url,
        metadata=dict(body.extra_metadata or {}),
        own_metadata=_derived(
            body, built_by_email=body.built_by_email, built_by_name=body.built_by_name
        ),
        **_times(body, "started_at", "completed_at", blank_is_none=True),
        key_name=principal.name,
    )


def versioner_deployment_request(body: DeploymentEvent, principal: Principal) -> RecordRequest:
    check_client_metadata(body.extra_metadata or {}, field="extra_metadata")
    return RecordRequest(
        **_taken(body, _VERSIONER_FIELDS),
        environment=body.environment_name,
        deployed_by=body.deployed_by or body.deployed_by_name or body.deployed_by_email,
        ci_run_url=body.deploy_url or body.build_url,
        metadata=dict(body.extra_metadata or {}),
        own_metadata=_derived(
            body, deployed_by_email=body.deployed_by_email, deployed_by_name=body.deployed_by_name
        ),
        **_times(body, "completed_at", blank_is_none=True),
        key_name=principal.name,
    )
