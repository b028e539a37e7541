"""Deployment gates: rule definitions and their evaluation, with no I/O.

A gate rule guards deployments of some products into some environments.  The
caller gathers the facts (:class:`GateFacts`: other started deployments, where
this version has completed, its approvals, the current time) and
:func:`evaluate` answers, for every rule in scope, whether it passes.

Rules
-----
Every rule has a ``name``, a ``mode`` and a scope:

- ``mode``: ``enabled`` refuses the deployment when the rule fails;
  ``report_only`` evaluates it and reports the result (the Versioner
  ``extra_metadata.preflight_status.rules_evaluated[]`` entries of
  :func:`report_only_entries`) but refuses nothing; ``disabled`` skips it.
- ``products`` / ``environments``: names or shell-style patterns (``prod-*``,
  ``api-?``, ``[ab]*``), matched case-sensitively.  Empty means "all".  A
  rule applies when both the product and the environment match.

The four kinds, and the refusal each gives (the Versioner codes and statuses):

``concurrency`` → 409 ``DEPLOYMENT_IN_PROGRESS``
    At most one started deployment per product and environment.  Another
    started deployment blocks until ``started_at + lease_seconds`` (default one
    hour); at that instant its lease has expired and it no longer blocks, so a
    deploy that died cannot wedge an environment.  ``retry_after`` is the
    moment the last blocking lease expires.

``freeze`` → 423 ``NO_DEPLOY_WINDOW``
    One-off (``start``, ``end``: instants) or recurring (``cron`` plus
    ``duration_seconds``) windows in an IANA ``timezone`` (default UTC), with a
    ``reason``.  A window is half-open, ``[start, end)``: a deployment at
    exactly ``end`` passes.  A recurring window starts at each cron firing
    (see :mod:`shipmate.domain.cron` for gaps and folds) and lasts
    ``duration_seconds`` *on the wall clock* of the time zone: ``0 22 * * fri``
    for 10 h ends at Saturday 08:00 local time even on a night the clocks
    change (9 or 11 elapsed hours then).  An end that falls in a gap or fold is
    resolved like a fire time.  Windows that overlap or touch are one freeze:
    ``retry_after`` is the end of the merged window (at most
    :data:`MAX_CHAINED_WINDOWS` are merged; beyond that ``retry_after`` is an
    early estimate and the next try reports the next end).  In TOML or JSON,
    ``start``/``end`` without an offset are wall times in ``timezone``.

``flow`` → 428 ``FLOW_VIOLATION`` or ``INSUFFICIENT_SOAK_TIME``
    The version must have completed in every ``required_environments`` entry
    (the environment being deployed to is never required of itself).  With
    ``soak_seconds``, its latest completion there must be at least that old;
    exactly at the boundary passes.  A missing environment is reported before
    a short soak; ``retry_after`` is when the last soak ends.

``approval`` → 428 ``APPROVAL_REQUIRED``
    ``required`` approvals of (product, version, environment) by distinct
    identities.  Identities are compared trimmed and case-insensitively; the
    deployer's own approval does not count unless ``allow_self_approval``.

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

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any, ClassVar, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shipmate.domain.cron import CronExpr, local_to_utc
from shipmate.domain.inputs.fields import format_time, validate_name, validate_text
from shipmate.errors import GateBlockedError, InvalidInputError

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "HTTP_STATUS",
    "KIND_ORDER",
    "MAX_CHAINED_WINDOWS",
    "MAX_SECONDS",
    "ApprovalRule",
    "BaseRule",
    "ConcurrencyRule",
    "FlowRule",
    "FreezeRule",
    "FreezeWindow",
    "GateCode",
    "GateFacts",
    "Rule",
    "RuleKind",
    "RuleMode",
    "RuleResult",
    "blocking",
    "evaluate",
    "parse_mode",
    "parse_rule_kind",
    "report_only_entries",
    "rule_from_dict",
    "rule_to_dict",
    "rules_from_list",
    "to_gate_error",
    "to_versioner_detail",
]

DEFAULT_LEASE_SECONDS = 3600
#: Upper bound for every duration in a rule (lease, freeze length, soak): 366 days.
MAX_SECONDS = 366 * 24 * 3600
MAX_APPROVALS = 100
MAX_CHAINED_WINDOWS = 500
_MAX_NAME = 100
_MAX_REASON = 500


class RuleMode(StrEnum):
    ENABLED = "enabled"
    REPORT_ONLY = "report_only"
    DISABLED = "disabled"


class RuleKind(StrEnum):
    CONCURRENCY = "concurrency"
    FREEZE = "freeze"
    FLOW = "flow"
    APPROVAL = "approval"


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


def parse_mode(value: object, *, field: str = "mode") -> RuleMode:
    """``enabled``, ``report_only`` (or ``report-only``) or ``disabled``, any case."""
    if isinstance(value, RuleMode):
        return value
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be a string", field=field)
    try:
        return RuleMode(value.strip().lower().replace("-", "_"))
    except ValueError:
        raise InvalidInputError(
            f"{field} {value!r} is not a rule mode; use one of "
            f"{', '.join(m.value for m in RuleMode)}",
            field=field,
        ) from None


def parse_rule_kind(value: object, *, field: str = "kind") -> RuleKind:
    if isinstance(value, RuleKind):
        return value
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be a string", field=field)
    try:
        return RuleKind(value.strip().lower())
    except ValueError:
        raise InvalidInputError(
            f"{field} {value!r} is not a rule kind; use one of "
            f"{', '.join(k.value for k in RuleKind)}",
            field=field,
        ) from None


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True, kw_only=True)
class BaseRule:
    """What every rule has: a name, a mode and a scope."""

    kind: ClassVar[RuleKind]

    name: str
    mode: RuleMode = RuleMode.ENABLED
    products: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _set(self, "name", _rule_name(self.name, "name"))
        _set(self, "mode", parse_mode(self.mode))
        _set(self, "products", _patterns(self.products, "products"))
        _set(self, "environments", _patterns(self.environments, "environments"))

    def applies_to(self, product: str, environment: str) -> bool:
        """Whether the product and the environment are both in this rule's scope."""
        return _in_scope(self.products, product) and _in_scope(self.environments, environment)


