"""Deployment gates: the facts the rules need, read inside the deciding transaction.

:class:`GateSubject` is the deployment being evaluated.  :func:`gather_facts`
reads what the rules in scope need, inside the caller's write transaction and
after :func:`~shipmate.store.catalog.lock_product_environment`: the other
started deployments of the product in the environment (concurrency), the latest
completion of the version in the environments flow rules require, and its
approvals.  On PostgreSQL the advisory lock serializes concurrent ``started``
events of one (product, environment), and on SQLite ``BEGIN IMMEDIATE`` does,
so exactly one of many concurrent starts wins and every other one is refused.
:func:`subject_version` and :func:`find_version_id` name the subject's version
as the approvals and the dry run are given it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from shipmate.config import Settings
from shipmate.domain.fielddicts import record_from
from shipmate.domain.gates.evaluate import GateFacts
from shipmate.domain.gates.rules import ApprovalRule, ConcurrencyRule, FlowRule, Rule
from shipmate.domain.lifecycle import Status
from shipmate.domain.versions import parse_full_version, validate_version
from shipmate.errors import InvalidInputError
from shipmate.store.schema import deployments, environments, versions
from shipmate.store.schema_gates import gate_approvals

__all__ = ["GateSubject", "find_version_id", "gather_facts", "subject_version"]


@dataclass(frozen=True)
class GateSubject:
    """The deployment being evaluated.  Ids are ``None`` when not recorded yet (dry run)."""

    product: str
    environment: str
    version: str
    deployer: str | None
    product_id: int | None = None
    environment_id: int | None = None
    version_id: int | None = None
    #: The existing deployment entering ``status`` (left out of the concurrency facts).
    deployment_id: int | None = None
    #: The status being entered: ``started`` or ``pending``.
    status: str = Status.STARTED.value


def subject_version(value: object, settings: Settings, *, lookup: bool = False) -> str:
    """The version a subject names: a full version (``1.4.0+build.7``) names ``1.4.0``."""
    if not isinstance(value, str):
        raise InvalidInputError("version must be a string", field="version")
    return validate_version(
        parse_full_version(value).version, strict_semver=settings.strict_semver, lookup=lookup
    )


def find_version_id(conn: Connection, product_id: int | None, version: str) -> int | None:
    """The recorded version's id, or ``None`` when the product or the version is not recorded."""
    if product_id is None:
        return None
    return conn.execute(
        select(versions.c.id).where(
            versions.c.product_id == product_id, versions.c.version == version
        )
    ).scalar()


def gather_facts(
    conn: Connection, rules: Sequence[Rule], subject: GateSubject, now: datetime
) -> GateFacts:
    """What ``rules`` need to judge ``subject`` at ``now``; only the kinds present are read."""
    open_started: list[tuple[str | int, datetime]] = []
    completions: dict[str, datetime | None] = {}
    approvals: list[tuple[str, datetime]] = []
    pid, eid, vid = subject.product_id, subject.environment_id, subject.version_id
    if pid is not None and eid is not None and any(isinstance(r, ConcurrencyRule) for r in rules):
        query = select(deployments.c.id, deployments.c.started_at, deployments.c.deployed_at).where(
            deployments.c.product_id == pid,
            deployments.c.environment_id == eid,
            deployments.c.status == Status.STARTED.value,
        )
        if subject.deployment_id is not None:
            query = query.where(deployments.c.id != subject.deployment_id)
        for row in conn.execute(query.order_by(deployments.c.id)):
            open_started.append((row.id, row.started_at or row.deployed_at))
    required = sorted(
        {e for r in rules if isinstance(r, FlowRule) for e in r.required_environments}
    )
    if vid is not None and required:
        rows = conn.execute(
            select(environments.c.name, func.max(deployments.c.finished_at).label("at"))
            .select_from(
                deployments.join(environments, environments.c.id == deployments.c.environment_id)
            )
            .where(
                deployments.c.version_id == vid,
                deployments.c.status == Status.COMPLETED.value,
                environments.c.name.in_(required),
            )
            .group_by(environments.c.name)
        )
        completions = {row.name: row.at for row in rows}
    if vid is not None and eid is not None and any(isinstance(r, ApprovalRule) for r in rules):
        rows = conn.execute(
            select(gate_approvals.c.approver, gate_approvals.c.approved_at)
            .where(gate_approvals.c.version_id == vid, gate_approvals.c.environment_id == eid)
            .order_by(gate_approvals.c.id)
        )
        approvals = [(row.approver, row.approved_at) for row in rows]
    return record_from(
        GateFacts,
        subject,
        now=now,
        open_started=open_started,
        completions=completions,
        approvals=approvals,
    )
