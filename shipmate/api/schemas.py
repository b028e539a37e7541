"""Request bodies of shipmate's own API and of Versioner's events (transport only: services
validate values)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BuildBody",
    "BuildEvent",
    "DeploymentBody",
    "DeploymentEvent",
    "EnvironmentBody",
    "KeyBody",
    "MergeBody",
    "NameBody",
    "RollbackMarkBody",
    "StatusEventBody",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class BuildBody(_Body):
    product: str = Field(max_length=255)
    version: str = Field(max_length=100)
    commit: str | None = Field(default=None, max_length=64)
    branch: str | None = Field(default=None, max_length=255)
    repository: str | None = Field(default=None, max_length=500)
    built_by: str | None = Field(default=None, max_length=255)
    ci_platform: str | None = Field(default=None, max_length=50)
    ci_run_id: str | None = Field(default=None, max_length=255)
    ci_run_url: str | None = Field(default=None, max_length=500)
    metadata: dict[str, Any] = Field(default_factory=dict)


class DeploymentBody(_Body):
    product: str = Field(max_length=255)
    environment: str = Field(max_length=100)
    version: str = Field(max_length=150)
    status: str = Field(max_length=50)
    build_number: int | None = Field(default=None, ge=1, le=2_147_483_647)
    kind: str = Field(default="deploy", max_length=20)
    reverts_id: str | None = Field(default=None, max_length=20, pattern=r"^[0-9]+$")
    commit: str | None = Field(default=None, max_length=64)
    commit_time: str | None = Field(default=None, max_length=64)
    branch: str | None = Field(default=None, max_length=255)
    repository: str | None = Field(default=None, max_length=500)
    deployed_by: str | None = Field(default=None, max_length=255)
    ci_platform: str | None = Field(default=None, max_length=50)
    ci_run_id: str | None = Field(default=None, max_length=255)
    ci_run_url: str | None = Field(default=None, max_length=500)
    environment_kind: str | None = Field(default=None, max_length=20)
    metadata: dict[str, Any] = Field(default_factory=dict)
    started_at: str | None = Field(default=None, max_length=64)
    completed_at: str | None = Field(default=None, max_length=64)
    #: Deploy despite failed gates: admin keys only, with a reason (docs/gates.md).
    override_gates: bool = False
    override_reason: str | None = Field(default=None, max_length=1000)


class StatusEventBody(_Body):
    status: str = Field(max_length=50)
    deployed_by: str | None = Field(default=None, max_length=255)
    metadata: dict[str, Any] = Field(default_factory=dict)
    started_at: str | None = Field(default=None, max_length=64)
    completed_at: str | None = Field(default=None, max_length=64)
    override_gates: bool = False
    override_reason: str | None = Field(default=None, max_length=1000)


class RollbackMarkBody(_Body):
    reason: str | None = Field(default=None, max_length=1000)


class EnvironmentBody(_Body):
    kind: str = Field(max_length=20)


class NameBody(_Body):
    """A product's or environment's name: to declare it, or its new name."""

    name: str = Field(max_length=255)


class MergeBody(_Body):
    into: str = Field(max_length=255)


class KeyBody(_Body):
    name: str = Field(max_length=100)
    scope: str = Field(max_length=10)
    products: list[str] = Field(default_factory=list, max_length=100)
    #: The host an ``agent`` key acts for (agent keys only).
    host: str | None = Field(default=None, max_length=255)


# -- Versioner's wire protocol (see shipmate.api.routes.versioner) --
class _VersionerEvent(BaseModel):
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


class BuildEvent(_VersionerEvent):
    build_url: str | None = Field(default=None, max_length=500)
    built_by: str | None = Field(default=None, max_length=255)
    built_by_email: str | None = Field(default=None, max_length=255)
    built_by_name: str | None = Field(default=None, max_length=255)
    started_at: str | None = Field(default=None, max_length=64)


class DeploymentEvent(_VersionerEvent):
    environment_name: str = Field(min_length=1, max_length=100)
    deploy_url: str | None = Field(default=None, max_length=500)
    build_url: str | None = Field(default=None, max_length=500)
    deployed_by: str | None = Field(default=None, max_length=255)
    deployed_by_email: str | None = Field(default=None, max_length=255)
    deployed_by_name: str | None = Field(default=None, max_length=255)
    skip_preflight_checks: bool | None = None


class ErrorInfo(BaseModel):
    code: str
    message: str
    field: str | None = None
    details: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    """shipmate's one error shape."""

    error: ErrorInfo


class VersionerErrorBody(BaseModel):
    """Versioner's shapes: a string, a list of {loc, msg, type}, or a gate refusal object."""

    detail: Any


class BloqrErrorBody(BaseModel):
    success: bool
    error: str
    code: str | None = None


def error_responses(model: type[BaseModel], *codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": model, "description": _DESCRIPTIONS[code]} for code in codes}


_DESCRIPTIONS = {
    401: "Missing, unknown or revoked API key",
    403: "The key's scope or products do not allow this",
    404: "No such product, environment, deployment or key",
    405: "Method not allowed",
    409: "Conflict: illegal transition, commit conflict, or a gate refusal",
    413: "Body or metadata too large",
    422: "Invalid input: the field and the problem are named",
    423: "A freeze window is active",
    428: "A gate precondition is not met",
}

#: Every status a shipmate route can answer with besides success.
COMMON_ERRORS = (401, 403, 404, 409, 413, 422, 423, 428)
