"""One host's part of a rollout: the flow waits for the rollout's verdict after its switch."""

from __future__ import annotations

from dataclasses import replace

from shipmate.domain.runs.model import AWAIT_ROLLOUT
from shipmate.domain.runs.plan import (
    FlowEnd,
    LiveState,
    RunPlan,
    Step,
    StepResult,
    blue_green_flow,
    describe_failure_handling,
    preview,
)
from tests.runs.test_runplan import LIVE, PLAN, drive, names

PART = replace(PLAN, awaits_rollout=True)
CONTINUE = StepResult.success({"verdict": "continue"})
REVERT = StepResult.success({"verdict": "revert", "reason": "web-2 failed its health check"})


def test_a_plan_that_is_not_part_of_a_rollout_is_unchanged() -> None:
    assert PLAN.awaits_rollout is False
    assert "awaits_rollout" not in PLAN.to_dict()  # journals of one-host runs stay as they were
    assert AWAIT_ROLLOUT not in names(drive(PLAN, LIVE)[0])
    assert RunPlan.from_dict(PART.to_dict()) == PART
    assert PART.to_dict()["awaits_rollout"] is True


def test_continue_goes_on_to_record_keep_warm_and_retire() -> None:
    steps, end = drive(PART, LIVE, data={AWAIT_ROLLOUT: CONTINUE.data})
    assert names(steps) == [
        "record_started",
        "inspect",
        "check_artifact",
        "start",
        "health",
        "switch",
        "post_switch_health",
        "await_rollout",
        "record_completed",
        "keep_warm",
        "retire",
    ]
    wait = steps[7]
    assert wait.args == {"slot": "green"}
    assert wait.title == (
        "wait for the rollout's verdict (2.0.0+build.3 serves in slot green; slot blue kept warm)"
    )
    assert not wait.compensating
    assert end.status == "completed" and end.retired and end.slot == "green"


def test_revert_switches_back_stops_the_new_slot_and_records_the_part_failed() -> None:
    steps, end = drive(PART, LIVE, failures={AWAIT_ROLLOUT: REVERT})
    assert names(steps)[-4:] == ["await_rollout", "restore", "stop_new", "record_failed"]
    restore, stop, record = steps[-3:]
    assert restore.args == {"previous": dict(LIVE.switch_state or {})}
    assert stop.args == {"slot": "green"}
    assert record.args["failed_step"] == "await_rollout"
    assert record.args["error"] == "web-2 failed its health check"
    assert record.args["error_code"] == "rollout_reverted"
    assert "record_rollback" not in names(steps)  # the rollout records how it ended
    assert "record_completed" not in names(steps)
    assert end == FlowEnd(
        "failed",
        "the rollout was reverted: web-2 failed its health check; traffic is back on 1.0.0 in blue",
        41,
        failed_step="await_rollout",
        error="web-2 failed its health check",
        error_code="rollout_reverted",
        switched_back=True,
        slot="green",
    )


def test_no_verdict_or_a_failed_wait_is_a_revert() -> None:
    for result in (
        StepResult.success(),
        StepResult.success({"verdict": "go"}),
        StepResult.failure("the run was aborted", code="aborted"),
    ):
        steps, end = drive(PART, LIVE, failures={AWAIT_ROLLOUT: result})
        assert names(steps)[-3:] == ["restore", "stop_new", "record_failed"], result
        assert end.status == "failed" and end.switched_back
        assert end.failed_step == "await_rollout"
    _, end = drive(PART, LIVE, failures={AWAIT_ROLLOUT: StepResult.success({"verdict": "go"})})
    assert end.error is not None and "'go'" in end.error


def test_a_failed_restore_leaves_the_new_slot_serving() -> None:
    failures = {AWAIT_ROLLOUT: REVERT, "restore": StepResult.failure("nginx -t failed")}
    steps, end = drive(PART, LIVE, failures=failures)
    assert names(steps)[-2:] == ["restore", "record_failed"]  # green keeps serving
    assert not end.switched_back
    assert "could NOT be switched back (nginx -t failed)" in end.message


def test_a_first_deploy_has_nothing_to_switch_back_to() -> None:
    first = LiveState(running={"blue": None, "green": None})
    steps, end = drive(PART, first, failures={AWAIT_ROLLOUT: REVERT})
    assert names(steps)[-2:] == ["await_rollout", "record_failed"]
    assert not end.switched_back and "never set before this run" in end.message


def test_the_wait_comes_after_the_switch_when_there_is_no_check_after_it() -> None:
    plan = replace(PART, post_switch_check=False)
    steps, _ = drive(plan, LIVE, data={AWAIT_ROLLOUT: CONTINUE.data})
    assert names(steps)[5:8] == ["switch", "await_rollout", "record_completed"]


def test_a_warm_rollback_part_switches_back_without_stopping_its_target() -> None:
    plan = replace(PART, kind="rollback", version="1.0.0", full_version="1.0.0")
    live = LiveState(
        slot="green",
        version="2.0.0",
        full_version="2.0.0",
        switch_state={"slot": "green"},
        running={"blue": "1.0.0", "green": "2.0.0"},
    )
    steps, end = drive(plan, live, failures={AWAIT_ROLLOUT: REVERT})
    assert names(steps) == [
        "record_started",
        "inspect",
        "switch",
        "post_switch_health",
        "await_rollout",
        "restore",
        "record_failed",
    ]
    assert end.switched_back


def test_the_wait_is_replayed_from_the_journal_like_every_step() -> None:
    """A resumed run feeds the recorded results back and gets to the same next step."""
    full, _ = drive(PART, LIVE, data={AWAIT_ROLLOUT: CONTINUE.data})
    recorded = {
        "record_started": StepResult.success({"deployment_id": 41}),
        "inspect": StepResult.success(LIVE.to_dict()),
    }
    flow = blue_green_flow(PART)
    step: Step = next(flow)
    replayed = [step]
    while step.name != AWAIT_ROLLOUT:
        step = flow.send(recorded.get(step.name, StepResult.success()))
        replayed.append(step)
    assert replayed == full[: len(replayed)]  # the same steps, the same args
    # The crash came while waiting: the step runs again and gets the verdict now.
    assert flow.send(CONTINUE).name == "record_completed"


def test_preview_and_failure_handling_show_the_wait() -> None:
    listed = preview(PART, LIVE)
    assert [s.name for s in listed][6:9] == [
        "post_switch_health",
        "await_rollout",
        "record_completed",
    ]
    assert [s.name for s in preview(PLAN, LIVE)] == [
        s.name for s in listed if s.name != AWAIT_ROLLOUT
    ]
    lines = describe_failure_handling(PART, LIVE)
    assert lines[:2] == list(describe_failure_handling(PLAN, LIVE))[:2]
    assert (
        "another host of the rollout fails while this one waits for the verdict: switch back to "
        "1.0.0 in blue, stop slot green, record the deploy failed"
    ) in lines
    assert not any("another host" in line for line in describe_failure_handling(PLAN, LIVE))
    first = describe_failure_handling(PART, LiveState(running={"blue": None, "green": None}))
    assert any("nothing to switch back to; leave slot blue serving" in line for line in first)