@dataclass(frozen=True, kw_only=True)
class ConcurrencyRule(BaseRule):
    """At most one started deployment per product and environment."""

    kind: ClassVar[RuleKind] = RuleKind.CONCURRENCY

    lease_seconds: int = DEFAULT_LEASE_SECONDS

    def __post_init__(self) -> None:
        super().__post_init__()
        _seconds(self.lease_seconds, "lease_seconds", minimum=1)


@dataclass(frozen=True)
class FreezeWindow:
    """One frozen span ``[start, end)``, UTC."""

    start: datetime
    end: datetime

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


@dataclass(frozen=True, kw_only=True)
class FreezeRule(BaseRule):
    """No deployments inside a one-off or recurring window."""

    kind: ClassVar[RuleKind] = RuleKind.FREEZE

    start: datetime | None = None
    end: datetime | None = None
    cron: CronExpr | None = None
    duration_seconds: int | None = None
    timezone: str = "UTC"
    reason: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "timezone", _zone(self.timezone, "timezone").key)
        _set(self, "reason", validate_text(self.reason, field="reason", max_length=_MAX_REASON))
        one_off = self.start is not None or self.end is not None
        recurring = self.cron is not None or self.duration_seconds is not None
        if one_off and recurring:
            raise InvalidInputError(
                "cron: a freeze window is either one-off (start and end) or recurring "
                "(cron and duration_seconds), not both",
                field="cron",
            )
        if not one_off and not recurring:
            raise InvalidInputError(
                "start: a freeze window needs start and end (one-off) "
                "or cron and duration_seconds (recurring)",
                field="start",
            )
        if one_off:
            start = _aware(self.start, "start", "a one-off freeze window needs both start and end")
            end = _aware(self.end, "end", "a one-off freeze window needs both start and end")
            if end <= start:
                raise InvalidInputError(
                    f"end {format_time(end)} must be after start {format_time(start)}",
                    field="end",
                )
            _set(self, "start", start)
            _set(self, "end", end)
        else:
            if self.cron is None:
                raise InvalidInputError(
                    "cron is missing: a recurring freeze window needs cron and duration_seconds",
                    field="cron",
                )
            if not isinstance(self.cron, CronExpr):
                raise InvalidInputError(
                    "cron must be a parsed CronExpr (use CronExpr.parse)", field="cron"
                )
            if self.duration_seconds is None:
                raise InvalidInputError(
                    "duration_seconds is missing: a recurring freeze window needs "
                    "cron and duration_seconds",
                    field="duration_seconds",
                )
            _seconds(self.duration_seconds, "duration_seconds", minimum=1)

    @property
    def recurring(self) -> bool:
        return self.cron is not None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def active_window(self, now: datetime) -> FreezeWindow | None:
        """The freeze window that contains ``now``, merged with any it runs into."""
        now = _aware(now, "now")
        if self.cron is None or self.duration_seconds is None:
            assert self.start is not None and self.end is not None
            window = FreezeWindow(self.start, self.end)
            return window if window.contains(now) else None
        zone = self.zone
        length = timedelta(seconds=self.duration_seconds)
        # A window holding `now` started at most its length (plus any offset change)
        # before it; the latest firing is the one whose window ends last.
        fire = self.cron.latest_fire(now, zone, within=length + timedelta(days=2))
        if fire is None:
            return None
        start = fire.at
        end = local_to_utc(fire.wall + length, zone)
        if not start <= now < end:
            return None
        for _ in range(MAX_CHAINED_WINDOWS):
            following = self.cron.next_fire(fire.at, zone, within=end - fire.at)
            if following is None:
                break
            fire = following
            end = max(end, local_to_utc(fire.wall + length, zone))
        return FreezeWindow(start, end)

    def next_window(self, after: datetime) -> FreezeWindow | None:
        """The next window that starts strictly after ``after`` (not merged)."""
        after = _aware(after, "after")
        if self.cron is None or self.duration_seconds is None:
            assert self.start is not None and self.end is not None
            return FreezeWindow(self.start, self.end) if self.start > after else None
        zone = self.zone
        length = timedelta(seconds=self.duration_seconds)
        fire = self.cron.next_fire(after, zone)
        while fire is not None:
            end = local_to_utc(fire.wall + length, zone)
            if end > fire.at:
                return FreezeWindow(fire.at, end)
            fire = self.cron.next_fire(fire.at, zone)  # empty: all inside a gap
        return None


