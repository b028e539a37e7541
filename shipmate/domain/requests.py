"""What front ends ask the record services for: plain frozen requests, no I/O.

The CLI (local and remote mode), the HTTP API and the services share these, so
a request built by the CLI's remote mode needs no database code to exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["MAX_CANDIDATES", "BuildRequest", "HistoryFilter", "RecordRequest"]

#: How many deployments of one full version a rollback mark by full version looks at.
MAX_CANDIDATES = 100


@dataclass(frozen=True)
class BuildRequest:
    """A new build of a product version: the next build number and where it came from."""

    product: str
    version: str
    commit_sha: str | None = None
    branch: str | None = None
    repository: str | None = None
    built_by: str | None = None
    ci_platform: str | None = None
    ci_run_id: str | None = None
    ci_run_url: str | None = None
    source_system: str | None = None
    status: str = "pending"
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Metadata shipmate itself derives (reserved keys; never a client's).
    own_metadata: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    #: Name of the API key that made the request, for the event log.
    key_name: str | None = None
    #: A retried request with the same key returns the first build, allocating nothing.
    idempotency_key: str | None = None


@dataclass(frozen=True)
class RecordRequest:
    """One status event for a deployment, as any front end received it."""

    environment: str
    status: str
    product: str | None = None
    version: str | None = None
    build_number: int | None = None
    deployment_id: int | None = None
    kind: str = "deploy"
    reverts_id: int | None = None
    commit_sha: str | None = None
    #: When the deployed commit was made (lead time for changes uses it).
    commit_time: datetime | None = None
    branch: str | None = None
    repository: str | None = None
    deployed_by: str | None = None
    ci_platform: str | None = None
    ci_run_id: str | None = None
    ci_run_url: str | None = None
    source_system: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Metadata shipmate itself derives or decides (reserved keys; never a client's).
    own_metadata: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    environment_kind: str | None = None
    #: Name of the API key that made the request, for the event log.
    key_name: str | None = None
    #: A retried request with the same key returns the first result, recording nothing.
    idempotency_key: str | None = None
    #: Deploy despite failed gates (admin only; adapters check), with a required reason.
    override_gates: bool = False
    override_reason: str | None = None
    #: Who is authenticated when no key is (the CLI's local identity).  The deployer
    #: the self-approval rule compares approvals with is ``key_name``, else this;
    #: ``deployed_by`` only when neither is known (the label is not an identity).
    identity: str | None = None


@dataclass(frozen=True)
class HistoryFilter:
    """Which deployments a history, stats or export query covers (None: any)."""

    product: str | None = None
    environment: str | None = None
    status: str | None = None
    version: str | None = None
    branch: str | None = None
    actor: str | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: Free text found in the version, commit, deployer or a metadata value.
    search: str | None = None
