"""The run journal on both backends: one run per environment, claims, fencing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from shipmate.demo.clock import FakeClock
from shipmate.domain.runs.plan import Step, StepResult
from shipmate.errors import ConflictError
from shipmate.services.context import Context
from shipmate.services.runs.journal import (
    RunRecord,
    begin_step,
    claim_run,
    create_run,
    finish_step,
    get_run,
    heartbeat,
    lock_key,
    new_owner,
    owner_alive,
)


def _create(ctx: Context, owner: str, env: str = "production") -> RunRecord:
    return create_run(
        ctx,
        kind="deploy",
        product="api",
        environment=env,
        version="1.0.0",
        full_version="1.0.0",
        build_number=None,
        params={"plan": {}},
        actor="alice",
        owner=owner,
    )


def test_concurrent_starts_leave_exactly_one_run(ctx: Context) -> None:
    winners: list[int] = []
    refused: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        try:
            winners.append(_create(ctx, new_owner()).id)
        except ConflictError as exc:
            refused.append(exc.message)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(refused) == 7
    assert all(f"run {winners[0]}" in m or "another run holds" in m for m in refused)


def test_claim_and_fencing(ctx: Context, clock: FakeClock) -> None:
    first = new_owner()
    run = _create(ctx, first)
    assert owner_alive(first) is True
    assert owner_alive("elsewhere|1|2|3|x") is None
    with pytest.raises(ConflictError, match="still driven"):
        claim_run(ctx, run.id, "another-host|9|9|b|y")
    row = begin_step(ctx, run.id, first, 1, Step("inspect", "look"))
    assert (row.status, row.attempts) == ("running", 1)

    clock.advance(seconds=31)  # the lease ran out
    second = "another-host|9|9|b|y"
    claimed = claim_run(ctx, run.id, second)
    assert claimed.owner == second and claimed.attempts == 2
    assert [s.status for s in claimed.steps] == ["running"]
    # the first owner is fenced off: it can neither renew nor write a step
    assert heartbeat(ctx, run.id, first) is False
    with pytest.raises(ConflictError) as caught:
        finish_step(ctx, run.id, first, 1, StepResult.success(), duration_ms=1)
    assert caught.value.details["reason"] == "lease_lost"
    again = begin_step(ctx, run.id, second, 1, Step("inspect", "look"))
    assert again.attempts == 2 and again.started_at == row.started_at
    finish_step(ctx, run.id, second, 1, StepResult.success({"x": 1}, "seen"), duration_ms=5)
    step = get_run(ctx, run.id).steps[0]
    assert (step.status, step.result, step.output) == (
        "completed",
        {"ok": True, "data": {"x": 1}, "error": None, "error_code": None},
        "seen",
    )
    assert lock_key("api", "production") == "api\nproduction"
    assert get_run(ctx, run.id).lease_until == clock.now + timedelta(seconds=30)


def test_the_server_marks_an_interrupted_run_once_and_never_takes_it(
    ctx: Context, clock: FakeClock
) -> None:
    from shipmate.services.runs.attention import mark_interrupted_runs

    live = _create(ctx, new_owner(), env="staging")  # driven by this live process
    gone = _create(ctx, "another-host|9|9|b|y")  # its host stopped renewing
    assert mark_interrupted_runs(ctx) == []  # both leases still hold
    clock.advance(seconds=31)
    heartbeat(ctx, live.id, live.owner or "")  # the live one renews

    [marked] = mark_interrupted_runs(ctx)

    assert marked.id == gone.id and marked.status == "running"
    assert marked.owner == "another-host|9|9|b|y" and marked.attempts == 1  # not taken over
    assert marked.attention is not None and f"shipmate runs resume {gone.id}" in marked.attention
    assert "on another-host" in marked.attention
    assert marked.attention_at == clock.now
    assert mark_interrupted_runs(ctx) == []  # once
    assert get_run(ctx, live.id).attention is None
    body = get_run(ctx, gone.id).to_dict(now=clock.now)
    assert body["state"] == "interrupted" and body["host"] == "another-host"
    assert body["attention"] == marked.attention
    claimed = claim_run(ctx, gone.id, new_owner())  # a process of its host takes it over
    assert claimed.attention is None and claimed.attention_at is None