@dataclass(frozen=True, kw_only=True)
class FlowRule(BaseRule):
    """The version must have completed in the required environments first."""

    kind: ClassVar[RuleKind] = RuleKind.FLOW

    required_environments: tuple[str, ...] = ()
    soak_seconds: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        key = "required_environments"
        names = self.required_environments
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise InvalidInputError(f"{key} must be a list of environment names", field=key)
        if not names:
            raise InvalidInputError(
                f'{key} must name at least one environment (e.g. ["staging"])', field=key
            )
        _set(
            self,
            key,
            tuple(validate_name(n, field=f"{key}[{i}]") for i, n in enumerate(names)),
        )
        _seconds(self.soak_seconds, "soak_seconds", minimum=0)


@dataclass(frozen=True, kw_only=True)
class ApprovalRule(BaseRule):
    """``required`` approvals by distinct identities other than the deployer."""

    kind: ClassVar[RuleKind] = RuleKind.APPROVAL

    required: int = 1
    allow_self_approval: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        _integer(self.required, "required", minimum=1, maximum=MAX_APPROVALS)
        if not isinstance(self.allow_self_approval, bool):
            raise InvalidInputError(
                "allow_self_approval must be true or false", field="allow_self_approval"
            )


Rule: TypeAlias = ConcurrencyRule | FreezeRule | FlowRule | ApprovalRule

_RULE_CLASSES: dict[RuleKind, type[BaseRule]] = {
    RuleKind.CONCURRENCY: ConcurrencyRule,
    RuleKind.FREEZE: FreezeRule,
    RuleKind.FLOW: FlowRule,
    RuleKind.APPROVAL: ApprovalRule,
}


