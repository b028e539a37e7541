"""DORA counts only deployments that went live, recovers at a rollback mark, and never
changes a closed period; from recorded deployments and real runs, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shipmate.demo.clock import FakeClock
from shipmate.services.context import Context
from shipmate.services.deploys.deploy import DeployRequest
from shipmate.services.deploys.deploy import deploy as run_deploy
from shipmate.services.dora import dora_report
from shipmate.services.records.rollbackmarks import mark_rollback
from shipmate.services.runs import steps as runsteps
from tests.runs.conftest import make_fakes
from tests.services.test_changelog_service import deploy
from tests.services.test_dora_service import END, START, day, failed

HOUR = 3600.0


def report(ctx: Context, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("since", START)
    kwargs.setdefault("until", END)
    return dora_report(ctx, product="api", **kwargs).to_dict()


def test_a_marked_rollback_recovers_when_the_previous_version_serves_again(
    ctx: Context, clock: FakeClock
) -> None:
    deploy(ctx, clock, version="1.0.0", commit=None, at=day(1))
    bad = deploy(ctx, clock, version="1.1.0", commit=None, at=day(3))
    clock.set(day(3, 10, 20))
    mark_rollback(ctx, str(bad), reason="errors went up")
    clock.set(day(15))  # twelve days later, nothing else was deployed
    rec = report(ctx, until=day(15))["recovery_time"]
    assert (rec["recovered"], rec["unrecovered"]) == (1, 0)
    assert rec["median_seconds"] == pytest.approx(20 * 60)
    assert rec["band"] == "elite"


def test_a_closed_period_stays_the_same_when_a_rollback_is_recorded_later(
    ctx: Context, clock: FakeClock
) -> None:
    deploy(ctx, clock, version="1.0.0", commit=None, at=day(1))
    second = deploy(ctx, clock, version="1.1.0", commit=None, at=day(3))
    failed(ctx, clock, "1.2.0", day(4), failed_step="post_switch_health")
    closed = report(ctx, until=day(10))
    assert closed["counts"]["completed"] == 2 and closed["counts"]["rolled_back"] == 0
    clock.set(day(20))
    mark_rollback(ctx, str(second))
    assert report(ctx, until=day(10)) == closed
    whole = report(ctx)  # the period that saw the mark
    assert whole["counts"]["rolled_back"] == 1 and whole["counts"]["completed"] == 1
    assert whole["change_failure_rate"]["failures"] == 2
    # 1.1.0 recovered at the mark (17 days); 1.2.0 has no good deployment after it
    assert whole["recovery_time"]["median_seconds"] == 17 * 24 * HOUR
    assert whole["recovery_time"]["unrecovered"] == 1


def test_only_deployments_that_went_live_count_as_failures(ctx: Context, clock: FakeClock) -> None:
    deploy(ctx, clock, version="1.0.0", commit=None, at=day(1))
    # a run whose health check failed before the switch, and a plain `record --status failed`
    failed(ctx, clock, "1.1.0", day(2), failed_step="health", error="HTTP 500")
    failed(ctx, clock, "1.1.1", day(3))
    # a run that failed its check after the switch, and its automatic rollback
    live = failed(ctx, clock, "1.2.0", day(4), failed_step="post_switch_health")
    deploy(
        ctx, clock, version="1.0.0", commit=None, at=day(4, 10, 1), kind="rollback", reverts_id=live
    )
    # a plain failure that a rollback later reverted: it had served traffic
    reverted = failed(ctx, clock, "1.3.0", day(6))
    deploy(
        ctx,
        clock,
        version="1.0.0",
        commit=None,
        at=day(6, 11),
        kind="rollback",
        reverts_id=reverted,
    )
    body = report(ctx)
    assert body["counts"] == {
        "completed": 3,
        "rolled_back": 0,
        "failed": 2,
        "stopped_before_traffic": 2,
        "aborted": 0,
        "rollbacks": 2,
    }
    cfr = body["change_failure_rate"]
    assert (cfr["failures"], cfr["went_live"], cfr["stopped_before_traffic"]) == (2, 5, 2)
    assert cfr["rate"] == pytest.approx(0.4)
    rec = body["recovery_time"]
    assert (rec["recovered"], rec["unrecovered"]) == (2, 0)
    assert rec["median_seconds"] == 60 and rec["p90_seconds"] == HOUR
    assert sum(d["stopped_before_traffic"] for d in body["daily"]) == 2
    # a closed period before the reverting rollback does not know 1.3.0 went live
    early = report(ctx, until=day(6, 10, 30))
    assert early["counts"]["stopped_before_traffic"] == 3 and early["counts"]["failed"] == 1


def test_real_runs_stopped_before_traffic_and_failed_after_the_switch(
    ctx: Context, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runsteps, "POST_SWITCH_SPACING", 0.0)
    fakes = make_fakes(
        tmp_path,
        health={"3.0.0": [(False, "HTTP 500 from /healthz")], "4.0.0": [True, False]},
    )

    def run(version: str, hours: int) -> bool:
        clock.set(START + timedelta(hours=hours))
        request = DeployRequest(product="api", environment="production", version=version)
        return run_deploy(ctx, fakes.deploy, request, parts_factory=fakes.parts).ok

    assert run("1.0.0", 1) and run("2.0.0", 2)
    assert not run("3.0.0", 3)  # its health check failed before the switch
    assert not run("4.0.0", 4)  # failed after the switch: switched back, rollback recorded
    body = report(ctx)
    counts = body["counts"]
    assert (counts["completed"], counts["failed"], counts["stopped_before_traffic"]) == (3, 1, 1)
    assert body["change_failure_rate"]["went_live"] == 4
    assert body["recovery_time"]["recovered"] == 1
    assert body["recovery_time"]["median_seconds"] == 0  # the rollback, at the same instant
