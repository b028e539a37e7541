"""The drain step in real runs (real database) with fake target and switch, and real
``grace`` and ``http`` drain checks (an in-flight counter on loopback HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from shipmate.errors import ConfigError
from shipmate.services.context import Context
from shipmate.services.deploys.deploy import DeployRequest
from shipmate.services.deploys.rollback import choose_rollback, rollback
from shipmate.services.draining.check import check_draining
from shipmate.services.draining.states import list_version_states
from shipmate.services.runs.control import get_run, list_runs
from shipmate.services.runs.observer import CollectingObserver
from shipmate.store.schema import events
from tests.draining.conftest import Counter, DrainSetup, setup_with


def states(setup: DrainSetup) -> dict[str, tuple[str, str | None, int | None]]:
    return {
        s.full_version: (s.state, s.slot, s.pending)
        for s in list_version_states(setup.ctx, "api", setup.env)
    }


def events_of(ctx: Context, type_: str) -> list[dict[str, Any]]:
    with ctx.read() as conn:
        rows = conn.execute(select(events.c.data).where(events.c.type == type_)).all()
    return [dict(r.data) for r in rows]


def http_drain(counter: Counter, **extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "url": counter.url,
        "interval": 0.02,
        "consecutive_zeros": 2,
        "deadline": 10,
        **extra,
    }


def test_grace_drain_then_retire_records_duration(ctx: Context, tmp_path: Path) -> None:
    setup = setup_with(ctx, tmp_path, {"type": "grace", "seconds": 0.2, "interval": 0.05})
    first = setup.deploy("1.0.0")
    assert first.ok and first.run.status == "completed"
    # the first deploy has no old slot: no drain wait, but the drain guard ran
    names = [s.name for s in get_run(ctx, first.run.id).steps]
    assert "drain_guard" in names
    # no row yet: the current deployment is listed active (its slot is not known)
    assert states(setup) == {"1.0.0": ("active", None, None)}

    second = setup.deploy("2.0.0")
    assert second.ok and second.end is not None and second.end.retired
    run = get_run(ctx, second.run.id)
    assert [s.name for s in run.steps][-3:] == ["record_completed", "drain", "retire"]
    drain = next(s for s in run.steps if s.name == "drain")
    assert drain.result is not None
    assert drain.result["data"]["drained"] is True
    assert drain.result["data"]["drain_seconds"] >= 0.2
    assert states(setup) == {"2.0.0": ("active", "green", None), "1.0.0": ("retired", "blue", 0)}
    assert not setup.fakes.target.is_running("blue")
    [retired] = [s for s in list_version_states(ctx, "api") if s.full_version == "1.0.0"]
    assert retired.drain_seconds is not None and retired.drain_seconds >= 0.2
    drained = events_of(ctx, "version.drained")
    assert [(e["full_version"], e["environment"]) for e in drained] == [("1.0.0", "production")]
    assert drained[0]["drain_seconds"] >= 0.2


def test_http_drain_shows_the_count_going_down(
    ctx: Context, tmp_path: Path, counter: Counter
) -> None:
    setup = setup_with(ctx, tmp_path, http_drain(counter))
    assert setup.deploy("1.0.0").ok
    counter.set("1.0.0", 3, 2, 1, 0)
    observer = CollectingObserver()
    outcome = setup.deploy("2.0.0", observer=observer)
    assert outcome.ok and outcome.run.status == "completed"
    progress = [e[2] for e in observer.events if e[0] == "step_progress" and e[1] == "drain"]
    counts = [int(p.split(" ")[0]) for p in progress]
    assert counts[:4] == [3, 2, 1, 0] and counts[-1] == 0
    assert "1.0.0" in counter.asked and "2.0.0" not in counter.asked
    assert states(setup)["1.0.0"][0] == "retired"


def test_deadline_keep_leaves_the_old_slot_and_drain_check_finishes(
    ctx: Context, tmp_path: Path, counter: Counter
) -> None:
    setup = setup_with(ctx, tmp_path, http_drain(counter, deadline=0.2, on_deadline="keep"))
    assert setup.deploy("1.0.0").ok
    counter.set("1.0.0", 3)
    outcome = setup.deploy("2.0.0")
    assert outcome.ok and outcome.end is not None
    assert outcome.run.status == "completed_draining"
    assert outcome.run.error is None
    assert "left running until its in-flight work drains" in outcome.end.message
    assert not outcome.end.retired
    assert setup.fakes.target.running_version("blue") == "1.0.0"
    assert states(setup) == {"2.0.0": ("active", "green", None), "1.0.0": ("draining", "blue", 3)}
    assert [r.status for r in list_runs(ctx, status="completed_draining")] == ["completed_draining"]

    # still 3 pending: drain check reports it and leaves the slot running
    [report] = check_draining(ctx, "api", parts_for=setup.fakes.parts)
    assert (report.outcome, report.pending) == ("draining", 3)
    assert setup.fakes.target.running_version("blue") == "1.0.0"

    # a new deploy would start in blue and kill the draining work: refused before the start
    refused = setup.deploy("3.0.0")
    assert not refused.ok and refused.end is not None
    assert refused.end.failed_step == "drain_guard"
    assert "still runs 1.0.0, which is draining" in (refused.end.error or "")
    assert setup.fakes.target.running_version("blue") == "1.0.0"

    counter.set("1.0.0", 0)
    [report] = check_draining(ctx, "api", parts_for=setup.fakes.parts)
    assert report.outcome == "retired"
    assert not setup.fakes.target.is_running("blue")
    assert states(setup)["1.0.0"][0] == "retired"
    assert [e["full_version"] for e in events_of(ctx, "version.drained")] == ["1.0.0"]
    assert check_draining(ctx, "api", parts_for=setup.fakes.parts) == []


def test_deadline_force_retires_and_audits_the_count(
    ctx: Context, tmp_path: Path, counter: Counter
) -> None:
    setup = setup_with(ctx, tmp_path, http_drain(counter, deadline=0.2, on_deadline="force"))
    assert setup.deploy("1.0.0").ok
    counter.set("1.0.0", 4)
    outcome = setup.deploy("2.0.0")
    assert outcome.ok and outcome.run.status == "completed"
    assert outcome.end is not None and outcome.end.retired
    assert not setup.fakes.target.is_running("blue")
    [state] = [s for s in list_version_states(ctx, "api") if s.full_version == "1.0.0"]
    assert (state.state, state.forced, state.forced_pending) == ("retired", True, 4)
    [audit] = events_of(ctx, "version.force_retired")
    assert (audit["full_version"], audit["pending"]) == ("1.0.0", 4)
    assert "4 pending" in audit["reason"]
    assert events_of(ctx, "version.drained") == []


def test_rollback_while_draining_switches_back_to_the_warm_slot(
    ctx: Context, tmp_path: Path, counter: Counter
) -> None:
    setup = setup_with(ctx, tmp_path, http_drain(counter, deadline=0.2))
    assert setup.deploy("1.0.0").ok
    counter.set("1.0.0", 2)
    assert setup.deploy("2.0.0").run.status == "completed_draining"
    assert states(setup)["1.0.0"] == ("draining", "blue", 2)

    counter.set("2.0.0", 0)
    choice = choose_rollback(ctx, "api", "production")
    assert choice.target.full_version == "1.0.0"
    outcome = rollback(
        ctx,
        setup.fakes.deploy,
        choice,
        DeployRequest("api", "production", "1.0.0", actor="oncall"),
        parts_factory=setup.fakes.parts,
    )
    assert outcome.ok
    names = [s.name for s in get_run(ctx, outcome.run.id).steps]
    assert "start" not in names  # the warm slot: a switch back and nothing else
    assert setup.fakes.switch.current() is not None
    assert setup.fakes.switch.current().slot == "blue"  # type: ignore[union-attr]
    assert states(setup)["1.0.0"] == ("active", "blue", None)
    assert states(setup)["2.0.0"][0] == "retired"


def test_bad_drain_table_refuses_the_deploy_before_anything_runs(
    ctx: Context, tmp_path: Path
) -> None:
    setup = setup_with(ctx, tmp_path, {"type": "http", "url": "ftp://x", "interval": 1})
    with pytest.raises(ConfigError) as caught:
        setup.deploy("1.0.0")
    assert caught.value.field == "products.api.deploy.drain.url"
    assert list_runs(ctx) == []
    setup = setup_with(ctx, tmp_path, {"type": "grace", "seconds": 1, "deadline": -1})
    with pytest.raises(ConfigError, match=r"drain\.deadline"):
        setup.deploy("1.0.0")


def test_rollback_in_the_middle_of_a_drain_supersedes_it(
    ctx: Context, tmp_path: Path, counter: Counter
) -> None:
    import threading
    import time

    setup = setup_with(ctx, tmp_path, http_drain(counter, deadline=30))
    assert setup.deploy("1.0.0").ok
    counter.set("1.0.0", 5)
    counter.set("2.0.0", 0)
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(setup.deploy("2.0.0")))
    thread.start()
    try:
        limit = time.monotonic() + 20
        while states(setup).get("1.0.0", ("",))[0] != "draining":
            assert time.monotonic() < limit, "v1 never started draining"
            time.sleep(0.02)
        choice = choose_rollback(ctx, "api", "production")
        outcome = rollback(
            ctx,
            setup.fakes.deploy,
            choice,
            DeployRequest("api", "production", "1.0.0", actor="oncall"),
            parts_factory=setup.fakes.parts,
        )
    finally:
        thread.join(30)
    assert outcome.ok
    assert "start" not in [s.name for s in get_run(ctx, outcome.run.id).steps]
    [drained_run] = result
    assert drained_run.superseded
    assert get_run(ctx, drained_run.run.id).status == "superseded"
    assert setup.fakes.target.running_version("blue") == "1.0.0"
    assert states(setup)["1.0.0"] == ("active", "blue", None)
