"""Gate rules and their evaluation, with literal times for the injected clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from shipmate.domain.cron import CronExpr
from shipmate.domain.gates.config import rule_from_dict, rule_to_dict, rules_from_list
from shipmate.domain.gates.evaluate import (
    GateCode,
    GateFacts,
    RuleResult,
    blocking,
    evaluate,
    report_only_entries,
    to_gate_error,
    to_versioner_detail,
)
from shipmate.domain.gates.rules import (
    MAX_CHAINED_WINDOWS,
    ApprovalRule,
    BaseRule,
    ConcurrencyRule,
    FlowRule,
    FreezeRule,
    FreezeWindow,
    RuleKind,
    RuleMode,
)
from shipmate.errors import GateBlockedError, InvalidInputError

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def facts(
    *,
    now: datetime = NOW,
    product: str = "api",
    version: str = "1.4.0",
    environment: str = "production",
    deployer: str | None = "alice",
    open_started: Sequence[tuple[str | int, datetime]] = (),
    completions: Mapping[str, datetime | None] | None = None,
    approvals: Sequence[tuple[str, datetime]] = (),
) -> GateFacts:
    return GateFacts(
        product=product,
        version=version,
        environment=environment,
        deployer=deployer,
        now=now,
        open_started=open_started,
        completions=completions or {},
        approvals=approvals,
    )


def only(rule: BaseRule, gate_facts: GateFacts) -> RuleResult:
    results = evaluate([rule], gate_facts)
    assert len(results) == 1
    return results[0]


def weekly_freeze(cron: str, hours: int, zone: str) -> FreezeRule:
    return FreezeRule(
        name="weekend",
        cron=CronExpr.parse(cron),
        duration_seconds=hours * 3600,
        timezone=zone,
        reason="weekend",
    )


# ------------------------------------------------------------------ modes


FAILING_RULES: list[tuple[BaseRule, GateFacts, GateCode, int]] = [
    (
        ConcurrencyRule(name="one"),
        facts(open_started=[(7, NOW - timedelta(minutes=5))]),
        GateCode.DEPLOYMENT_IN_PROGRESS,
        409,
    ),
    (
        FreezeRule(name="freeze", start=NOW - timedelta(hours=1), end=NOW + timedelta(hours=1)),
        facts(),
        GateCode.NO_DEPLOY_WINDOW,
        423,
    ),
    (
        FlowRule(name="flow", required_environments=("staging",)),
        facts(),
        GateCode.FLOW_VIOLATION,
        428,
    ),
    (
        FlowRule(name="soak", required_environments=("staging",), soak_seconds=3600),
        facts(completions={"staging": NOW - timedelta(minutes=10)}),
        GateCode.INSUFFICIENT_SOAK_TIME,
        428,
    ),
    (ApprovalRule(name="approve", required=1), facts(), GateCode.APPROVAL_REQUIRED, 428),
]


@pytest.mark.parametrize(("rule", "gate_facts", "code", "status"), FAILING_RULES)
def test_enabled_rule_failing_blocks(
    rule: BaseRule, gate_facts: GateFacts, code: GateCode, status: int
) -> None:
    result = only(rule, gate_facts)
    assert result.passed is False
    assert result.mode is RuleMode.ENABLED
    assert result.code is code
    assert result.http_status == status
    assert result.kind is rule.kind
    assert result.rule_name == rule.name
    assert f"gate {rule.name!r}" in result.message
    assert blocking([result]) is result
    assert report_only_entries([result]) == []


@pytest.mark.parametrize(("rule", "gate_facts", "code", "status"), FAILING_RULES)
def test_report_only_rule_failing_refuses_nothing(
    rule: BaseRule, gate_facts: GateFacts, code: GateCode, status: int
) -> None:
    report_only = rule_from_dict({**rule_to_dict(rule), "mode": "report_only"})
    result = only(report_only, gate_facts)
    assert result.passed is False
    assert result.mode is RuleMode.REPORT_ONLY
    assert result.code is code
    assert result.http_status == status
    assert blocking([result]) is None
    assert report_only_entries([result]) == [
        {
            "rule_name": rule.name,
            "status": "report_only",
            "evaluation_result": "failed",
            "error_message": result.message,
        }
    ]


@pytest.mark.parametrize(("rule", "gate_facts", "code", "status"), FAILING_RULES)
def test_disabled_rule_is_skipped(
    rule: BaseRule, gate_facts: GateFacts, code: GateCode, status: int
) -> None:
    disabled = rule_from_dict({**rule_to_dict(rule), "mode": "disabled"})
    assert disabled.mode is RuleMode.DISABLED
    assert evaluate([disabled], gate_facts) == []


def test_report_only_passing_entry() -> None:
    rule = ConcurrencyRule(name="one", mode=RuleMode.REPORT_ONLY)
    result = only(rule, facts())
    assert result.passed and result.code is None and result.http_status is None
    assert report_only_entries([result]) == [
        {
            "rule_name": "one",
            "status": "report_only",
            "evaluation_result": "passed",
            "error_message": None,
        }
    ]


def test_mode_spellings() -> None:
    base = {"name": "x", "kind": "concurrency"}
    assert rule_from_dict({**base, "mode": "Report-Only"}).mode is RuleMode.REPORT_ONLY
    assert rule_from_dict(base).mode is RuleMode.ENABLED
    with pytest.raises(InvalidInputError) as caught:
        rule_from_dict({**base, "mode": "on"})
    assert caught.value.field == "mode"
    assert "enabled, report_only, disabled" in caught.value.message


# ------------------------------------------------------------------ scope


@pytest.mark.parametrize(
    ("products", "environments", "product", "environment", "applies"),
    [
        ((), (), "api", "production", True),
        (("api",), (), "api", "dev", True),
        (("api",), (), "web", "dev", False),
        ((), ("prod-*",), "api", "prod-eu", True),
        ((), ("prod-*",), "api", "production", False),
        ((), ("prod-*", "production"), "api", "production", True),
        (("api-?",), ("staging",), "api-2", "staging", True),
        (("api-?",), ("staging",), "api-22", "staging", False),
        (("api",), ("staging",), "api", "production", False),
        ((), ("Production",), "api", "production", False),  # case-sensitive
    ],
)
def test_scope(
    products: tuple[str, ...],
    environments: tuple[str, ...],
    product: str,
    environment: str,
    applies: bool,
) -> None:
    rule = ApprovalRule(name="r", products=products, environments=environments, required=1)
    assert rule.applies_to(product, environment) is applies
    results = evaluate([rule], facts(product=product, environment=environment))
    assert len(results) == (1 if applies else 0)


# ------------------------------------------------------------- concurrency


def test_concurrency_passes_without_other_deployments() -> None:
    result = only(ConcurrencyRule(name="one"), facts())
    assert result.passed
    assert result.retry_after is None


def test_concurrency_retry_after_is_lease_expiry() -> None:
    started = utc(2026, 6, 10, 11, 30)
    result = only(ConcurrencyRule(name="one"), facts(open_started=[(41, started)]))
    assert result.code is GateCode.DEPLOYMENT_IN_PROGRESS
    assert result.retry_after == utc(2026, 6, 10, 12, 30)  # default lease: 1 hour
    assert result.details == {
        "deployment_id": "41",
        "blocking_deployments": [
            {
                "deployment_id": "41",
                "started_at": "2026-06-10T11:30:00.000Z",
                "lease_expires_at": "2026-06-10T12:30:00.000Z",
            }
        ],
        "lease_seconds": 3600,
    }
    assert "deployment 41 of api to production" in result.message
    assert "2026-06-10T12:30:00.000Z" in result.message


def test_concurrency_lease_expiry_boundary() -> None:
    rule = ConcurrencyRule(name="one", lease_seconds=600)
    started = utc(2026, 6, 10, 11, 50)
    at_expiry = only(rule, facts(open_started=[("d1", started)]))
    assert at_expiry.passed  # started + lease == now: the lease has expired
    assert "older than the 10m lease" in at_expiry.message
    just_before = only(
        rule, facts(now=NOW - timedelta(microseconds=1), open_started=[("d1", started)])
    )
    assert not just_before.passed
    assert just_before.retry_after == NOW


def test_concurrency_several_blockers_retry_at_the_last_lease() -> None:
    rule = ConcurrencyRule(name="one")
    result = only(
        rule,
        facts(
            open_started=[
                ("b", utc(2026, 6, 10, 11, 40)),
                ("a", utc(2026, 6, 10, 11, 10)),
                ("stale", utc(2026, 6, 10, 10, 0)),
            ]
        ),
    )
    assert result.retry_after == utc(2026, 6, 10, 12, 40)
    assert [d["deployment_id"] for d in result.details["blocking_deployments"]] == ["a", "b"]
    assert "deployments a, b of api to production are still in progress" in result.message


def test_concurrency_naive_started_at_is_utc() -> None:
    result = only(
        ConcurrencyRule(name="one"), facts(open_started=[(1, datetime(2026, 6, 10, 11, 30))])
    )
    assert result.retry_after == utc(2026, 6, 10, 12, 30)


# ------------------------------------------------------------- freeze: one-off


def test_one_off_window_is_half_open() -> None:
    start, end = utc(2026, 12, 24), utc(2026, 12, 27)
    rule = FreezeRule(name="xmas", start=start, end=end, reason="holidays")
    assert only(rule, facts(now=start - timedelta(microseconds=1))).passed
    at_start = only(rule, facts(now=start))
    assert at_start.code is GateCode.NO_DEPLOY_WINDOW
    assert at_start.retry_after == end
    assert not only(rule, facts(now=end - timedelta(microseconds=1))).passed
    assert only(rule, facts(now=end)).passed


def test_one_off_window_details() -> None:
    rule = FreezeRule(
        name="xmas", start=utc(2026, 12, 24), end=utc(2026, 12, 27), reason="holidays"
    )
    result = only(rule, facts(now=utc(2026, 12, 25)))
    assert result.details == {
        "window_name": "xmas",
        "window_start": "2026-12-24T00:00:00.000Z",
        "window_end": "2026-12-27T00:00:00.000Z",
        "timezone": "UTC",
        "reason": "holidays",
    }
    assert "holidays" in result.message
    assert "Retry after 2026-12-27T00:00:00.000Z" in result.message


def test_one_off_wall_times_in_the_rule_time_zone() -> None:
    rule = rule_from_dict(
        {
            "name": "xmas",
            "kind": "freeze",
            "start": "2026-12-24T18:00",
            "end": datetime(2026, 12, 27, 8, 0),  # a TOML local date-time
            "timezone": "Europe/Berlin",
        }
    )
    assert isinstance(rule, FreezeRule)
    assert rule.start == utc(2026, 12, 24, 17)
    assert rule.end == utc(2026, 12, 27, 7)
    dated = rule_from_dict(
        {
            "name": "d",
            "kind": "freeze",
            "start": date(2026, 7, 1),
            "end": "2026-07-02",
            "timezone": "America/New_York",
        }
    )
    assert isinstance(dated, FreezeRule)
    assert (dated.start, dated.end) == (utc(2026, 7, 1, 4), utc(2026, 7, 2, 4))
    explicit = rule_from_dict(
        {
            "name": "z",
            "kind": "freeze",
            "start": "2026-07-01T00:00:00Z",
            "end": "2026-07-01T04:00:00+02:00",
            "timezone": "America/New_York",
        }
    )
    assert isinstance(explicit, FreezeRule)
    assert (explicit.start, explicit.end) == (utc(2026, 7, 1), utc(2026, 7, 1, 2))


# ----------------------------------------------------------- freeze: recurring


def test_recurring_window_across_midnight() -> None:
    rule = weekly_freeze("0 22 * * fri", 10, "UTC")  # Fri 22:00 → Sat 08:00
    friday = utc(2026, 6, 12, 22)
    assert only(rule, facts(now=friday - timedelta(seconds=1))).passed
    at_start = only(rule, facts(now=friday))
    assert at_start.retry_after == utc(2026, 6, 13, 8)
    after_midnight = only(rule, facts(now=utc(2026, 6, 13, 7, 59, 59)))
    assert after_midnight.code is GateCode.NO_DEPLOY_WINDOW
    assert after_midnight.retry_after == utc(2026, 6, 13, 8)
    assert after_midnight.details["window_start"] == "2026-06-12T22:00:00.000Z"
    assert after_midnight.details["window_end"] == "2026-06-13T08:00:00.000Z"
    assert after_midnight.details["cron"] == "0 22 * * fri"
    assert after_midnight.details["duration_seconds"] == 36000
    assert only(rule, facts(now=utc(2026, 6, 13, 8))).passed
    assert only(rule, facts(now=utc(2026, 6, 17, 3))).passed  # Wednesday


@pytest.mark.parametrize(
    ("zone", "cron", "inside", "end", "elapsed_hours"),
    [
        # Europe/Berlin, 2026-03-29: 02:00 CET → 03:00 CEST.  Sat 22:00 CET = 21:00Z;
        # Sun 08:00 CEST = 06:00Z: nine hours elapse.
        ("Europe/Berlin", "0 22 * * sat", utc(2026, 3, 29, 5, 59), utc(2026, 3, 29, 6), 9),
        # Europe/Berlin, 2026-10-25: 03:00 CEST → 02:00 CET.  Sat 22:00 CEST = 20:00Z;
        # Sun 08:00 CET = 07:00Z: eleven hours elapse.
        ("Europe/Berlin", "0 22 * * sat", utc(2026, 10, 25, 6, 30), utc(2026, 10, 25, 7), 11),
        # America/New_York, 2026-03-08: 02:00 EST → 03:00 EDT.  Sat 22:00 EST = 03:00Z;
        # Sun 08:00 EDT = 12:00Z.
        ("America/New_York", "0 22 * * sat", utc(2026, 3, 8, 11, 59), utc(2026, 3, 8, 12), 9),
        # America/New_York, 2026-11-01: 02:00 EDT → 01:00 EST.  Sat 22:00 EDT = 02:00Z;
        # Sun 08:00 EST = 13:00Z.
        ("America/New_York", "0 22 * * sat", utc(2026, 11, 1, 12, 0), utc(2026, 11, 1, 13), 11),
    ],
)
def test_recurring_window_across_dst_ends_on_the_local_wall_clock(
    zone: str, cron: str, inside: datetime, end: datetime, elapsed_hours: int
) -> None:
    rule = weekly_freeze(cron, 10, zone)
    result = only(rule, facts(now=inside))
    assert result.code is GateCode.NO_DEPLOY_WINDOW
    assert result.retry_after == end
    start = datetime.fromisoformat(result.details["window_start"].replace("Z", "+00:00"))
    assert end - start == timedelta(hours=elapsed_hours)
    assert only(rule, facts(now=end)).passed
    assert not only(rule, facts(now=start)).passed
    assert only(rule, facts(now=start - timedelta(seconds=1))).passed


def test_recurring_window_starting_in_the_spring_gap() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29: the window opens at 03:00 CEST
    # (01:00Z) and ends at 03:30 CEST (01:30Z), 02:30 + 1 h on the wall clock.
    rule = weekly_freeze("30 2 * * *", 1, "Europe/Berlin")
    assert only(rule, facts(now=utc(2026, 3, 29, 0, 59))).passed
    result = only(rule, facts(now=utc(2026, 3, 29, 1)))
    assert result.retry_after == utc(2026, 3, 29, 1, 30)
    assert result.details["window_start"] == "2026-03-29T01:00:00.000Z"
    assert only(rule, facts(now=utc(2026, 3, 29, 1, 30))).passed


def test_recurring_window_starting_in_the_autumn_fold() -> None:
    # 01:30 happens twice in New York on 2026-11-01; the window opens at the first
    # (01:30 EDT = 05:30Z) and runs to 02:30 EST (07:30Z).
    rule = weekly_freeze("30 1 * * *", 1, "America/New_York")
    assert only(rule, facts(now=utc(2026, 11, 1, 5, 29))).passed
    in_second_pass = only(rule, facts(now=utc(2026, 11, 1, 6, 45)))  # 01:45 EST
    assert in_second_pass.retry_after == utc(2026, 11, 1, 7, 30)
    assert in_second_pass.details["window_start"] == "2026-11-01T05:30:00.000Z"
    assert only(rule, facts(now=utc(2026, 11, 1, 7, 30))).passed


def test_touching_and_overlapping_windows_merge() -> None:
    rule = FreezeRule(name="day", cron=CronExpr.parse("0 8,12 * * *"), duration_seconds=4 * 3600)
    result = only(rule, facts(now=utc(2026, 6, 10, 9)))
    assert result.retry_after == utc(2026, 6, 10, 16)  # 08-12 and 12-16 are one freeze
    overlapping = FreezeRule(
        name="o", cron=CronExpr.parse("0 8,10 * * *"), duration_seconds=3 * 3600
    )
    assert only(overlapping, facts(now=utc(2026, 6, 10, 8))).retry_after == utc(2026, 6, 10, 13)


def test_endless_chain_is_capped() -> None:
    rule = FreezeRule(name="always", cron=CronExpr.parse("@hourly"), duration_seconds=7200)
    window = rule.active_window(NOW)
    assert window == FreezeWindow(NOW, NOW + timedelta(hours=MAX_CHAINED_WINDOWS + 2))


def test_long_yearly_window() -> None:
    rule = FreezeRule(
        name="new-year",
        cron=CronExpr.parse("0 0 20 dec *"),
        duration_seconds=21 * 86400,
        timezone="Europe/Berlin",
    )
    result = only(rule, facts(now=utc(2027, 1, 5)))
    assert result.retry_after == utc(2027, 1, 9, 23)  # 2027-01-10 00:00 CET
    assert only(rule, facts(now=utc(2027, 1, 9, 23))).passed


def test_next_window() -> None:
    rule = weekly_freeze("0 22 * * fri", 10, "Europe/Berlin")
    assert rule.next_window(utc(2026, 6, 10)) == FreezeWindow(
        utc(2026, 6, 12, 20), utc(2026, 6, 13, 6)
    )
    one_off = FreezeRule(name="o", start=utc(2026, 7, 1), end=utc(2026, 7, 2))
    assert one_off.next_window(utc(2026, 6, 1)) == FreezeWindow(utc(2026, 7, 1), utc(2026, 7, 2))
    assert one_off.next_window(utc(2026, 7, 1)) is None


# -------------------------------------------------------------------- flow


def test_flow_violation_when_never_completed() -> None:
    rule = FlowRule(name="staging-first", required_environments=("staging", "qa"))
    result = only(rule, facts(completions={"qa": utc(2026, 6, 1), "staging": None}))
    assert result.code is GateCode.FLOW_VIOLATION
    assert result.retry_after is None
    assert result.details == {
        "required_environments": ["staging", "qa"],
        "missing_environments": ["staging"],
    }
    assert "api 1.4.0 has not completed in staging" in result.message


def test_flow_passes_once_completed() -> None:
    rule = FlowRule(name="staging-first", required_environments=("staging",))
    assert only(rule, facts(completions={"staging": utc(2026, 6, 10, 11, 59)})).passed


def test_flow_never_requires_the_target_environment_of_itself() -> None:
    rule = FlowRule(name="staging-first", required_environments=("staging",))
    assert only(rule, facts(environment="staging")).passed


def test_soak_boundary() -> None:
    rule = FlowRule(name="soak", required_environments=("staging",), soak_seconds=86400)
    completed = utc(2026, 6, 9, 12)
    exactly = only(
        rule, facts(now=completed + timedelta(days=1), completions={"staging": completed})
    )
    assert exactly.passed
    early = only(
        rule,
        facts(now=completed + timedelta(days=1, seconds=-1), completions={"staging": completed}),
    )
    assert early.code is GateCode.INSUFFICIENT_SOAK_TIME
    assert early.http_status == 428
    assert early.retry_after == utc(2026, 6, 10, 12)
    assert early.details == {
        "environment": "staging",
        "completed_at": "2026-06-09T12:00:00.000Z",
        "soak_seconds": 86400,
        "soak_until": "2026-06-10T12:00:00.000Z",
        "required_environments": ["staging"],
    }
    assert "1d" in early.message and "2026-06-10T12:00:00.000Z" in early.message


def test_soak_waits_for_the_latest_environment() -> None:
    rule = FlowRule(name="soak", required_environments=("staging", "qa"), soak_seconds=3600)
    result = only(
        rule,
        facts(completions={"staging": utc(2026, 6, 10, 11, 30), "qa": utc(2026, 6, 10, 11, 45)}),
    )
    assert result.retry_after == utc(2026, 6, 10, 12, 45)
    assert result.details["environment"] == "qa"


def test_missing_environment_wins_over_soak() -> None:
    rule = FlowRule(name="soak", required_environments=("staging", "qa"), soak_seconds=3600)
    result = only(rule, facts(completions={"staging": utc(2026, 6, 10, 11, 30)}))
    assert result.code is GateCode.FLOW_VIOLATION


# ---------------------------------------------------------------- approvals


def test_self_approval_does_not_count() -> None:
    rule = ApprovalRule(name="two", required=2)
    result = only(
        rule,
        facts(
            deployer="alice",
            approvals=[("alice", NOW), ("bob", NOW), (" Bob ", NOW), ("ALICE", NOW)],
        ),
    )
    assert result.code is GateCode.APPROVAL_REQUIRED
    assert result.retry_after is None
    assert result.details == {
        "required": 2,
        "approvals": 1,
        "approved_by": ["bob"],
        "self_approval_ignored": True,
    }
    assert "1 of 2" in result.message and "own approval does not count" in result.message


def test_distinct_approvers_pass() -> None:
    rule = ApprovalRule(name="two", required=2)
    result = only(rule, facts(approvals=[("bob", NOW), ("carol", NOW), ("alice", NOW)]))
    assert result.passed


def test_self_approval_allowed_when_configured() -> None:
    rule = ApprovalRule(name="one", required=1, allow_self_approval=True)
    assert only(rule, facts(deployer="alice", approvals=[("alice", NOW)])).passed


def test_approval_without_known_deployer_counts_everyone() -> None:
    rule = ApprovalRule(name="one", required=1)
    assert only(rule, facts(deployer=None, approvals=[("alice", NOW)])).passed


# ------------------------------------------------------- blocking and shapes


def test_blocking_order_is_by_kind_not_by_list_order() -> None:
    rules: list[BaseRule] = [
        ApprovalRule(name="approve"),
        FlowRule(name="flow", required_environments=("staging",)),
        FreezeRule(name="freeze", start=NOW, end=NOW + timedelta(hours=1)),
        ConcurrencyRule(name="one"),
    ]
    gate_facts = facts(open_started=[(1, NOW)])
    results = evaluate(rules, gate_facts)
    assert [r.rule_name for r in results] == ["approve", "flow", "freeze", "one"]
    assert blocking(results) is results[3]
    assert blocking(results[:3]) is results[2]
    assert blocking(results[:2]) is results[1]
    assert blocking(results[:1]) is results[0]


def test_blocking_within_a_kind_prefers_the_latest_retry() -> None:
    early = FreezeRule(name="early", start=NOW, end=NOW + timedelta(hours=1))
    late = FreezeRule(name="late", start=NOW, end=NOW + timedelta(hours=5))
    results = evaluate([early, late], facts())
    picked = blocking(results)
    assert picked is not None and picked.rule_name == "late"
    flows = evaluate(
        [
            FlowRule(name="soak", required_environments=("qa",), soak_seconds=3600),
            FlowRule(name="missing", required_environments=("staging",)),
        ],
        facts(completions={"qa": NOW}),
    )
    picked = blocking(flows)
    assert picked is not None and picked.rule_name == "missing"  # unknown retry first


def test_blocking_ignores_passed_and_report_only() -> None:
    results = evaluate(
        [
            ConcurrencyRule(name="one", mode=RuleMode.REPORT_ONLY),
            ApprovalRule(name="approve", required=1),
        ],
        facts(open_started=[(1, NOW)], approvals=[("bob", NOW)]),
    )
    assert [r.passed for r in results] == [False, True]
    assert blocking(results) is None


def test_versioner_detail_shape_with_retry_after() -> None:
    rule = FreezeRule(
        name="Friday freeze",
        start=utc(2026, 6, 12, 15),
        end=utc(2026, 6, 15, 6, 30),
        reason="no deploys on weekends",
    )
    result = only(rule, facts(now=utc(2026, 6, 13)))
    detail = to_versioner_detail(result)
    assert list(detail) == ["error", "code", "message", "retry_after", "details"]
    assert detail["error"] == "deployment_blocked"
    assert detail["code"] == "NO_DEPLOY_WINDOW"
    assert detail["message"] == result.message
    assert detail["retry_after"] == "2026-06-15T06:30:00.000Z"
    assert detail["details"] == {
        "rule_name": "Friday freeze",
        "window_name": "Friday freeze",
        "window_start": "2026-06-12T15:00:00.000Z",
        "window_end": "2026-06-15T06:30:00.000Z",
        "timezone": "UTC",
        "reason": "no deploys on weekends",
    }
    assert next(iter(detail["details"])) == "rule_name"


def test_versioner_detail_without_retry_after_leaves_it_out() -> None:
    result = only(ApprovalRule(name="approve", required=2), facts())
    detail = to_versioner_detail(result)
    assert detail == {
        "error": "deployment_blocked",
        "code": "APPROVAL_REQUIRED",
        "message": result.message,
        "details": {
            "rule_name": "approve",
            "required": 2,
            "approvals": 0,
            "approved_by": [],
            "self_approval_ignored": False,
        },
    }


def test_versioner_detail_refuses_a_passed_result() -> None:
    result = only(ConcurrencyRule(name="one"), facts())
    with pytest.raises(InvalidInputError):
        to_versioner_detail(result)


def test_gate_error_carries_code_rule_and_retry() -> None:
    result = only(ConcurrencyRule(name="one"), facts(open_started=[(9, NOW)]))
    error = to_gate_error(result)
    assert isinstance(error, GateBlockedError)
    assert error.message == result.message
    assert error.details["gate_code"] == "DEPLOYMENT_IN_PROGRESS"
    assert error.details["rule_name"] == "one"
    assert error.details["http_status"] == 409
    assert error.details["retry_after"] == "2026-06-10T13:00:00.000Z"


def test_facts_need_an_aware_now() -> None:
    with pytest.raises(InvalidInputError) as caught:
        facts(now=datetime(2026, 6, 10, 12))
    assert caught.value.field == "now"


# ------------------------------------------------------ TOML / JSON mapping


ROUND_TRIPS: list[dict[str, Any]] = [
    {
        "name": "one at a time",
        "kind": "concurrency",
        "mode": "enabled",
        "products": [],
        "environments": ["prod-*"],
        "lease_seconds": 1800,
    },
    {
        "name": "weekend",
        "kind": "freeze",
        "mode": "report_only",
        "products": ["api", "web-*"],
        "environments": ["production"],
        "cron": "0 22 * * fri",
        "duration_seconds": 36000,
        "timezone": "Europe/Berlin",
        "reason": "weekend",
    },
    {
        "name": "xmas",
        "kind": "freeze",
        "mode": "enabled",
        "products": [],
        "environments": [],
        "start": "2026-12-24T00:00:00.000Z",
        "end": "2026-12-27T00:00:00.000Z",
        "timezone": "UTC",
    },
    {
        "name": "staging-first",
        "kind": "flow",
        "mode": "disabled",
        "products": [],
        "environments": ["production"],
        "required_environments": ["staging"],
        "soak_seconds": 86400,
    },
    {
        "name": "two-approvals",
        "kind": "approval",
        "mode": "enabled",
        "products": [],
        "environments": ["production"],
        "required": 2,
        "allow_self_approval": False,
    },
]


@pytest.mark.parametrize("data", ROUND_TRIPS, ids=lambda d: d["kind"] + ":" + d["name"])
def test_round_trip(data: dict[str, Any]) -> None:
    rule = rule_from_dict(data)
    assert rule.kind is RuleKind(data["kind"])
    assert rule_to_dict(rule) == data
    assert rule_from_dict(rule_to_dict(rule)) == rule


def test_defaults_and_human_durations() -> None:
    lease = rule_from_dict({"name": "c", "kind": "concurrency"})
    assert isinstance(lease, ConcurrencyRule) and lease.lease_seconds == 3600
    short = rule_from_dict({"name": "c", "kind": "concurrency", "lease": "1h30m"})
    assert isinstance(short, ConcurrencyRule) and short.lease_seconds == 5400
    freeze = rule_from_dict(
        {"name": "f", "kind": "freeze", "cron": "@weekly", "duration": "2d 12h"}
    )
    assert isinstance(freeze, FreezeRule)
    assert freeze.duration_seconds == 216000 and freeze.timezone == "UTC"
    flow = rule_from_dict(
        {"name": "s", "kind": "flow", "required_environments": "staging", "soak": "1w"}
    )
    assert isinstance(flow, FlowRule)
    assert flow.required_environments == ("staging",) and flow.soak_seconds == 604800
    approval = rule_from_dict({"name": "a", "kind": "approval", "environments": "production"})
    assert isinstance(approval, ApprovalRule)
    assert approval.required == 1 and approval.allow_self_approval is False
    assert approval.environments == ("production",)


@pytest.mark.parametrize(
    ("data", "key", "fragment"),
    [
        ({"name": "x"}, "kind", "kind is missing"),
        ({"name": "x", "kind": "lock"}, "kind", "'lock' is not a rule kind"),
        ({"kind": "concurrency"}, "name", "name is missing"),
        ({"name": " ", "kind": "concurrency"}, "name", "must not be empty"),
        ({"name": "x", "kind": "concurrency", "lease_seconds": 0}, "lease_seconds", "at least 1"),
        (
            {"name": "x", "kind": "concurrency", "lease_seconds": "1h"},
            "lease_seconds",
            "whole number",
        ),
        ({"name": "x", "kind": "concurrency", "lease": "soon"}, "lease", "is not a duration"),
        (
            {"name": "x", "kind": "concurrency", "lease": "1h", "lease_seconds": 5},
            "lease",
            "not both",
        ),
        ({"name": "x", "kind": "concurrency", "lease": "400d"}, "lease", "longer than the limit"),
        ({"name": "x", "kind": "concurrency", "leese": 5}, "leese", "not a setting of concurrency"),
        ({"name": "x", "kind": "concurrency", "mode": "on"}, "mode", "not a rule mode"),
        ({"name": "x", "kind": "concurrency", "products": [1]}, "products[0]", "must be a string"),
        ({"name": "x", "kind": "concurrency", "environments": 3}, "environments", "must be a list"),
        (
            {"name": "x", "kind": "concurrency", "environments": ["a b"]},
            "environments[0]",
            "spaces",
        ),
        ({"name": "x", "kind": "freeze"}, "start", "needs start and end"),
        (
            {"name": "x", "kind": "freeze", "cron": "0 0 31 2 *", "duration": "1h"},
            "cron",
            "never fires",
        ),
        (
            {"name": "x", "kind": "freeze", "cron": "0 25 * * *", "duration": "1h"},
            "cron",
            "hour field",
        ),
        ({"name": "x", "kind": "freeze", "cron": "@daily"}, "duration_seconds", "is missing"),
        ({"name": "x", "kind": "freeze", "duration": "1h"}, "cron", "is missing"),
        (
            {"name": "x", "kind": "freeze", "cron": "@daily", "duration_seconds": -5},
            "duration_seconds",
            "at least 1",
        ),
        ({"name": "x", "kind": "freeze", "start": "2026-01-01T00:00:00Z"}, "end", "is missing"),
        (
            {"name": "x", "kind": "freeze", "start": "2026-01-02", "end": "2026-01-01"},
            "end",
            "must be after start",
        ),
        (
            {"name": "x", "kind": "freeze", "start": "soon", "end": "2026-01-01"},
            "start",
            "not a date-time",
        ),
        (
            {
                "name": "x",
                "kind": "freeze",
                "start": "2026-01-01",
                "end": "2026-01-02",
                "cron": "@daily",
            },
            "cron",
            "not both",
        ),
        (
            {
                "name": "x",
                "kind": "freeze",
                "cron": "@daily",
                "duration": "1h",
                "timezone": "Mars/Olympus",
            },
            "timezone",
            "not an IANA time zone",
        ),
        (
            {"name": "x", "kind": "freeze", "cron": "@daily", "duration": "1h", "reason": 5},
            "reason",
            "must be a string",
        ),
        ({"name": "x", "kind": "flow"}, "required_environments", "is missing"),
        (
            {"name": "x", "kind": "flow", "required_environments": []},
            "required_environments",
            "at least one",
        ),
        (
            {"name": "x", "kind": "flow", "required_environments": ["bad name"]},
            "required_environments[0]",
            "may contain only",
        ),
        (
            {"name": "x", "kind": "flow", "required_environments": ["staging"], "soak_seconds": -1},
            "soak_seconds",
            "at least 0",
        ),
        ({"name": "x", "kind": "approval", "required": 0}, "required", "between 1 and 100"),
        ({"name": "x", "kind": "approval", "required": True}, "required", "whole number"),
        (
            {"name": "x", "kind": "approval", "allow_self_approval": "yes"},
            "allow_self_approval",
            "true or false",
        ),
    ],
)
def test_bad_definitions_name_the_key(data: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        rule_from_dict(data, field="gates[2]")
    assert caught.value.field == f"gates[2].{key}"
    assert caught.value.message.startswith(f"gates[2].{key}")
    assert fragment in caught.value.message
    with pytest.raises(InvalidInputError) as bare:
        rule_from_dict(data)
    assert bare.value.field == key


def test_not_a_mapping() -> None:
    with pytest.raises(InvalidInputError) as caught:
        rule_from_dict("freeze", field="gates[0]")  # type: ignore[arg-type]
    assert caught.value.field == "gates[0]"


def test_rules_from_list_names_duplicates() -> None:
    items = [
        {"name": "one", "kind": "concurrency"},
        {"name": "f", "kind": "freeze", "cron": "@daily", "duration": "1h"},
        {"name": "ONE", "kind": "approval"},
    ]
    with pytest.raises(InvalidInputError) as caught:
        rules_from_list(items)
    assert caught.value.field == "gates[2].name"
    assert "already used by gates[0]" in caught.value.message
    rules = rules_from_list(items[:2])
    assert [r.kind for r in rules] == [RuleKind.CONCURRENCY, RuleKind.FREEZE]
    with pytest.raises(InvalidInputError) as bad:
        rules_from_list([{"name": "c", "kind": "concurrency"}, {"name": "d", "kind": "nope"}])
    assert bad.value.field == "gates[1].kind"
    with pytest.raises(InvalidInputError) as not_list:
        rules_from_list({"name": "c"})
    assert not_list.value.field == "gates"


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(InvalidInputError) as naive:
        FreezeRule(name="f", start=datetime(2026, 1, 1), end=utc(2026, 1, 2))
    assert naive.value.field == "start"
    with pytest.raises(InvalidInputError) as bad_zone:
        FreezeRule(name="f", cron=CronExpr.parse("@daily"), duration_seconds=60, timezone="Nowhere")
    assert bad_zone.value.field == "timezone"
    with pytest.raises(InvalidInputError) as no_env:
        FlowRule(name="f")
    assert no_env.value.field == "required_environments"
