"""Gate evaluation: the facts a deployment brings, each rule's verdict, and the refusal.

The caller gathers the facts (:class:`GateFacts`: other started deployments,
where this version has completed, its approvals, the current time) and
:func:`evaluate` answers, for every rule in scope that is not disabled, whether
it passes (:class:`RuleResult`).  What each kind checks, and the refusal it
gives, is described in :mod:`shipmate.domain.gates.rules`.

Refusals.  A failed result carries a Versioner code (:class:`GateCode`) and its
HTTP status (:data:`HTTP_STATUS`).  :func:`to_versioner_detail` is the Versioner
refusal body, :func:`to_gate_error` the :class:`~shipmate.errors.GateBlockedError`
to raise, and :func:`report_only_entries` the Versioner
``extra_metadata.preflight_status.rules_evaluated[]`` entries of the
report-only results.

Ordering.  :func:`evaluate` returns results in the order of the rules given.
:func:`blocking` picks the refusal: the failed ``enabled`` results are ordered
by kind (concurrency, freeze, flow, approval), then, within a kind, by the
latest ``retry_after`` first (an unknown one counts as latest, since it may
never clear), then by rule order.

Times.  ``GateFacts.now`` must be zone-aware.  Stored times in the facts
(``started_at``, completions, approvals) that are naive are taken as UTC, which
is what SQLite hands back.  Output times are UTC RFC 3339 with ``Z``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shipmate.domain.gates.durations import human_duration
from shipmate.domain.gates.rules import (
    ApprovalRule,
    BaseRule,
    ConcurrencyRule,
    FlowRule,
    FreezeRule,
    RuleKind,
    RuleMode,
)
from shipmate.domain.gates.times import aware_instant, stored_instant
from shipmate.domain.inputs.fields import format_time
from shipmate.errors import GateBlockedError, InvalidInputError

__all__ = [
    "HTTP_STATUS",
    "KIND_ORDER",
    "GateCode",
    "GateFacts",
    "RuleResult",
    "blocking",
    "evaluate",
    "report_only_entries",
    "to_gate_error",
    "to_versioner_detail",
]


#: The order in which failed rules are considered by :func:`blocking`.
KIND_ORDER: tuple[RuleKind, ...] = (
    RuleKind.CONCURRENCY,
    RuleKind.FREEZE,
    RuleKind.FLOW,
    RuleKind.APPROVAL,
)


class GateCode(StrEnum):
    DEPLOYMENT_IN_PROGRESS = "DEPLOYMENT_IN_PROGRESS"
    NO_DEPLOY_WINDOW = "NO_DEPLOY_WINDOW"
    FLOW_VIOLATION = "FLOW_VIOLATION"
    INSUFFICIENT_SOAK_TIME = "INSUFFICIENT_SOAK_TIME"
    APPROVAL_REQUIRED = "APPROVAL_REQUIRED"


HTTP_STATUS: dict[GateCode, int] = {
    GateCode.DEPLOYMENT_IN_PROGRESS: 409,
    GateCode.NO_DEPLOY_WINDOW: 423,
    GateCode.FLOW_VIOLATION: 428,
    GateCode.INSUFFICIENT_SOAK_TIME: 428,
    GateCode.APPROVAL_REQUIRED: 428,
}


@dataclass(frozen=True)
class GateFacts:
    """Everything evaluation needs, gathered by the caller.

    ``open_started``: (deployment id, started_at) of the *other* started
    deployments of this product in this environment.  ``completions``:
    environment name → latest completion time of this version there (missing or
    ``None`` if never).  ``approvals``: (approver identity, approved_at) for this
    product, version and environment.
    """

    product: str
    version: str
    environment: str
    deployer: str | None
    now: datetime
    open_started: Sequence[tuple[str | int, datetime]] = ()
    completions: Mapping[str, datetime | None] = field(default_factory=dict)
    approvals: Sequence[tuple[str, datetime]] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "now", aware_instant(self.now, "now"))


@dataclass(frozen=True)
class RuleResult:
    """One rule's verdict.  ``details`` holds JSON-ready values only."""

    rule_name: str
    kind: RuleKind
    mode: RuleMode
    passed: bool
    code: GateCode | None
    http_status: int | None
    message: str
    retry_after: datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        """Whether this result refuses the deployment (failed and enabled)."""
        return not self.passed and self.mode is RuleMode.ENABLED


def evaluate(rules: Sequence[BaseRule], facts: GateFacts) -> list[RuleResult]:
    """Evaluate every rule that is not disabled and whose scope holds the deployment."""
    results: list[RuleResult] = []
    for rule in rules:
        if rule.mode is RuleMode.DISABLED:
            continue
        if not rule.applies_to(facts.product, facts.environment):
            continue
        if isinstance(rule, ConcurrencyRule):
            results.append(_evaluate_concurrency(rule, facts))
        elif isinstance(rule, FreezeRule):
            results.append(_evaluate_freeze(rule, facts))
        elif isinstance(rule, FlowRule):
            results.append(_evaluate_flow(rule, facts))
        elif isinstance(rule, ApprovalRule):
            results.append(_evaluate_approval(rule, facts))
        else:  # pragma: no cover - a BaseRule subclass this module does not know
            raise InvalidInputError(
                f"rule {rule.name!r} has an unknown kind {type(rule).__name__}", field="kind"
            )
    return results


