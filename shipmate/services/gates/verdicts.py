"""Deployment gates: what a verdict does to the deployment being decided.

The rules come from :mod:`shipmate.services.gates.rules` (``[[gates]]`` of
``shipmate.toml``, then the managed rules), the facts from
:mod:`shipmate.services.gates.facts`, and the rules and their evaluation are
pure (:mod:`shipmate.domain.gates`).  This module

- **applies the verdict** (:func:`check_gates`): a failed ``enabled`` rule
  raises :class:`~shipmate.errors.GateBlockedError` (``details`` carry
  ``http_status`` and the Versioner body ``versioner_detail``) unless an admin
  overrides it with a reason (:func:`validate_override`).  :func:`record_blocked`
  writes the ``gate.blocked`` event in its own transaction once the refused one
  has rolled back, so the refusal changes nothing but is still in the audit log.
  Report-only results go onto the deployment's metadata as
  ``preflight_status.rules_evaluated[]`` (:func:`apply_outcome`), an override as
  ``gate_override`` plus a ``gate.overridden`` event;
- offers the **dry run** (:func:`dry_run`, ``shipmate gates check``).

Approvals are :mod:`shipmate.services.gates.approvals`, the admin's unlock
:mod:`shipmate.services.gates.unlock`.  No rule is on out of the box: a team
enables what it wants (see docs/gates.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from shipmate.config import Settings
from shipmate.domain.gates.evaluate import (
    RuleResult,
    blocking,
    evaluate,
    report_only_entries,
    to_gate_error,
    to_versioner_detail,
)
from shipmate.domain.gates.rules import RuleMode
from shipmate.domain.inputs.fields import format_time, validate_lookup_name, validate_text
from shipmate.errors import GateBlockedError, InvalidInputError
from shipmate.services.context import Context
from shipmate.services.gates.facts import (
    GateSubject,
    find_version_id,
    gather_facts,
    subject_version,
)
from shipmate.services.gates.rules import load_rules
from shipmate.store.catalog import find_environment_id, find_product_id
from shipmate.store.deployments import append_event, update_deployment
from shipmate.store.schema import deployments

__all__ = [
    "GateOutcome",
    "apply_outcome",
    "check_gates",
    "dry_run",
    "record_blocked",
    "result_to_dict",
    "validate_override",
]

_MAX_REASON = 1000


def result_to_dict(r: RuleResult) -> dict[str, Any]:
    return {
        "rule_name": r.rule_name,
        "kind": r.kind.value,
        "mode": r.mode.value,
        "passed": r.passed,
        "blocks": r.blocks,
        "code": None if r.code is None else r.code.value,
        "http_status": r.http_status,
        "message": r.message,
        "retry_after": format_time(r.retry_after),
        "details": dict(r.details),
    }


@dataclass(frozen=True)
class GateOutcome:
    """Every evaluated rule's result, and the override if one was used."""

    subject: GateSubject
    results: tuple[RuleResult, ...] = ()
    overridden: tuple[RuleResult, ...] = ()
    override_reason: str | None = None
    evaluated_at: datetime | None = None
    rule_sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def blocking(self) -> RuleResult | None:
        return blocking(self.results)

    @property
    def allowed(self) -> bool:
        return self.blocking is None or bool(self.overridden)

    @property
    def rules_evaluated(self) -> list[dict[str, Any]]:
        """The Versioner ``preflight_status.rules_evaluated[]`` entries (report-only rules)."""
        return report_only_entries(self.results)

    def to_dict(self) -> dict[str, Any]:
        block = self.blocking
        return {
            "allowed": self.allowed,
            "product": self.subject.product,
            "version": self.subject.version,
            "environment": self.subject.environment,
            "deployer": self.subject.deployer,
            "evaluated_at": format_time(self.evaluated_at),
            "blocking": None if block is None else to_versioner_detail(block),
            "results": [
                {**result_to_dict(r), "source": self.rule_sources.get(r.rule_name)}
                for r in self.results
            ],
            "rules_evaluated": self.rules_evaluated,
        }


def _evaluate(
    conn: Connection, settings: Settings, subject: GateSubject, now: datetime
) -> tuple[list[RuleResult], dict[str, str]]:
    stored = load_rules(conn, settings)
    applicable = [
        s
        for s in stored
        if s.rule.mode is not RuleMode.DISABLED
        and s.rule.applies_to(subject.product, subject.environment)
    ]
    if not applicable:
        return [], {}
    rules = [s.rule for s in applicable]
    results = evaluate(rules, gather_facts(conn, rules, subject, now))
    return results, {s.rule.name: s.source for s in applicable}


def validate_override(override_gates: bool, reason: str | None) -> str | None:
    """The override's reason, or ``None`` without an override.  A reason is required."""
    if not isinstance(override_gates, bool):
        raise InvalidInputError("override_gates must be true or false", field="override_gates")
    text = validate_text(reason, field="override_reason", max_length=_MAX_REASON)
    if not override_gates:
        if text is not None:
            raise InvalidInputError(
                "override_reason is only used with override_gates (--override-gates)",
                field="override_reason",
            )
        return None
    if text is None:
        raise InvalidInputError(
            "override_reason is required to override gates: say why (--reason on the CLI)",
            field="override_reason",
        )
    return text


