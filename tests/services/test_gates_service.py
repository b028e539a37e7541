"""Gates through record_deployment, on SQLite and PostgreSQL, with an injected clock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from shipmate.config import Settings
from shipmate.demo.clock import FakeClock
from shipmate.domain.records import DeploymentRecord
from shipmate.domain.requests import RecordRequest
from shipmate.errors import (
    ConfigError,
    ConflictError,
    GateBlockedError,
    InvalidInputError,
    NotFoundError,
)
from shipmate.services.context import Context
from shipmate.services.gates.approvals import approve, list_approvals
from shipmate.services.gates.rules import (
    StoredRule,
    add_rule,
    list_rules,
    remove_rule,
    replace_rule,
    set_rule_mode,
)
from shipmate.services.gates.unlock import unlock
from shipmate.services.gates.verdicts import dry_run
from shipmate.services.queries import list_events, show_deployment
from shipmate.services.records.deployments import record_deployment
from shipmate.store.engine import make_engine
from shipmate.store.schema import deployments, events, products
from shipmate.store.schema_gates import gate_approvals, gate_rules

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)  # FakeClock's start: a Sunday


def rec(ctx: Context, status: str, **kw: Any) -> DeploymentRecord:
    kw.setdefault("product", "api")
    kw.setdefault("environment", "production")
    kw.setdefault("version", "1.0.0")
    return record_deployment(ctx, RecordRequest(status=status, **kw))


def blocked(ctx: Context, status: str, **kw: Any) -> GateBlockedError:
    with pytest.raises(GateBlockedError) as err:
        rec(ctx, status, **kw)
    return err.value


def add(ctx: Context, **definition: Any) -> StoredRule:
    return add_rule(ctx, definition, actor="admin")


def counts(ctx: Context) -> dict[str, int]:
    with ctx.read() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (deployments, events, products, gate_approvals, gate_rules)
        }


def gate_events(ctx: Context, type_: str) -> list[Any]:
    return list(reversed(list_events(ctx, type_prefix=type_)))


# ------------------------------------------------------------------ defaults


def test_no_rule_is_on_out_of_the_box(ctx: Context) -> None:
    a = rec(ctx, "started", ci_run_id="1")
    b = rec(ctx, "started", ci_run_id="2", version="1.0.1")
    assert (a.status, b.status) == ("started", "started")
    assert "preflight_status" not in b.metadata
    assert list_rules(ctx) == []


# --------------------------------------------------------------- concurrency


def test_concurrency_enabled_refuses_a_second_start_and_changes_nothing(
    ctx: Context, clock: FakeClock
) -> None:
    add(ctx, name="one-at-a-time", kind="concurrency")
    first = rec(ctx, "started", ci_run_id="1", deployed_by="alice")
    clock.advance(minutes=5)
    before = counts(ctx)
    err = blocked(ctx, "started", ci_run_id="2", version="1.0.1", deployed_by="bob")
    assert err.exit_code == 3
    d = err.details
    assert d["gate_code"] == "DEPLOYMENT_IN_PROGRESS"
    assert d["http_status"] == 409
    assert d["rule_name"] == "one-at-a-time"
    assert d["rule_kind"] == "concurrency"
    assert d["retry_after"] == "2026-11-22T11:00:00.000Z"  # first started at 10:00, 1 h lease
    assert d["product"] == "api" and d["environment"] == "production"
    assert d["version"] == "1.0.1" and d["deployer"] == "bob"
    v = d["versioner_detail"]
    assert v["error"] == "deployment_blocked"
    assert v["code"] == "DEPLOYMENT_IN_PROGRESS"
    assert v["retry_after"] == "2026-11-22T11:00:00.000Z"
    assert v["details"]["rule_name"] == "one-at-a-time"
    assert v["details"]["deployment_id"] == str(first.id)
    assert v["details"]["blocking_deployments"] == [
        {
            "deployment_id": str(first.id),
            "started_at": "2026-11-22T10:00:00.000Z",
            "lease_expires_at": "2026-11-22T11:00:00.000Z",
        }
    ]
    # The refused write changed nothing but left one gate.blocked event.
    after = counts(ctx)
    assert after == {**before, "events": before["events"] + 1}
    [event] = gate_events(ctx, "gate.blocked")
    assert event.actor == "bob"
    assert event.product == "api" and event.environment == "production"
    assert event.deployment_id is None
    assert event.at == T0 + timedelta(minutes=5)
    assert event.data["code"] == "DEPLOYMENT_IN_PROGRESS"
    assert event.data["rule_name"] == "one-at-a-time"
    assert event.data["version"] == "1.0.1"
    assert event.data["requested_status"] == "started"
    assert event.data["retry_after"] == "2026-11-22T11:00:00.000Z"
    assert event.data["message"] == err.message


def test_concurrency_lease_expiry_and_finishing(ctx: Context, clock: FakeClock) -> None:
    add(ctx, name="one", kind="concurrency", lease="30m")
    rec(ctx, "started", ci_run_id="1")
    clock.advance(seconds=30 * 60 - 1)
    err = blocked(ctx, "started", ci_run_id="2")
    assert err.details["retry_after"] == "2026-11-22T10:30:00.000Z"
    clock.advance(seconds=1)  # exactly at the lease's end: no longer blocks
    second = rec(ctx, "started", ci_run_id="2")
    assert second.status == "started"
    # A finished deployment never blocks.
    rec(ctx, "completed", ci_run_id="2")
    other = rec(ctx, "started", ci_run_id="3", version="1.0.2")
    # ... but the one of run 1, whose lease expired, still does not block either.
    assert other.status == "started"


def test_concurrency_scope_repeats_and_pending(ctx: Context) -> None:
    add(ctx, name="one", kind="concurrency", products=["api*"], environments=["prod*"])
    first = rec(ctx, "started", ci_run_id="1")
    # The same start sent again is the same deployment, not a second one.
    assert rec(ctx, "started", ci_run_id="1").id == first.id
    # Other products, other environments and out-of-scope ones are not blocked.
    assert rec(ctx, "started", product="web", ci_run_id="2").status == "started"
    assert rec(ctx, "started", environment="staging", ci_run_id="3").status == "started"
    assert rec(ctx, "started", product="api-eu", environment="prod-eu").status == "started"
    # A new pending deployment is evaluated too.
    err = blocked(ctx, "pending", ci_run_id="4", version="2.0.0")
    assert err.details["requested_status"] == "pending"


def test_pending_then_started_is_evaluated_on_entering_started(ctx: Context) -> None:
    queued = rec(ctx, "pending", ci_run_id="1")
    rec(ctx, "started", ci_run_id="2", version="0.9.0")
    add(ctx, name="one", kind="concurrency")
    before = counts(ctx)
    err = blocked(ctx, "started", ci_run_id="1")
    assert err.details["refused_deployment_id"] == str(queued.id)
    assert show_deployment(ctx, queued.id).status == "pending"
    assert counts(ctx)["events"] == before["events"] + 1
    [event] = gate_events(ctx, "gate.blocked")
    assert event.deployment_id == queued.id
    # Advanced by id: the same check.
    with pytest.raises(GateBlockedError):
        record_deployment(
            ctx, RecordRequest(environment="production", status="started", deployment_id=queued.id)
        )
    assert show_deployment(ctx, queued.id).status == "pending"


@pytest.mark.parametrize("mode", ["report_only", "disabled"])
def test_concurrency_report_only_and_disabled_refuse_nothing(ctx: Context, mode: str) -> None:
    add(ctx, name="one", kind="concurrency", mode=mode)
    rec(ctx, "started", ci_run_id="1")
    second = rec(ctx, "started", ci_run_id="2")
    assert second.status == "started"
    if mode == "disabled":
        assert "preflight_status" not in second.metadata
        return
    [entry] = second.metadata["preflight_status"]["rules_evaluated"]
    assert entry["rule_name"] == "one"
    assert entry["status"] == "report_only"
    assert entry["evaluation_result"] == "failed"
    assert "still in progress" in entry["error_message"]
    assert gate_events(ctx, "gate.blocked") == []


# ------------------------------------------------------------------- freeze


def test_one_off_freeze_refuses_inside_and_passes_at_the_end(
    ctx: Context, clock: FakeClock
) -> None:
    add(
        ctx,
        name="xmas",
        kind="freeze",
        start="2026-12-24T00:00",
        end="2026-12-27T00:00",
        timezone="Europe/Berlin",
        reason="holidays",
        environments=["production"],
    )
    clock.set(datetime(2026, 12, 23, 22, 59, 59, tzinfo=UTC))  # 23:59:59 in Berlin
    assert rec(ctx, "started", ci_run_id="1").status == "started"
    clock.set(datetime(2026, 12, 23, 23, 0, tzinfo=UTC))
    err = blocked(ctx, "started", ci_run_id="2", version="1.0.1")
    assert err.details["http_status"] == 423
    v = err.details["versioner_detail"]
    assert v["code"] == "NO_DEPLOY_WINDOW"
    assert v["retry_after"] == "2026-12-26T23:00:00.000Z"
    assert v["details"] == {
        "rule_name": "xmas",
        "window_name": "xmas",
        "window_start": "2026-12-23T23:00:00.000Z",
        "window_end": "2026-12-26T23:00:00.000Z",
        "timezone": "Europe/Berlin",
        "reason": "holidays",
    }
    assert rec(ctx, "started", environment="staging", ci_run_id="3").status == "started"
    clock.set(datetime(2026, 12, 26, 23, 0, tzinfo=UTC))
    assert rec(ctx, "started", ci_run_id="2", version="1.0.1").status == "started"


def test_recurring_freeze_across_midnight_and_dst_in_berlin(ctx: Context, clock: FakeClock) -> None:
    # Saturday 22:00 for 10 wall-clock hours; on 2026-10-25 the clocks go back at 03:00,
    # so that window ends Sunday 08:00 CET = 07:00 UTC (11 elapsed hours).
    add(
        ctx,
        name="weekend",
        kind="freeze",
        cron="0 22 * * sat",
        duration="10h",
        timezone="Europe/Berlin",
    )
    clock.set(datetime(2026, 10, 24, 19, 59, tzinfo=UTC))  # 21:59 CEST
    assert rec(ctx, "completed", ci_run_id="0").status == "completed"  # not evaluated
    assert rec(ctx, "started", ci_run_id="1").status == "started"
    rec(ctx, "completed", ci_run_id="1")
    clock.set(datetime(2026, 10, 24, 22, 30, tzinfo=UTC))  # 00:30 CEST, past midnight
    err = blocked(ctx, "started", ci_run_id="2")
    assert err.details["retry_after"] == "2026-10-25T07:00:00.000Z"
    assert err.details["rule_details"]["window_start"] == "2026-10-24T20:00:00.000Z"
    clock.set(datetime(2026, 10, 25, 6, 59, 59, tzinfo=UTC))
    blocked(ctx, "started", ci_run_id="2")
    clock.set(datetime(2026, 10, 25, 7, 0, tzinfo=UTC))
    assert rec(ctx, "started", ci_run_id="2").status == "started"


def test_recurring_freeze_across_spring_forward_in_new_york(ctx: Context, clock: FakeClock) -> None:
    # Saturday 20:00 EST for 14 wall-clock hours: the clocks jump at 02:00 on
    # 2026-03-08, so it ends Sunday 10:00 EDT = 14:00 UTC (13 elapsed hours).
    add(
        ctx,
        name="nightly",
        kind="freeze",
        cron="0 20 * * sat",
        duration_seconds=14 * 3600,
        timezone="America/New_York",
    )
    clock.set(datetime(2026, 3, 8, 1, 0, tzinfo=UTC))  # Sat 20:00 EST
    err = blocked(ctx, "started")
    assert err.details["retry_after"] == "2026-03-08T14:00:00.000Z"
    clock.set(datetime(2026, 3, 8, 13, 59, 59, tzinfo=UTC))
    blocked(ctx, "started")
    clock.set(datetime(2026, 3, 8, 14, 0, tzinfo=UTC))
    assert rec(ctx, "started").status == "started"


def test_freeze_report_only(ctx: Context, clock: FakeClock) -> None:
    add(
        ctx,
        name="all-day",
        kind="freeze",
        start="2026-11-22T00:00:00.000Z",
        end="2026-11-23T00:00:00.000Z",
        mode="report-only",
    )
    dep = rec(ctx, "started")
    assert dep.metadata["preflight_status"]["rules_evaluated"] == [
        {
            "rule_name": "all-day",
            "status": "report_only",
            "evaluation_result": "failed",
            "error_message": dep.metadata["preflight_status"]["rules_evaluated"][0][
                "error_message"
            ],
        }
    ]
    assert "frozen" in dep.metadata["preflight_status"]["rules_evaluated"][0]["error_message"]


def test_refused_first_deployment_of_a_new_product_creates_no_rows(ctx: Context) -> None:
    add(
        ctx,
        name="all",
        kind="freeze",
        start="2026-11-22T00:00:00.000Z",
        end="2026-11-23T00:00:00.000Z",
    )
    before = counts(ctx)
    err = blocked(ctx, "started", product="brand-new")
    assert err.details["gate_code"] == "NO_DEPLOY_WINDOW"
    after = counts(ctx)
    assert after["products"] == before["products"] == 0
    assert after["deployments"] == 0
    [event] = gate_events(ctx, "gate.blocked")
    assert event.product is None  # no product row was kept ...
    assert event.data["product"] == "brand-new"  # ... but the event names it


# --------------------------------------------------------------------- flow


def test_flow_requires_prior_environment_and_soak(ctx: Context, clock: FakeClock) -> None:
    add(
        ctx,
        name="staging-first",
        kind="flow",
        required_environments=["staging"],
        soak="2h",
        environments=["production"],
    )
    err = blocked(ctx, "started")
    assert err.details["http_status"] == 428
    v = err.details["versioner_detail"]
    assert v["code"] == "FLOW_VIOLATION"
    assert "retry_after" not in v
    assert v["details"] == {
        "rule_name": "staging-first",
        "required_environments": ["staging"],
        "missing_environments": ["staging"],
    }
    # A failed staging deployment does not count.
    rec(ctx, "failed", environment="staging")
    assert blocked(ctx, "started").details["gate_code"] == "FLOW_VIOLATION"
    # Staging itself is not guarded by this rule.
    rec(ctx, "started", environment="staging", ci_run_id="s")
    clock.advance(minutes=10)
    rec(ctx, "completed", environment="staging", ci_run_id="s")  # completed at 10:10
    clock.advance(hours=2, seconds=-1)
    err = blocked(ctx, "started")
    v = err.details["versioner_detail"]
    assert v["code"] == "INSUFFICIENT_SOAK_TIME"
    assert v["retry_after"] == "2026-11-22T12:10:00.000Z"
    assert v["details"] == {
        "rule_name": "staging-first",
        "environment": "staging",
        "completed_at": "2026-11-22T10:10:00.000Z",
        "soak_seconds": 7200,
        "soak_until": "2026-11-22T12:10:00.000Z",
        "required_environments": ["staging"],
    }
    clock.advance(seconds=1)  # exactly the soak time: passes
    assert rec(ctx, "started").status == "started"
    # Another version has not been through staging.
    rec(ctx, "completed")
    assert blocked(ctx, "started", version="1.1.0").details["gate_code"] == "FLOW_VIOLATION"


def test_flow_report_only_passes_and_reports_passed(ctx: Context) -> None:
    add(ctx, name="flow", kind="flow", required_environments=["staging"], mode="report_only")
    rec(ctx, "completed", environment="staging")
    dep = rec(ctx, "started")
    assert dep.metadata["preflight_status"]["rules_evaluated"] == [
        {
            "rule_name": "flow",
            "status": "report_only",
            "evaluation_result": "passed",
            "error_message": None,
        }
    ]


# ----------------------------------------------------------------- approvals


def test_approvals_by_distinct_people_and_self_approval_refused(ctx: Context) -> None:
    add(ctx, name="two-approvals", kind="approval", required=2, environments=["production"])
    rec(ctx, "completed", environment="staging")  # the version exists
    first = approve(ctx, "api", "1.0.0", "production", approver="alice")
    assert (first.approver, first.created) == ("alice", True)
    again = approve(ctx, "api", "1.0.0+build.3", "production", approver=" ALICE ")
    assert (again.id, again.created) == (first.id, False)
    approve(ctx, "api", "1.0.0", "production", approver="bob")
    # alice deploys: her own approval does not count.
    err = blocked(ctx, "started", deployed_by="Alice")
    v = err.details["versioner_detail"]
    assert err.details["http_status"] == 428
    assert v["code"] == "APPROVAL_REQUIRED"
    assert v["details"] == {
        "rule_name": "two-approvals",
        "required": 2,
        "approvals": 1,
        "approved_by": ["bob"],
        "self_approval_ignored": True,
    }
    # carol deploys: alice and bob count.
    assert rec(ctx, "started", deployed_by="carol").status == "started"
    # Approvals are per environment.
    assert [a.approver for a in list_approvals(ctx, "api", "1.0.0", "production")] == [
        "alice",
        "bob",
    ]
    assert list_approvals(ctx, "api", "1.0.0", "staging") == []
    [event, _] = gate_events(ctx, "gate.approved")
    assert (event.actor, event.data["version"]) == ("alice", "1.0.0")


def test_allow_self_approval_and_report_only(ctx: Context) -> None:
    add(ctx, name="own", kind="approval", allow_self_approval=True)
    add(ctx, name="two", kind="approval", required=2, mode="report_only")
    rec(ctx, "completed", environment="staging")
    approve(ctx, "api", "1.0.0", "production", approver="alice")
    dep = rec(ctx, "started", deployed_by="alice")
    [entry] = dep.metadata["preflight_status"]["rules_evaluated"]
    assert (entry["rule_name"], entry["evaluation_result"]) == ("two", "failed")


def test_approve_bad_input(ctx: Context) -> None:
    with pytest.raises(NotFoundError) as nf:
        approve(ctx, "ghost", "1.0.0", "production", approver="alice")
    assert nf.value.field == "product"
    rec(ctx, "completed", environment="staging")
    with pytest.raises(NotFoundError) as nv:
        approve(ctx, "api", "9.9.9", "production", approver="alice")
    assert nv.value.field == "version"
    with pytest.raises(InvalidInputError) as ni:
        approve(ctx, "api", "1.0.0", "production", approver="  ")
    assert ni.value.field == "approver"
    with pytest.raises(InvalidInputError) as ne:
        approve(ctx, "api", "1.0.0", "bad env!", approver="alice")
    assert ne.value.field == "environment"


# ---------------------------------------------------------------- overrides


def test_override_with_reason_is_recorded_on_deployment_and_in_audit_log(
    ctx: Context,
) -> None:
    add(
        ctx,
        name="frozen",
        kind="freeze",
        start="2026-11-22T00:00:00Z",
        end="2026-11-23T00:00:00Z",
        environments=["production"],
    )
    dep = rec(
        ctx, "started", override_gates=True, override_reason="security fix", deployed_by="root"
    )
    assert dep.status == "started"
    override = dep.metadata["gate_override"]
    assert override["reason"] == "security fix"
    assert override["by"] == "root"
    assert override["at"] == "2026-11-22T10:00:00.000Z"
    assert override["rules"] == [
        {
            "rule_name": "frozen",
            "kind": "freeze",
            "code": "NO_DEPLOY_WINDOW",
            "message": override["rules"][0]["message"],
            "retry_after": "2026-11-23T00:00:00.000Z",
        }
    ]
    [event] = gate_events(ctx, "gate.overridden")
    assert event.deployment_id == dep.id
    assert event.actor == "root"
    assert event.data["reason"] == "security fix"
    assert event.data["rules"][0]["code"] == "NO_DEPLOY_WINDOW"
    assert [e.type for e in show_deployment(ctx, dep.id).events] == [
        "deployment.started",
        "gate.overridden",
    ]
    # An override when nothing blocks records nothing extra.
    calm = rec(
        ctx, "started", environment="dev", override_gates=True, override_reason="habit", version="2"
    )
    assert "gate_override" not in calm.metadata
    # Completing the overridden deployment is not evaluated again.
    assert rec(ctx, "completed").status == "completed"


@pytest.mark.parametrize(
    ("override", "reason", "field"),
    [
        (True, None, "override_reason"),
        (True, "  ", "override_reason"),
        (False, "x", "override_reason"),
    ],
)
def test_override_needs_a_reason(
    ctx: Context, override: bool, reason: str | None, field: str
) -> None:
    add(
        ctx,
        name="frozen",
        kind="freeze",
        start="2026-11-22T00:00:00.000Z",
        end="2026-11-23T00:00:00.000Z",
    )
    before = counts(ctx)
    with pytest.raises(InvalidInputError) as err:
        rec(ctx, "started", override_gates=override, override_reason=reason)
    assert err.value.field == field
    assert counts(ctx) == before


# ------------------------------------------------------------------- unlock


def test_unlock_aborts_the_started_deployment_and_frees_the_environment(
    ctx: Context, clock: FakeClock
) -> None:
    add(ctx, name="one", kind="concurrency")
    stuck = rec(ctx, "started", ci_run_id="1")
    blocked(ctx, "started", ci_run_id="2")
    clock.advance(minutes=20)
    with pytest.raises(InvalidInputError) as no_reason:
        unlock(ctx, product="api", environment="production", reason=" ")
    assert no_reason.value.field == "reason"
    freed = unlock(ctx, product="api", environment="production", reason="runner died", actor="ops")
    assert freed.id == stuck.id
    assert freed.status == "aborted"
    assert freed.finished_at == T0 + timedelta(minutes=20)
    assert freed.duration_ms == 20 * 60 * 1000
    assert freed.metadata["unlocked"] == {
        "by": "ops",
        "key_name": None,
        "reason": "runner died",
        "at": "2026-11-22T10:20:00.000Z",
    }
    detail = show_deployment(ctx, stuck.id)
    assert [(e.type, e.from_status, e.to_status) for e in detail.events][-2:] == [
        ("deployment.aborted", "started", "aborted"),
        ("gate.unlocked", None, None),
    ]
    assert detail.events[-1].data["reason"] == "runner died"
    assert detail.events[-1].actor == "ops"
    assert rec(ctx, "started", ci_run_id="2").status == "started"
    # Nothing left to unlock by id: it is aborted.
    with pytest.raises(ConflictError):
        unlock(ctx, deployment_id=stuck.id, reason="again")


def test_unlock_needs_one_started_deployment(ctx: Context) -> None:
    with pytest.raises(NotFoundError) as nf:
        unlock(ctx, product="api", environment="production", reason="x")
    assert nf.value.field == "product"
    a = rec(ctx, "started", ci_run_id="1")
    b = rec(ctx, "started", ci_run_id="2")
    with pytest.raises(InvalidInputError) as many:
        unlock(ctx, product="api", environment="production", reason="x")
    assert many.value.field == "id"
    assert f"({b.id}, {a.id})" in many.value.message
    with pytest.raises(InvalidInputError) as wrong:
        unlock(ctx, deployment_id=a.id, environment="staging", reason="x")
    assert wrong.value.field == "environment"
    with pytest.raises(NotFoundError):
        unlock(ctx, deployment_id=9999, reason="x")
    assert unlock(ctx, deployment_id=a.id, reason="x").status == "aborted"


# --------------------------------------------------------------- management


def test_rule_management_and_audit_log(ctx: Context, clock: FakeClock) -> None:
    stored = add(ctx, name="Freeze", kind="freeze", cron="@daily", duration="1h")
    assert stored.source == "database" and not stored.read_only
    assert stored.to_dict()["duration_seconds"] == 3600
    with pytest.raises(ConflictError) as dup:
        add(ctx, name="freeze", kind="concurrency")
    assert dup.value.field == "name"
    clock.advance(minutes=1)
    changed = set_rule_mode(ctx, "FREEZE", "report_only", actor="ops")
    assert changed.rule.mode.value == "report_only"
    assert changed.updated_at == T0 + timedelta(minutes=1) and changed.updated_by == "ops"
    replaced = replace_rule(
        ctx, "freeze", {"kind": "freeze", "cron": "0 1 * * *", "duration": "2h"}, actor="ops"
    )
    assert replaced.to_dict()["cron"] == "0 1 * * *" and replaced.rule.name == "freeze"
    with pytest.raises(InvalidInputError) as kind:
        replace_rule(ctx, "freeze", {"kind": "concurrency"})
    assert kind.value.field == "kind"
    with pytest.raises(InvalidInputError) as mode:
        set_rule_mode(ctx, "freeze", "sometimes")
    assert mode.value.field == "mode"
    removed = remove_rule(ctx, "freeze", actor="ops")
    assert removed.rule.name == "freeze"
    assert list_rules(ctx) == []
    with pytest.raises(NotFoundError):
        remove_rule(ctx, "freeze")
    types = [e.type for e in gate_events(ctx, "gate.rule")]
    assert types == [
        "gate.rule_added",
        "gate.rule_changed",
        "gate.rule_changed",
        "gate.rule_removed",
    ]
    last = gate_events(ctx, "gate.rule_removed")[0]
    assert last.data["rule"]["cron"] == "0 1 * * *" and last.actor == "ops"


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({"name": "x", "kind": "freeze", "cron": "0 25 * * *", "duration": "1h"}, "cron"),
        ({"name": "x", "kind": "sometimes"}, "kind"),
        ({"name": "x", "kind": "concurrency", "soak": "1h"}, "soak"),
        ({"name": "x", "kind": "flow"}, "required_environments"),
        ({"kind": "concurrency"}, "name"),
        ({"name": "x", "kind": "approval", "required": 0}, "required"),
    ],
)
def test_bad_rule_definitions_name_the_field(
    ctx: Context, definition: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInputError) as err:
        add_rule(ctx, definition)
    assert err.value.field == field
    assert counts(ctx)["gate_rules"] == 0


def test_config_rules_apply_and_are_read_only(ctx: Context) -> None:
    settings = replace(
        ctx.settings,
        config_file="/srv/app/shipmate.toml",
        sections={"gates": [{"name": "one", "kind": "concurrency", "lease": "10m"}]},
    )
    cfg = Context(settings=settings, engine=ctx.engine, clock=ctx.clock)
    [stored] = list_rules(cfg)
    assert (stored.source, stored.read_only, stored.to_dict()["lease_seconds"]) == (
        "config",
        True,
        600,
    )
    rec(cfg, "started", ci_run_id="1")
    assert blocked(cfg, "started", ci_run_id="2").details["rule_name"] == "one"
    calls: list[Callable[[], object]] = [
        lambda: set_rule_mode(cfg, "one", "disabled"),
        lambda: remove_rule(cfg, "one"),
        lambda: replace_rule(cfg, "one", {"kind": "concurrency"}),
    ]
    for call in calls:
        with pytest.raises(ConflictError) as err:
            call()
        assert "/srv/app/shipmate.toml" in err.value.message
        assert "read-only" in err.value.message
    with pytest.raises(ConflictError) as taken:
        add_rule(cfg, {"name": "ONE", "kind": "concurrency"})
    assert "/srv/app/shipmate.toml" in taken.value.message


def test_bad_config_rules_are_a_config_error(ctx: Context) -> None:
    settings = replace(
        ctx.settings,
        sections={"gates": [{"name": "f", "kind": "freeze", "cron": "61 * * * *", "duration": 60}]},
    )
    cfg = Context(settings=settings, engine=ctx.engine, clock=ctx.clock)
    with pytest.raises(ConfigError) as err:
        rec(cfg, "started")
    assert err.value.field == "gates[0].cron"
    with pytest.raises(ConfigError):
        list_rules(replace(cfg, settings=replace(settings, sections={"gates": {"a": 1}})))


# ------------------------------------------------------------------ dry run


def test_dry_run_evaluates_and_records_nothing(ctx: Context, clock: FakeClock) -> None:
    add(ctx, name="one", kind="concurrency")
    add(ctx, name="flow", kind="flow", required_environments=["staging"], environments=["prod*"])
    add(ctx, name="ok", kind="approval", mode="report_only")
    empty = dry_run(ctx, "new-product", "0.1.0", "production")
    assert empty.allowed is False  # flow: never completed in staging
    assert [r.rule_name for r in empty.results] == ["one", "flow", "ok"]
    rec(ctx, "completed", environment="staging")
    rec(ctx, "started", ci_run_id="1")
    before = counts(ctx)
    outcome = dry_run(ctx, "api", "1.0.0+build.9", "production", deployer="carol")
    assert counts(ctx) == before
    body = outcome.to_dict()
    assert body["allowed"] is False
    assert body["blocking"]["code"] == "DEPLOYMENT_IN_PROGRESS"
    assert [(r["rule_name"], r["passed"], r["source"]) for r in body["results"]] == [
        ("one", False, "database"),
        ("flow", True, "database"),
        ("ok", False, "database"),
    ]
    assert body["rules_evaluated"][0]["rule_name"] == "ok"
    assert body["evaluated_at"] == "2026-11-22T10:00:00.000Z"
    with pytest.raises(InvalidInputError) as bad:
        dry_run(ctx, "api", "", "production")
    assert bad.value.field == "version"


# ------------------------------------------------------------- concurrency


def race(
    settings: Any, clock: FakeClock, runs: int
) -> tuple[list[int], list[GateBlockedError], list[BaseException]]:
    """``runs`` clients, each with its own connection pool, send started at once."""
    barrier = threading.Barrier(runs)
    won: list[int] = []
    lost: list[GateBlockedError] = []
    other: list[BaseException] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        engine = make_engine(settings.database_url, pool_size=1)
        one = Context(settings=settings, engine=engine, clock=clock)
        try:
            barrier.wait(timeout=60)
            dep = rec(one, "started", ci_run_id=f"run-{n}", version=f"1.0.{n}")
            with lock:
                won.append(dep.id)
        except GateBlockedError as exc:
            with lock:
                lost.append(exc)
        except BaseException as exc:  # reported by the test
            with lock:
                other.append(exc)
        finally:
            one.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return won, lost, other


def test_concurrent_starts_exactly_one_wins(ctx: Context) -> None:
    """12 clients send started for one product and environment at once (both backends)."""
    add(ctx, name="one-at-a-time", kind="concurrency")
    rec(ctx, "completed", ci_run_id="seed")  # product and environment exist
    runs = 12
    won, lost, other = race(ctx.settings, ctx.clock, runs)  # type: ignore[arg-type]
    assert other == []
    assert len(won) == 1
    assert len(lost) == runs - 1
    assert {e.details["gate_code"] for e in lost} == {"DEPLOYMENT_IN_PROGRESS"}
    assert {e.details["http_status"] for e in lost} == {409}
    assert {e.details["versioner_detail"]["details"]["deployment_id"] for e in lost} == {
        str(won[0])
    }
    with ctx.read() as conn:
        started = conn.execute(
            select(deployments.c.id).where(deployments.c.status == "started")
        ).all()
    assert [r.id for r in started] == won
    assert len(gate_events(ctx, "gate.blocked")) == runs - 1


def test_concurrent_starts_on_postgres_for_a_new_product(pg_url: str, clock: FakeClock) -> None:
    """The race on PostgreSQL when the product and environment do not exist yet."""
    settings = Settings(database_url=pg_url)
    ctx = Context(settings=settings, engine=make_engine(pg_url), clock=clock)
    try:
        add(ctx, name="one-at-a-time", kind="concurrency")
        runs = 12
        won, lost, other = race(settings, clock, runs)
        assert other == []
        assert (len(won), len(lost)) == (1, runs - 1)
        assert {e.details["gate_code"] for e in lost} == {"DEPLOYMENT_IN_PROGRESS"}
        assert counts(ctx)["deployments"] == 1
        assert counts(ctx)["products"] == 1
    finally:
        ctx.close()
