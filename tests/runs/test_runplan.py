"""The pure flow of a blue-green run, driven with literal results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from shipmate.domain.runs.plan import (
    FlowEnd,
    LiveState,
    RunPlan,
    Step,
    StepResult,
    blue_green_flow,
    choose_slot,
    describe_failure_handling,
    preview,
)

PLAN = RunPlan(
    kind="deploy",
    product="api",
    environment="production",
    version="2.0.0",
    full_version="2.0.0+build.3",
    build_number=3,
    slots=("blue", "green"),
    keep_warm=30,
)
LIVE = LiveState(
    slot="blue",
    version="1.0.0",
    full_version="1.0.0",
    switch_state={"slot": "blue", "content": "upstream app { server 127.0.0.1:8001; }"},
    running={"blue": "1.0.0", "green": None},
    deployment_id=7,
)


def drive(
    plan: RunPlan,
    live: LiveState,
    failures: Mapping[str, StepResult] | None = None,
    data: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[list[Step], FlowEnd]:
    """Run the flow: every step succeeds unless ``failures`` names it."""
    failures = failures or {}
    data = data or {}
    flow = blue_green_flow(plan)
    steps: list[Step] = []
    try:
        step = next(flow)
        while True:
            steps.append(step)
            if step.name in failures:
                result = failures[step.name]
            elif step.name == "record_started":
                result = StepResult.success({"deployment_id": 41})
            elif step.name == "inspect":
                result = StepResult.success(live.to_dict())
            else:
                result = StepResult.success(data.get(step.name, {}))
            step = flow.send(result)
    except StopIteration as done:
        return steps, done.value


def names(steps: list[Step]) -> list[str]:
    return [s.name for s in steps]


def test_happy_path() -> None:
    steps, end = drive(PLAN, LIVE)
    assert names(steps) == [
        "record_started",
        "inspect",
        "check_artifact",
        "start",
        "health",
        "switch",
        "post_switch_health",
        "record_completed",
        "keep_warm",
        "retire",
    ]
    assert steps[3].args == {"slot": "green"}
    assert steps[3].title == "start 2.0.0+build.3 in slot green"
    assert steps[8].args == {"slot": "blue", "seconds": 30, "serving": "green"}
    assert steps[9].args == {"slot": "blue", "serving": "green"}
    assert end == FlowEnd(
        "completed",
        "2.0.0+build.3 serves traffic in slot green; slot blue retired",
        41,
        retired=True,
        slot="green",
    )
    assert [s.title for s in preview(PLAN, LIVE)] == [s.title for s in steps]


def test_first_deploy_has_nothing_to_retire() -> None:
    steps, end = drive(PLAN, LiveState(running={"blue": None, "green": None}))
    assert names(steps)[-1] == "record_completed"
    assert steps[3].args == {"slot": "blue"}
    assert end.status == "completed" and not end.retired


def test_failure_before_the_start_stops_nothing() -> None:
    gone = StepResult.failure("image gone", code="artifact_missing")
    steps, end = drive(PLAN, LIVE, {"check_artifact": gone})
    assert names(steps)[-2:] == ["check_artifact", "record_failed"]
    assert steps[-1].args["failed_step"] == "check_artifact"
    assert end.status == "failed" and end.error_code == "artifact_missing"
    assert "traffic is unchanged (1.0.0 in blue)" in end.message


@pytest.mark.parametrize("failing", ["start", "health", "switch"])
def test_failure_before_or_at_the_switch_stops_the_new_slot(failing: str) -> None:
    bad = StepResult.failure("boom", output="last log line")
    steps, end = drive(PLAN, LIVE, {failing: bad})
    assert names(steps)[-3:] == [failing, "stop_new", "record_failed"]
    assert steps[-2].args == {"slot": "green"}
    assert steps[-1].args["output"] == "last log line"
    assert "restore" not in names(steps)
    assert end.failed_step == failing and not end.switched_back


def test_failure_after_the_switch_restores_and_records_the_rollback() -> None:
    bad = StepResult.failure("HTTP 500", code="health_check_failed")
    steps, end = drive(
        PLAN, LIVE, {"post_switch_health": bad}, data={"record_rollback": {"deployment_id": 42}}
    )
    assert names(steps)[-5:] == [
        "post_switch_health",
        "restore",
        "stop_new",
        "record_failed",
        "record_rollback",
    ]
    assert steps[-4].args == {"previous": dict(LIVE.switch_state or {})}
    assert steps[-1].args == {"version": "1.0.0", "reverts_id": 41}
    assert all(s.compensating for s in steps[-4:])
    assert end.switched_back and end.rollback_deployment_id == 42
    assert end.error_code == "health_check_failed"
    assert "traffic is back on 1.0.0 in blue" in end.message


def test_failed_restore_keeps_the_new_slot_running() -> None:
    steps, end = drive(
        PLAN,
        LIVE,
        {
            "post_switch_health": StepResult.failure("HTTP 500"),
            "restore": StepResult.failure("nginx -t failed"),
        },
    )
    assert names(steps)[-3:] == ["post_switch_health", "restore", "record_failed"]
    assert not end.switched_back
    assert "could NOT be switched back (nginx -t failed)" in end.message


def test_nothing_to_switch_back_to_on_a_first_deploy() -> None:
    steps, end = drive(
        PLAN, LiveState(running={}), {"post_switch_health": StepResult.failure("HTTP 500")}
    )
    assert names(steps)[-2:] == ["post_switch_health", "record_failed"]
    assert "switch was never set" in end.message


def test_a_refused_start_does_nothing_else() -> None:
    blocked = StepResult.failure("frozen", code="gate_blocked")
    steps, end = drive(PLAN, LIVE, {"record_started": blocked})
    assert names(steps) == ["record_started"]
    assert end.error_code == "gate_blocked" and end.deployment_id is None


def test_warm_rollback_is_a_switch_back_and_nothing_else() -> None:
    plan = RunPlan(
        kind="rollback",
        product="api",
        environment="production",
        version="1.0.0",
        full_version="1.0.0",
        slots=("blue", "green"),
        keep_warm=0,
        reverts_id=8,
    )
    live = LiveState(
        slot="green",
        version="2.0.0",
        full_version="2.0.0",
        switch_state={"slot": "green"},
        running={"blue": "1.0.0", "green": "2.0.0"},
    )
    assert choose_slot(plan, live) == ("blue", True)
    steps, end = drive(plan, live)
    assert names(steps) == [
        "record_started",
        "inspect",
        "switch",
        "post_switch_health",
        "record_completed",
        "retire",
    ]
    assert steps[0].title.startswith("record the rollback of 1.0.0")
    assert steps[2].title == "switch traffic back to slot blue (1.0.0)"
    assert steps[-1].args == {"slot": "green", "serving": "blue"}
    # a failed check after a warm switch back: restore, but the warm slot stays
    steps, end = drive(plan, live, {"post_switch_health": StepResult.failure("500")})
    assert names(steps)[-3:] == ["post_switch_health", "restore", "record_failed"]
    assert end.rollback_deployment_id is None


@pytest.mark.parametrize("failing", ["keep_warm", "retire"])
def test_the_serving_slot_failing_while_the_old_one_is_warm_switches_back(failing: str) -> None:
    bad = StepResult.failure(
        "2.0.0+build.3 is no longer running in slot green",
        code="health_check_failed",
        data={"serving_unhealthy": True},
    )
    steps, end = drive(PLAN, LIVE, {failing: bad}, data={"record_rollback": {"deployment_id": 42}})
    assert names(steps)[-4:] == [failing, "restore", "stop_new", "record_rollback"]
    assert "retire" not in names(steps)[:-4]  # the old slot is never stopped
    assert steps[-3].args == {"previous": dict(LIVE.switch_state or {})}
    assert steps[-2].args == {"slot": "green"}
    assert steps[-1].args["version"] == "1.0.0" and steps[-1].args["reverts_id"] == 41
    assert f"failed while slot blue was kept warm: {bad.error}" in steps[-1].args["reason"]
    assert all(s.compensating for s in steps[-3:])
    assert end.status == "failed" and end.failed_step == failing
    assert end.switched_back and end.rollback_deployment_id == 42 and end.deployment_id == 41
    assert "traffic is back on 1.0.0 in blue" in end.message


def test_a_retire_that_cannot_stop_the_old_slot_does_not_switch_back() -> None:
    steps, end = drive(PLAN, LIVE, {"retire": StepResult.failure("did not exit after SIGKILL")})
    assert names(steps)[-1] == "retire"
    assert end.status == "failed" and not end.switched_back


def test_a_failed_restore_while_warm_leaves_the_old_slot_running() -> None:
    steps, end = drive(
        PLAN,
        LIVE,
        {"keep_warm": StepResult.failure("HTTP 502"), "restore": StepResult.failure("nginx -t")},
    )
    assert names(steps)[-2:] == ["keep_warm", "restore"]
    assert not end.switched_back and "could NOT be switched back (nginx -t)" in end.message


def test_a_rollback_run_failing_while_warm_keeps_the_old_slot_and_traffic() -> None:
    plan = replace(PLAN, kind="rollback", reverts_id=8)
    steps, end = drive(plan, LIVE, {"keep_warm": StepResult.failure("HTTP 502")})
    assert names(steps)[-1] == "keep_warm"
    assert end.status == "failed" and not end.switched_back
    assert "slot blue (1.0.0) is left running and traffic is unchanged" in end.message


def test_hooks_run_before_the_start_and_before_the_retirement() -> None:
    plan = replace(
        PLAN,
        before_start=(Step("action", "1.1.0 up: migrate"),),
        before_retire=(Step("drain", "wait for 1.0.0 to drain"),),
    )
    steps, end = drive(plan, LIVE)
    assert names(steps)[2:4] == ["action", "check_artifact"]
    assert names(steps)[-3:] == ["keep_warm", "drain", "retire"]

    steps, end = drive(plan, LIVE, data={"drain": {"retire": False}})
    assert names(steps)[-1] == "drain"
    assert end.status == "completed" and "left running" in end.message

    steps, end = drive(plan, LIVE, {"action": StepResult.failure("migration failed")})
    assert names(steps)[-2:] == ["action", "record_failed"]
    assert end.failed_step == "action"


def test_no_idle_slot_when_the_switch_is_unknown_and_all_slots_run() -> None:
    live = LiveState(switch_state={"content": "by hand"}, running={"blue": "x", "green": "y"})
    reason = choose_slot(PLAN, live)
    assert isinstance(reason, str) and "no slot is safely idle" in reason
    steps, end = drive(PLAN, live)
    assert names(steps) == ["record_started", "inspect", "record_failed"]
    assert end.status == "failed"


def test_plan_round_trips_through_json() -> None:
    plan = replace(PLAN, before_start=(Step("a", "b", {"x": 1}),))
    assert RunPlan.from_dict(plan.to_dict()) == plan
    assert LiveState.from_dict(LIVE.to_dict()) == LIVE
    with pytest.raises(ValueError, match="unknown run kind"):
        RunPlan.from_dict({**PLAN.to_dict(), "kind": "canary"})


def test_failure_handling_in_words() -> None:
    lines = describe_failure_handling(PLAN, LIVE)
    assert lines[0] == (
        "a step before the switch fails: stop slot green, leave traffic on 1.0.0 in blue, "
        "record the deploy failed"
    )
    assert "record the automatic rollback as its own deployment" in lines[1]
    assert lines[2] == (
        "it fails while slot blue is kept warm, or just before that slot is retired: switch "
        "back to 1.0.0 in blue, stop slot green, record the automatic rollback (the "
        "deployment becomes rolled_back)"
    )
