"""Deployment gates: what a rule is, its kinds and their settings, with no I/O.

A gate rule guards deployments of some products into some environments.  This
module defines the rules and checks their settings when one is built; how they
are evaluated against a deployment's facts is :mod:`shipmate.domain.gates.evaluate`,
and their TOML / JSON form is :mod:`shipmate.domain.gates.config`.

Rules
-----
Every rule has a ``name``, a ``mode`` and a scope:

- ``mode``: ``enabled`` refuses the deployment when the rule fails;
  ``report_only`` evaluates it and reports the result (the Versioner
  ``extra_metadata.preflight_status.rules_evaluated[]`` entries of
  :func:`~shipmate.domain.gates.evaluate.report_only_entries`) but refuses
  nothing; ``disabled`` skips it.
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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import ClassVar, TypeAlias
from zoneinfo import ZoneInfo

from shipmate.domain.cron import CronExpr, local_to_utc
from shipmate.domain.gates.durations import check_seconds
from shipmate.domain.gates.times import aware_instant, time_zone
from shipmate.domain.inputs.choices import parse_choice
from shipmate.domain.inputs.fields import format_time, validate_name, validate_text
from shipmate.domain.inputs.names import required_text
from shipmate.errors import InvalidInputError

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "MAX_APPROVALS",
    "MAX_CHAINED_WINDOWS",
    "ApprovalRule",
    "BaseRule",
    "ConcurrencyRule",
    "FlowRule",
    "FreezeRule",
    "FreezeWindow",
    "Rule",
    "RuleKind",
    "RuleMode",
    "parse_mode",
    "parse_rule_kind",
]

DEFAULT_LEASE_SECONDS = 3600
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


def parse_mode(value: object, *, field: str = "mode") -> RuleMode:
    """``enabled``, ``report_only`` (or ``report-only``) or ``disabled``, any case."""
    return parse_choice(RuleMode, value, field=field, what="a rule mode")


def parse_rule_kind(value: object, *, field: str = "kind") -> RuleKind:
    """``concurrency``, ``freeze``, ``flow`` or ``approval``, any case."""
    return parse_choice(RuleKind, value, field=field, what="a rule kind")


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
        check_seconds(self.lease_seconds, "lease_seconds", minimum=1)


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
        _set(self, "timezone", time_zone(self.timezone, "timezone").key)
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
            start = aware_instant(
                self.start, "start", "a one-off freeze window needs both start and end"
            )
            end = aware_instant(self.end, "end", "a one-off freeze window needs both start and end")
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
            check_seconds(self.duration_seconds, "duration_seconds", minimum=1)

    @property
    def recurring(self) -> bool:
        return self.cron is not None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def active_window(self, now: datetime) -> FreezeWindow | None:
        """The freeze window that contains ``now``, merged with any it runs into."""
        now = aware_instant(now, "now")
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
        after = aware_instant(after, "after")
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
        check_seconds(self.soak_seconds, "soak_seconds", minimum=0)


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
        pattern = required_text(item, field=where, max_length=_MAX_NAME)
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