# --------------------------------------------------------------------- evaluation


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
        _set(self, "now", _aware(self.now, "now"))


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
        started = _utc(started_at)
        expires = started + lease
        if facts.now < expires:
            blockers.append((str(deployment_id), started, expires))
        else:
            expired += 1
    where = f"{facts.product} to {facts.environment}"
    if not blockers:
        note = (
            f" ({expired} started deployment(s) older than the {_human(rule.lease_seconds)} "
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
        f"{format_time(retry_after)} when the {_human(rule.lease_seconds)} lease expires "
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
            completed[env] = _utc(at)
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
            f"but must soak there for {_human(rule.soak_seconds)} before {facts.environment}. "
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
    return RuleResult(
        rule_name=rule.name,
        kind=rule.kind,
        mode=rule.mode,
        passed=True,
        code=None,
        http_status=None,
        message=message,
    )


def _failed(
    rule: BaseRule,
    code: GateCode,
    message: str,
    retry_after: datetime | None,
    details: dict[str, Any],
) -> RuleResult:
    return RuleResult(
        rule_name=rule.name,
        kind=rule.kind,
        mode=rule.mode,
        passed=False,
        code=code,
        http_status=HTTP_STATUS[code],
        message=message,
        retry_after=retry_after,
        details=details,
    )


# ----------------------------------------------------------- TOML / JSON mapping

_COMMON_KEYS = ("name", "kind", "mode", "products", "environments")
_KIND_KEYS: dict[RuleKind, tuple[str, ...]] = {
    RuleKind.CONCURRENCY: ("lease_seconds", "lease"),
    RuleKind.FREEZE: (
        "start",
        "end",
        "cron",
        "duration_seconds",
        "duration",
        "timezone",
        "reason",
    ),
    RuleKind.FLOW: ("required_environments", "soak_seconds", "soak"),
    RuleKind.APPROVAL: ("required", "allow_self_approval"),
}


def rule_from_dict(data: Mapping[str, object], *, field: str | None = None) -> Rule:
    """A rule from its TOML/JSON form.

    ``field`` prefixes the key in errors: ``field="gates[2]"`` reports a bad
    cron as ``gates[2].cron``.  Durations may be given in seconds
    (``lease_seconds``, ``duration_seconds``, ``soak_seconds``) or as text
    (``lease``, ``duration``, ``soak``: ``"90m"``, ``"1h30m"``, ``"2d"``, ``"1w"``).
    """
    if not isinstance(data, Mapping):
        where = field or "gate"
        raise InvalidInputError(
            f"{where} must be a table (object) with name, kind and the rule's settings",
            field=where,
        )
    try:
        return _rule_from_mapping(data)
    except InvalidInputError as exc:
        if field is None:
            raise
        raise _prefixed(exc, field) from None


def rules_from_list(items: object, *, field: str = "gates") -> list[Rule]:
    """Rules from a TOML array of tables / JSON list; names must be unique."""
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise InvalidInputError(f"{field} must be a list of rules", field=field)
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidInputError(
                f"{where} must be a table (object) with name, kind and the rule's settings",
                field=where,
            )
        rule = rule_from_dict(item, field=where)
        key = rule.name.casefold()
        if key in seen:
            raise InvalidInputError(
                f"{where}.name {rule.name!r} is already used by {field}[{seen[key]}]; "
                "rule names must be unique",
                field=f"{where}.name",
            )
        seen[key] = index
        rules.append(rule)
    return rules


def rule_to_dict(rule: BaseRule) -> dict[str, Any]:
    """The TOML/JSON form of a rule; ``None`` values are left out (TOML has no null)."""
    out: dict[str, Any] = {
        "name": rule.name,
        "kind": rule.kind.value,
        "mode": rule.mode.value,
        "products": list(rule.products),
        "environments": list(rule.environments),
    }
    if isinstance(rule, ConcurrencyRule):
        out["lease_seconds"] = rule.lease_seconds
    elif isinstance(rule, FreezeRule):
        if rule.cron is not None:
            out["cron"] = rule.cron.text
            out["duration_seconds"] = rule.duration_seconds
        else:
            out["start"] = format_time(rule.start)
            out["end"] = format_time(rule.end)
        out["timezone"] = rule.timezone
        if rule.reason is not None:
            out["reason"] = rule.reason
    elif isinstance(rule, FlowRule):
        out["required_environments"] = list(rule.required_environments)
        out["soak_seconds"] = rule.soak_seconds
    elif isinstance(rule, ApprovalRule):
        out["required"] = rule.required
        out["allow_self_approval"] = rule.allow_self_approval
    return out


def _rule_from_mapping(data: Mapping[str, object]) -> Rule:
    for key in data:
        if not isinstance(key, str):
            raise InvalidInputError(f"key {key!r} must be a string", field=str(key))
    if data.get("kind") is None:
        raise InvalidInputError(
            f"kind is missing; use one of {', '.join(k.value for k in RuleKind)}", field="kind"
        )
    kind = parse_rule_kind(data["kind"])
    allowed = _COMMON_KEYS + _KIND_KEYS[kind]
    for key in data:
        if key not in allowed:
            raise InvalidInputError(
                f"{key} is not a setting of {kind.value} rules; "
                f"the settings are {', '.join(allowed)}",
                field=key,
            )
    if data.get("name") is None:
        raise InvalidInputError("name is missing", field="name")
    common: dict[str, Any] = {
        "name": data["name"],
        "mode": data.get("mode", RuleMode.ENABLED),
        "products": _pattern_input(data.get("products")),
        "environments": _pattern_input(data.get("environments")),
    }
    if kind is RuleKind.CONCURRENCY:
        lease = _duration_input(data, "lease_seconds", "lease")
        return ConcurrencyRule(
            **common,
            lease_seconds=DEFAULT_LEASE_SECONDS if lease is None else lease,
        )
    if kind is RuleKind.FLOW:
        soak = _duration_input(data, "soak_seconds", "soak")
        required = data.get("required_environments")
        if required is None:
            raise InvalidInputError(
                'required_environments is missing (e.g. ["staging"])',
                field="required_environments",
            )
        return FlowRule(
            **common,
            required_environments=_pattern_input(required),
            soak_seconds=0 if soak is None else soak,
        )
    if kind is RuleKind.APPROVAL:
        settings: dict[str, Any] = {
            "required": data.get("required", 1),
            "allow_self_approval": data.get("allow_self_approval", False),
        }
        return ApprovalRule(**common, **settings)
    zone = _zone(data.get("timezone", "UTC"), "timezone")
    cron_text = data.get("cron")
    duration = _duration_input(data, "duration_seconds", "duration")
    start = data.get("start")
    end = data.get("end")
    reason: Any = data.get("reason")  # checked by FreezeRule
    return FreezeRule(
        **common,
        start=None if start is None else _freeze_time(start, "start", zone),
        end=None if end is None else _freeze_time(end, "end", zone),
        cron=None if cron_text is None else CronExpr.parse(cron_text, field="cron"),
        duration_seconds=duration,
        timezone=zone.key,
        reason=reason,
    )


def _prefixed(exc: InvalidInputError, prefix: str) -> InvalidInputError:
    key = exc.field
    full = f"{prefix}.{key}" if key else prefix
    if key and exc.message.startswith(key):
        message = full + exc.message[len(key) :]
    else:
        message = f"{full}: {exc.message}"
    return type(exc)(message, field=full, **exc.details)


_DURATION = re.compile(
    r"^(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$"
)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def _duration_input(data: Mapping[str, object], seconds_key: str, text_key: str) -> int | None:
    if seconds_key in data and text_key in data:
        raise InvalidInputError(
            f"{text_key}: give either {text_key} or {seconds_key}, not both", field=text_key
        )
    if seconds_key in data:
        value = data[seconds_key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(
                f"{seconds_key} must be a whole number of seconds", field=seconds_key
            )
        return value
    if text_key in data:
        value = data[text_key]
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if not isinstance(value, str):
            raise InvalidInputError(
                f'{text_key} must be a duration such as "90m", "10h" or "2d"',
                field=text_key,
            )
        compact = "".join(value.split()).lower()
        match = _DURATION.match(compact)
        if compact.isdigit():
            return int(compact)
        if not compact or match is None:
            raise InvalidInputError(
                f'{text_key} {value!r} is not a duration; write it like "90m", "1h30m", '
                '"10h", "2d" or "1w" (units w, d, h, m, s)',
                field=text_key,
            )
        total = sum(
            int(amount) * _UNIT_SECONDS[unit]
            for unit, amount in match.groupdict().items()
            if amount is not None
        )
        if total > MAX_SECONDS:
            raise InvalidInputError(
                f"{text_key} {value!r} is longer than the limit of {_human(MAX_SECONDS)}",
                field=text_key,
            )
        return total
    return None


def _pattern_input(value: object) -> Any:
    """A single string becomes a one-item tuple; lists are checked by the rule."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(value)
    return value  # the rule's check names the key and the problem


def _freeze_time(value: object, key: str, zone: ZoneInfo) -> datetime:
    """An instant: aware as given, or a wall time (or date) in the rule's zone."""
    parsed: datetime
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInputError(
                f"{key} {value!r} is not a date-time; write 2026-12-24T18:00:00Z, "
                "or 2026-12-24T18:00 for a wall time in the rule's timezone",
                field=key,
            ) from None
    else:
        raise InvalidInputError(f"{key} must be an RFC 3339 date-time", field=key)
    if not 1970 <= parsed.year <= 9998:
        raise InvalidInputError(f"{key} {value!r} is out of range", field=key)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return local_to_utc(parsed, zone)
    return parsed.astimezone(UTC)


# --------------------------------------------------------------------- checks


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def _rule_name(value: object, key: str) -> str:
    name = validate_text(value, field=key, max_length=_MAX_NAME)
    if name is None:
        raise InvalidInputError(f"{key} must not be empty", field=key)
    if not name.isprintable():
        raise InvalidInputError(
            f"{key} {name!r} must be one line of printable characters", field=key
        )
    return name


def _patterns(value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInputError(
            f'{key} must be a list of names or patterns such as "prod-*"', field=key
        )
    out: list[str] = []
    for index, item in enumerate(value):
        where = f"{key}[{index}]"
        if not isinstance(item, str):
            raise InvalidInputError(f"{where} must be a string", field=where)
        pattern = item.strip()
        if not pattern:
            raise InvalidInputError(f"{where} must not be empty", field=where)
        if len(pattern) > _MAX_NAME:
            raise InvalidInputError(
                f"{where} is {len(pattern)} characters long; the limit is {_MAX_NAME}",
                field=where,
            )
        if any(ch.isspace() or not ch.isprintable() for ch in pattern):
            raise InvalidInputError(
                f"{where} {pattern!r} must not contain spaces or control characters",
                field=where,
            )
        out.append(pattern)
    return tuple(out)


def _in_scope(patterns: tuple[str, ...], value: str) -> bool:
    return not patterns or any(fnmatchcase(value, p) for p in patterns)


def _integer(value: object, key: str, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{key} must be a whole number", field=key)
    if not minimum <= value <= maximum:
        raise InvalidInputError(
            f"{key} is {value}; it must be between {minimum} and {maximum}", field=key
        )
    return value


def _seconds(value: object, key: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{key} must be a whole number of seconds", field=key)
    if value < minimum:
        raise InvalidInputError(f"{key} is {value}; it must be at least {minimum}", field=key)
    if value > MAX_SECONDS:
        raise InvalidInputError(
            f"{key} is {value}; the limit is {MAX_SECONDS} ({_human(MAX_SECONDS)})", field=key
        )
    return value


def _zone(value: object, key: str) -> ZoneInfo:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(
            f"{key} must be an IANA time zone name such as Europe/Berlin", field=key
        )
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInputError(
            f"{key} {value!r} is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)",
            field=key,
        ) from None


def _aware(value: object, key: str, missing: str = "") -> datetime:
    if value is None and missing:
        raise InvalidInputError(f"{key} is missing: {missing}", field=key)
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{key} must be a datetime", field=key)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(f"{key} must have a time zone", field=key)
    return value.astimezone(UTC)


def _utc(value: datetime) -> datetime:
    """A stored time: naive means UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _identity(value: str) -> str:
    return value.strip().casefold()


def _listing(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _human(seconds: int) -> str:
    """``90061`` → ``1d 1h 1m 1s``; ``0`` → ``0s``."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts)
