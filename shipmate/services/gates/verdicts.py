"""Deployment gates: where rules come from, the facts they need, and what a verdict does.

The rules themselves and their evaluation are pure (:mod:`shipmate.domain.gates`).
This module

- **loads rules** (:mod:`shipmate.services.gates.rules`, re-exported here): the
  ``[[gates]]`` array of ``shipmate.toml`` (read-only here: change it in the
  file) followed by the rules managed with ``shipmate gates add`` / ``POST
  /api/v1/gates/rules`` (table ``gate_rules``);
- **gathers the facts** inside the caller's write transaction, after
  :func:`~shipmate.store.catalog.lock_product_environment`: the other started
  deployments of the product in the environment, the latest completion of the
  version in the environments flow rules require, and its approvals.  On
  PostgreSQL the advisory lock serializes concurrent ``started`` events of one
  (product, environment), and on SQLite ``BEGIN IMMEDIATE`` does, so exactly
  one of many concurrent starts wins and every other one is refused;
- **applies the verdict** (:func:`check_gates`): a failed ``enabled`` rule
  raises :class:`~shipmate.errors.GateBlockedError` (``details`` carry
  ``http_status`` and the Versioner body ``versioner_detail``) unless an admin
  overrides it with a reason.  :func:`record_blocked` writes the
  ``gate.blocked`` event in its own transaction once the refused one has rolled
  back, so the refusal changes nothing but is still in the audit log.  Report-only
  results go onto the deployment's metadata as
  ``preflight_status.rules_evaluated[]`` (:func:`apply_outcome`), an override as
  ``gate_override`` plus a ``gate.overridden`` event;
- offers the **dry run** (:func:`dry_run`, ``shipmate gates check``),
  **approvals** (:func:`approve`) and **unlock** (:func:`unlock`): an admin
  releases a started deployment by marking it ``aborted`` with a reason
  (``deployment.aborted`` and ``gate.unlocked`` events; ``unlocked`` on its
  metadata).

No rule is on out of the box: a team enables what it wants (see docs/gates.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, desc, func, insert, select

from shipmate.config import Settings
from shipmate.domain.environments import infer_kind
from shipmate.domain.gates.evaluate import (
    GateFacts,
    RuleResult,
    blocking,
    evaluate,
    report_only_entries,
    to_gate_error,
    to_versioner_detail,
)
from shipmate.domain.gates.rules import ApprovalRule, ConcurrencyRule, FlowRule, Rule, RuleMode
from shipmate.domain.inputs.fields import (
    format_time,
    validate_lookup_name,
    validate_name,
    validate_text,
)
from shipmate.domain.lifecycle import Status, check_transition
from shipmate.domain.records import DeploymentRecord
from shipmate.domain.versions import parse_full_version, validate_version
from shipmate.errors import (
    ConflictError,
    GateBlockedError,
    InvalidInputError,
    NotFoundError,
)
from shipmate.services.context import Context
from shipmate.services.gates.rules import (
    StoredRule,
    add_rule,
    config_rules,
    get_rule,
    list_rules,
    load_rules,
    remove_rule,
    replace_rule,
    set_rule_mode,
)
from shipmate.store.catalog import (
    ensure_environment,
    find_environment_id,
    find_product_id,
    lock_product_environment,
)
from shipmate.store.deployments import (
    append_event,
    deployment_select,
    get_deployment,
    update_deployment,
)
from shipmate.store.schema import deployments, environments, products, versions
from shipmate.store.schema_gates import gate_approvals

__all__ = [
    "Approval",
    "GateOutcome",
    "GateSubject",
    "StoredRule",
    "add_rule",
    "apply_outcome",
    "approve",
    "check_gates",
    "config_rules",
    "dry_run",
    "get_rule",
    "list_approvals",
    "list_rules",
    "load_rules",
    "record_blocked",
    "remove_rule",
    "replace_rule",
    "result_to_dict",
    "set_rule_mode",
    "unlock",
    "validate_override",
]

_MAX_REASON = 1000


# -------------------------------------------------------------------- approvals


@dataclass(frozen=True)
class Approval:
    id: int
    product: str
    version: str
    environment: str
    approver: str
    comment: str | None
    key_name: str | None
    approved_at: datetime
    #: False when this identity had already approved (the earlier approval is returned).
    created: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "product": self.product,
            "version": self.version,
            "environment": self.environment,
            "approver": self.approver,
            "comment": self.comment,
            "key_name": self.key_name,
            "approved_at": format_time(self.approved_at),
            "created": self.created,
        }


def _version(value: object, settings: Settings, *, lookup: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInputError("version must be a string", field="version")
    return validate_version(
        parse_full_version(value).version, strict_semver=settings.strict_semver, lookup=lookup
    )


def _version_id(conn: Connection, product_id: int | None, version: str) -> int | None:
    if product_id is None:
        return None
    return conn.execute(
        select(versions.c.id).where(
            versions.c.product_id == product_id, versions.c.version == version
        )
    ).scalar()


def _identity(value: object, field_name: str) -> str:
    text = validate_text(value, field=field_name, max_length=255)
    if text is None:
        raise InvalidInputError(
            f"{field_name}: nobody to approve as (no key name; locally no CI actor nor "
            "login name: set LOGNAME)",
            field=field_name,
        )
    return text


def _approval_select() -> Any:
    return select(
        gate_approvals,
        products.c.name.label("product_name"),
        versions.c.version.label("version_name"),
        environments.c.name.label("environment_name"),
    ).select_from(
        gate_approvals.join(products, products.c.id == gate_approvals.c.product_id)
        .join(versions, versions.c.id == gate_approvals.c.version_id)
        .join(environments, environments.c.id == gate_approvals.c.environment_id)
    )


def _approval(row: Any, created: bool = True) -> Approval:
    m = row._mapping
    return Approval(
        id=m["id"],
        product=m["product_name"],
        version=m["version_name"],
        environment=m["environment_name"],
        approver=m["approver"],
        comment=m["comment"],
        key_name=m["key_name"],
        approved_at=m["approved_at"],
        created=created,
    )


def approve(
    ctx: Context,
    product: str,
    version: str,
    environment: str,
    *,
    approver: str | None,
    comment: str | None = None,
    key_name: str | None = None,
) -> Approval:
    """Approve deploying ``product`` ``version`` to ``environment``.

    The product and version must be recorded already (a build or a deployment
    somewhere); the environment is created on first use.  One approval per
    identity (trimmed, case-insensitive): approving again returns the first one.
    Whether an approval counts is decided when the deployment is evaluated: the
    deployer's own does not, unless the rule allows it.
    """
    product = validate_name(product, field="product", max_length=255)
    version = _version(version, ctx.settings)
    environment = validate_name(environment, field="environment")
    who = _identity(approver, "approver")
    comment = validate_text(comment, field="comment", max_length=500)
    now = ctx.now()
    with ctx.write() as conn:
        product_id = find_product_id(conn, product)
        if product_id is None:
            raise NotFoundError(f"product {product!r} does not exist", field="product")
        version_id = _version_id(conn, product_id, version)
        if version_id is None:
            raise NotFoundError(
                f"version {version} of {product} is not recorded; approve a version that "
                "has been built or deployed",
                field="version",
            )
        environment_id = ensure_environment(
            conn, environment, now, infer_kind(environment), inferred=True
        )
        key = who.casefold()
        query = _approval_select().where(
            gate_approvals.c.version_id == version_id,
            gate_approvals.c.environment_id == environment_id,
            gate_approvals.c.approver_key == key,
        )
        existing = conn.execute(query).first()
        if existing is not None:
            return _approval(existing, created=False)
        conn.execute(
            insert(gate_approvals).values(
                product_id=product_id,
                version_id=version_id,
                environment_id=environment_id,
                approver=who,
                approver_key=key,
                comment=comment,
                key_name=key_name,
                approved_at=now,
            )
        )
        append_event(
            conn,
            type="gate.approved",
            at=now,
            actor=who,
            key_name=key_name,
            product_id=product_id,
            environment_id=environment_id,
            data={"version": version, "approver": who, "comment": comment},
        )
        row = conn.execute(query).first()
    assert row is not None
    return _approval(row)


def list_approvals(ctx: Context, product: str, version: str, environment: str) -> list[Approval]:
    product = validate_lookup_name(product, field="product", max_length=255)
    version = _version(version, ctx.settings, lookup=True)
    environment = validate_lookup_name(environment, field="environment")
    with ctx.read() as conn:
        query = _approval_select().where(
            products.c.name == product,
            versions.c.version == version,
            environments.c.name == environment,
        )
        return [_approval(r) for r in conn.execute(query.order_by(gate_approvals.c.id))]


# ------------------------------------------------------------------- evaluation


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


def _facts(
    conn: Connection, rules: Sequence[Rule], subject: GateSubject, now: datetime
) -> GateFacts:
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
    return GateFacts(
        product=subject.product,
        version=subject.version,
        environment=subject.environment,
        deployer=subject.deployer,
        now=now,
        open_started=open_started,
        completions=completions,
        approvals=approvals,
    )


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
    results = evaluate(rules, _facts(conn, rules, subject, now))
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
    version = _version(version, ctx.settings, lookup=True)
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
            version_id=_version_id(conn, product_id, version),
        )
        results, sources = _evaluate(conn, ctx.settings, subject, now)
    return GateOutcome(
        subject=subject, results=tuple(results), evaluated_at=now, rule_sources=sources
    )


# ----------------------------------------------------------------------- unlock


def unlock(
    ctx: Context,
    *,
    reason: str | None,
    product: str | None = None,
    environment: str | None = None,
    deployment_id: int | None = None,
    actor: str | None = None,
    key_name: str | None = None,
) -> DeploymentRecord:
    """Release a started deployment: mark it ``aborted`` with the reason (admin only).

    Name it by id, or by product and environment when exactly one deployment is
    started there.  Recorded as ``deployment.aborted`` and ``gate.unlocked``
    events, and as ``unlocked`` on the deployment's metadata.
    """
    why = validate_text(reason, field="reason", max_length=_MAX_REASON)
    if why is None:
        raise InvalidInputError(
            "reason is required: say why the deployment is unlocked", field="reason"
        )
    if product is not None:
        product = validate_lookup_name(product, field="product", max_length=255)
    if environment is not None:
        environment = validate_lookup_name(environment, field="environment")
    actor = validate_text(actor, field="actor", max_length=255)
    now = ctx.now()
    with ctx.write() as conn:
        target = _unlock_target(conn, product, environment, deployment_id)
        lock_product_environment(conn, target.product_id, target.environment_id)
        current = get_deployment(conn, target.id, for_update=True)
        assert current is not None
        if current.status != Status.STARTED.value:
            raise ConflictError(
                f"deployment {current.id} is {current.status}, not started; only a started "
                "deployment holds the environment",
                field="id",
            )
        check_transition(Status.STARTED, Status.ABORTED, deployment_id=current.id)
        started = current.started_at
        unlocked = {"by": actor, "key_name": key_name, "reason": why, "at": format_time(now)}
        update_deployment(
            conn,
            current.id,
            {
                "status": Status.ABORTED.value,
                "updated_at": now,
                "finished_at": now,
                "duration_ms": None
                if started is None
                else int((now - started).total_seconds() * 1000),
                "extra": {**current.metadata, "unlocked": unlocked},
            },
        )
        common: dict[str, Any] = {
            "at": now,
            "actor": actor,
            "key_name": key_name,
            "product_id": current.product_id,
            "environment_id": current.environment_id,
            "deployment_id": current.id,
        }
        append_event(
            conn,
            type="deployment.aborted",
            from_status=Status.STARTED.value,
            to_status=Status.ABORTED.value,
            data={"full_version": current.full_version, "reason": why, "unlocked": True},
            **common,
        )
        append_event(
            conn,
            type="gate.unlocked",
            data={
                "full_version": current.full_version,
                "reason": why,
                "started_at": format_time(started),
            },
            **common,
        )
        record = get_deployment(conn, current.id)
    assert record is not None
    return record


def _unlock_target(
    conn: Connection, product: str | None, environment: str | None, deployment_id: int | None
) -> DeploymentRecord:
    if deployment_id is not None:
        found = get_deployment(conn, deployment_id)
        if found is None:
            raise NotFoundError(f"deployment {deployment_id} does not exist", field="id")
        for name, given, actual in (
            ("product", product, found.product),
            ("environment", environment, found.environment),
        ):
            if given is not None and given != actual:
                raise InvalidInputError(
                    f"deployment {found.id} is for {name} {actual!r}, not {given!r}", field=name
                )
        return found
    if product is None or environment is None:
        raise InvalidInputError(
            "name the deployment to unlock: its id, or product and environment",
            field="product" if product is None else "environment",
        )
    pid = find_product_id(conn, product)
    if pid is None:
        raise NotFoundError(f"product {product!r} does not exist", field="product")
    eid = find_environment_id(conn, environment)
    if eid is None:
        raise NotFoundError(f"environment {environment!r} does not exist", field="environment")
    rows = conn.execute(
        deployment_select()
        .where(
            deployments.c.product_id == pid,
            deployments.c.environment_id == eid,
            deployments.c.status == Status.STARTED.value,
        )
        .order_by(desc(deployments.c.id))
        .limit(20)
    ).all()
    if not rows:
        raise NotFoundError(
            f"no deployment of {product} to {environment} is started; nothing to unlock",
            field="environment",
        )
    if len(rows) > 1:
        ids = ", ".join(str(r.id) for r in rows)
        raise InvalidInputError(
            f"{len(rows)} deployments of {product} to {environment} are started ({ids}); "
            "give the one to unlock with --id",
            field="id",
        )
    found = get_deployment(conn, rows[0].id)
    assert found is not None
    return found