def blocking(results: Sequence[RuleResult]) -> RuleResult | None:
    """The refusal to report, or ``None`` when no enabled rule failed.

    Order: kind (concurrency, freeze, flow, approval), then the latest
    ``retry_after`` (unknown first), then the order of the results.
    """
    failed = [(i, r) for i, r in enumerate(results) if r.blocks]
    if not failed:
        return None

    def order(item: tuple[int, RuleResult]) -> tuple[int, int, float, int]:
        index, result = item
        retry = result.retry_after
        known, latest_first = (0, 0.0) if retry is None else (1, -retry.timestamp())
        return (KIND_ORDER.index(result.kind), known, latest_first, index)

    return min(failed, key=order)[1]


def to_versioner_detail(result: RuleResult) -> dict[str, Any]:
    """The Versioner refusal body, to be nested under ``detail``.

    ``{"error": "deployment_blocked", "code", "message", "retry_after"?,
    "details": {"rule_name", ...}}``; ``retry_after`` is left out when unknown.
    """
    if result.passed or result.code is None:
        raise InvalidInputError(
            f"rule {result.rule_name!r} passed; only a failed result is a refusal",
            field="result",
        )
    body: dict[str, Any] = {
        "error": "deployment_blocked",
        "code": result.code.value,
        "message": result.message,
    }
    if result.retry_after is not None:
        body["retry_after"] = format_time(result.retry_after)
    body["details"] = {"rule_name": result.rule_name, **result.details}
    return body


def report_only_entries(results: Sequence[RuleResult]) -> list[dict[str, Any]]:
    """Versioner ``extra_metadata.preflight_status.rules_evaluated[]`` entries.

    One per report-only result; ``error_message`` is ``None`` when it passed.
    """
    return [
        {
            "rule_name": r.rule_name,
            "status": "report_only",
            "evaluation_result": "passed" if r.passed else "failed",
            "error_message": None if r.passed else r.message,
        }
        for r in results
        if r.mode is RuleMode.REPORT_ONLY
    ]


def to_gate_error(result: RuleResult) -> GateBlockedError:
    """A :class:`GateBlockedError` for a refusal, with the details errors.py names."""
    detail = to_versioner_detail(result)
    extra: dict[str, Any] = {
        "gate_code": detail["code"],
        "rule_name": result.rule_name,
        "rule_kind": result.kind.value,
        "http_status": result.http_status,
    }
    if "retry_after" in detail:
        extra["retry_after"] = detail["retry_after"]
    extra["rule_details"] = dict(result.details)
    return GateBlockedError(result.message, **extra)


def _evaluate_concurrency(rule: ConcurrencyRule, facts: GateFacts) -> RuleResult:
    lease = timedelta(seconds=rule.lease_seconds)
    blockers: list[tuple[str, datetime, datetime]] = []
    expired = 0
    for deployment_id, started_at in facts.open_started:
        started = stored_instant(started_at)
        expires = started + lease
        if facts.now < expires:
            blockers.append((str(deployment_id), started, expires))
        else:
            expired += 1
    where = f"{facts.product} to {facts.environment}"
    if not blockers:
        note = (
            f" ({expired} started deployment(s) older than the {human_duration(rule.lease_seconds)} "
            "lease no longer block)"
            if expired
            else ""
        )
        return _passed(rule, f"no other deployment of {where} is in progress{note}")
    blockers.sort(key=lambda b: (b[1], b[0]))
    retry_after = max(b[2] for b in blockers)
    if len(blockers) == 1:
        ident, started, _ = blockers[0]
        what = f"deployment {ident} of {where} started at {format_time(started)} and is"
    else:
        idents = ", ".join(b[0] for b in blockers)
        what = f"deployments {idents} of {where} are"
    message = (
        f"gate {rule.name!r}: {what} still in progress; only one deployment at a time. "
        f"Retry once {'it finishes' if len(blockers) == 1 else 'they finish'}, or after "
        f"{format_time(retry_after)} when the {human_duration(rule.lease_seconds)} lease expires "
        "(an admin can also unlock it)"
    )
    return _failed(
        rule,
        GateCode.DEPLOYMENT_IN_PROGRESS,
        message,
        retry_after,
        {
            "deployment_id": blockers[-1][0],
            "blocking_deployments": [
                {
                    "deployment_id": ident,
                    "started_at": format_time(started),
                    "lease_expires_at": format_time(expires),
                }
                for ident, started, expires in blockers
            ],
            "lease_seconds": rule.lease_seconds,
        },
    )