def check_gates(
    conn: Connection,
    ctx: Context,
    subject: GateSubject,
    *,
    now: datetime,
    override_reason: str | None = None,
) -> GateOutcome:
    """Evaluate the rules for a deployment entering ``started`` (or created ``pending``).

    Call it inside the write transaction, after the (product, environment) lock.
    Raises :class:`GateBlockedError` for a refusal unless ``override_reason`` is
    given (the caller has checked that the actor may override).
    """
    results, sources = _evaluate(conn, ctx.settings, subject, now)
    block = blocking(results)
    overridden: tuple[RuleResult, ...] = ()
    if block is not None:
        if override_reason is None:
            raise _refusal(block, results, subject)
        overridden = tuple(r for r in results if r.blocks)
    return GateOutcome(
        subject=subject,
        results=tuple(results),
        overridden=overridden,
        override_reason=override_reason if overridden else None,
        evaluated_at=now,
        rule_sources=sources,
    )


def _refusal(
    block: RuleResult, results: Sequence[RuleResult], subject: GateSubject
) -> GateBlockedError:
    err = to_gate_error(block)
    err.details["versioner_detail"] = to_versioner_detail(block)
    err.details["http_status"] = block.http_status
    err.details["product"] = subject.product
    err.details["environment"] = subject.environment
    err.details["version"] = subject.version
    err.details["requested_status"] = subject.status
    if subject.deployer is not None:
        err.details["deployer"] = subject.deployer
    if subject.deployment_id is not None:
        err.details["refused_deployment_id"] = str(subject.deployment_id)
    err.details["rules_evaluated"] = report_only_entries(results)
    return err


def apply_outcome(
    conn: Connection,
    outcome: GateOutcome | None,
    deployment_id: int,
    *,
    now: datetime,
    actor: str | None,
    key_name: str | None,
) -> None:
    """Put report-only results and any override on the deployment; log the override."""
    if outcome is None:
        return
    patch: dict[str, Any] = {}
    entries = outcome.rules_evaluated
    if entries:
        patch["preflight_status"] = {"rules_evaluated": entries}
    overridden = [
        {
            "rule_name": r.rule_name,
            "kind": r.kind.value,
            "code": None if r.code is None else r.code.value,
            "message": r.message,
            "retry_after": format_time(r.retry_after),
        }
        for r in outcome.overridden
    ]
    if overridden:
        patch["gate_override"] = {
            "reason": outcome.override_reason,
            "by": actor,
            "key_name": key_name,
            "at": format_time(now),
            "rules": overridden,
        }
    if not patch:
        return
    current = conn.execute(
        select(deployments.c.extra).where(deployments.c.id == deployment_id)
    ).scalar_one()
    update_deployment(conn, deployment_id, {"extra": {**dict(current or {}), **patch}})
    if overridden:
        subject = outcome.subject
        append_event(
            conn,
            type="gate.overridden",
            at=now,
            actor=actor,
            key_name=key_name,
            product_id=subject.product_id,
            environment_id=subject.environment_id,
            deployment_id=deployment_id,
            data={
                "reason": outcome.override_reason,
                "version": subject.version,
                "status": subject.status,
                "rules": overridden,
            },
        )


def record_blocked(
    ctx: Context,
    exc: GateBlockedError,
    *,
    now: datetime,
    actor: str | None,
    key_name: str | None,
) -> None:
    """Append the ``gate.blocked`` event in its own transaction (the refused one rolled back)."""
    details = exc.details
    product = details.get("product")
    environment = details.get("environment")
    if not isinstance(product, str) or not isinstance(environment, str):
        return  # not a refusal check_gates made
    refused = details.get("refused_deployment_id")
    with ctx.write() as conn:
        append_event(
            conn,
            type="gate.blocked",
            at=now,
            actor=actor,
            key_name=key_name,
            product_id=find_product_id(conn, product),
            environment_id=find_environment_id(conn, environment),
            deployment_id=None if refused is None else int(refused),
            data={
                "product": product,
                "environment": environment,
                "version": details.get("version"),
                "requested_status": details.get("requested_status"),
                "deployer": details.get("deployer"),
                "rule_name": details.get("rule_name"),
                "rule_kind": details.get("rule_kind"),
                "code": details.get("gate_code"),
                "http_status": details.get("http_status"),
                "message": exc.message,
                "retry_after": details.get("retry_after"),
                "rule_details": details.get("rule_details", {}),
                "rules_evaluated": details.get("rules_evaluated", []),
            },
        )


def dry_run(
    ctx: Context,
    product: str,
    version: str,
    environment: str,
    deployer: str | None = None,
) -> GateOutcome:
    """Evaluate every rule as if this deployment started now; records nothing."""
    product = validate_lookup_name(product, field="product", max_length=255)
    version = subject_version(version, ctx.settings, lookup=True)
    environment = validate_lookup_name(environment, field="environment")
    deployer = validate_text(deployer, field="deployer", max_length=255)
    now = ctx.now()
    with ctx.read() as conn:
        product_id = find_product_id(conn, product)
        subject = GateSubject(
            product=product,
            environment=environment,
            version=version,
            deployer=deployer,
            product_id=product_id,
            environment_id=find_environment_id(conn, environment),
            version_id=find_version_id(conn, product_id, version),
        )
        results, sources = _evaluate(conn, ctx.settings, subject, now)
    return GateOutcome(
        subject=subject, results=tuple(results), evaluated_at=now, rule_sources=sources
    )
