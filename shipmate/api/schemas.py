"""Request bodies of shipmate's own API (transport only: services validate values)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BuildBody",
    "DeploymentBody",
    "EnvironmentBody",
    "KeyBody",
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


class StatusEventBody(_Body):
    status: str = Field(max_length=50)
    deployed_by: str | None = Field(default=None, max_length=255)
    metadata: dict[str, Any] = Field(default_factory=dict)
    started_at: str | None = Field(default=None, max_length=64)
    completed_at: str | None = Field(default=None, max_length=64)


class RollbackMarkBody(_Body):
    reason: str | None = Field(default=None, max_length=1000)


class EnvironmentBody(_Body):
    kind: str = Field(max_length=20)


class KeyBody(_Body):
    name: str = Field(max_length=100)
    scope: str = Field(max_length=10)
    products: list[str] = Field(default_factory=list, max_length=100)