def _evaluate_freeze(rule: FreezeRule, facts: GateFacts) -> RuleResult:
    window = rule.active_window(facts.now)
    if window is None:
        return _passed(rule, f"no freeze window of {rule.name!r} is active")
    local_end = ""
    if rule.timezone != "UTC":
        wall = window.end.astimezone(rule.zone).strftime("%Y-%m-%d %H:%M %Z")
        local_end = f" ({wall}, {rule.timezone})"
    reason = f": {rule.reason}" if rule.reason else ""
    message = (
        f"gate {rule.name!r}: deployments of {facts.product} to {facts.environment} are frozen "
        f"from {format_time(window.start)} until {format_time(window.end)}{local_end}"
        f"{reason}. Retry after {format_time(window.end)}"
    )
    details: dict[str, Any] = {
        "window_name": rule.name,
        "window_start": format_time(window.start),
        "window_end": format_time(window.end),
        "timezone": rule.timezone,
    }
    if rule.reason:
        details["reason"] = rule.reason
    if rule.cron is not None:
        details["cron"] = rule.cron.text
        details["duration_seconds"] = rule.duration_seconds
    return _failed(rule, GateCode.NO_DEPLOY_WINDOW, message, window.end, details)


def _evaluate_flow(rule: FlowRule, facts: GateFacts) -> RuleResult:
    required = [e for e in rule.required_environments if e != facts.environment]
    what = f"{facts.product} {facts.version}"
    if not required:
        return _passed(rule, f"{facts.environment} needs no prior environment")
    completed: dict[str, datetime] = {}
    for env in required:
        at = facts.completions.get(env)
        if at is not None:
            completed[env] = stored_instant(at)
    missing = [e for e in required if e not in completed]
    if missing:
        message = (
            f"gate {rule.name!r}: {what} has not completed in {_listing(missing)}, "
            f"which must come before {facts.environment}. Deploy it there first, then retry"
        )
        return _failed(
            rule,
            GateCode.FLOW_VIOLATION,
            message,
            None,
            {"required_environments": required, "missing_environments": missing},
        )
    soak = timedelta(seconds=rule.soak_seconds)
    soaking = {e: at + soak for e, at in completed.items() if facts.now < at + soak}
    if soaking:
        env = max(soaking, key=lambda e: (soaking[e], e))
        ready = soaking[env]
        message = (
            f"gate {rule.name!r}: {what} completed in {env} at {format_time(completed[env])}, "
            f"but must soak there for {human_duration(rule.soak_seconds)} before {facts.environment}. "
            f"Retry after {format_time(ready)}"
        )
        return _failed(
            rule,
            GateCode.INSUFFICIENT_SOAK_TIME,
            message,
            ready,
            {
                "environment": env,
                "completed_at": format_time(completed[env]),
                "soak_seconds": rule.soak_seconds,
                "soak_until": format_time(ready),
                "required_environments": required,
            },
        )
    return _passed(rule, f"{what} has completed in {_listing(required)}")


def _evaluate_approval(rule: ApprovalRule, facts: GateFacts) -> RuleResult:
    deployer = _identity(facts.deployer) if facts.deployer else ""
    counted: dict[str, str] = {}
    self_ignored = False
    for identity, _approved_at in facts.approvals:
        key = _identity(identity)
        if not key:
            continue
        if key == deployer and not rule.allow_self_approval:
            self_ignored = True
            continue
        counted.setdefault(key, identity.strip())
    have = len(counted)
    what = f"{facts.product} {facts.version} to {facts.environment}"
    if have >= rule.required:
        return _passed(rule, f"{what} has {have} of {rule.required} required approval(s)")
    missing = rule.required - have
    own = (
        f" ({facts.deployer!r} deploys it, so their own approval does not count)"
        if deployer and not rule.allow_self_approval
        else ""
    )
    message = (
        f"gate {rule.name!r}: {what} has {have} of {rule.required} required approval(s) "
        f"from distinct people{own}. Retry once {missing} more "
        f"{'person approves' if missing == 1 else 'people approve'} it"
    )
    return _failed(
        rule,
        GateCode.APPROVAL_REQUIRED,
        message,
        None,
        {
            "required": rule.required,
            "approvals": have,
            "approved_by": sorted(counted.values()),
            "self_approval_ignored": self_ignored,
        },
    )


def _passed(rule: BaseRule, message: str) -> RuleResult:
    return _result(rule, message)


def _failed(
    rule: BaseRule,
    code: GateCode,
    message: str,
    retry_after: datetime | None,
    details: dict[str, Any],
) -> RuleResult:
    return _result(rule, message, code=code, retry_after=retry_after, details=details)


def _result(
    rule: BaseRule,
    message: str,
    *,
    code: GateCode | None = None,
    retry_after: datetime | None = None,
    details: Mapping[str, Any] | None = None,
) -> RuleResult:
    """A rule's verdict: failed when it has a refusal ``code``."""
    return RuleResult(
        rule_name=rule.name,
        kind=rule.kind,
        mode=rule.mode,
        passed=code is None,
        code=code,
        http_status=None if code is None else HTTP_STATUS[code],
        message=message,
        retry_after=retry_after,
        details={} if details is None else details,
    )


def _identity(value: str) -> str:
    return value.strip().casefold()


def _listing(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]
