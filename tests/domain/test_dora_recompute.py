"""The failure rate and recovery of random histories against a naive recomputation of the
documented definitions (docs/metrics.md), and a closed period against later rollback marks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shipmate.domain.dora import DeploymentFact, compute_dora

T0 = datetime(2026, 11, 2, tzinfo=UTC)
START, END = T0, T0 + timedelta(hours=100)


@st.composite
def histories(draw: st.DrawFn) -> list[DeploymentFact]:
    facts = []
    for i in range(draw(st.integers(0, 14))):
        status = draw(st.sampled_from(["completed", "rolled_back", "failed", "aborted", "started"]))
        finished = T0 + timedelta(hours=draw(st.integers(-10, 110)))
        marked = finished + timedelta(hours=draw(st.integers(-1, 60)))
        facts.append(
            DeploymentFact(
                id=i + 1,
                status=status,
                started_at=None,
                finished_at=None if status == "started" else finished,
                stream=draw(st.sampled_from(["api@production", "web@production"])),
                rolled_back_at=marked if status == "rolled_back" else None,
                served_traffic=status == "failed" and draw(st.booleans()),
            )
        )
    return facts


def naive(facts: list[DeploymentFact]) -> tuple[float | None, list[float], int, int]:
    """Failure rate, sorted recovery times, unrecovered and stopped, straight from the docs."""
    period = [
        f
        for f in facts
        if f.finished_at is not None and START <= f.finished_at < END and f.status != "started"
    ]

    def good(f: DeploymentFact) -> bool:
        return f.status == "completed" or (
            f.status == "rolled_back" and f.rolled_back_at is not None and f.rolled_back_at >= END
        )

    def failure(f: DeploymentFact) -> bool:
        marked_before_end = f.rolled_back_at is not None and f.rolled_back_at < END
        return (f.status == "rolled_back" and marked_before_end) or (
            f.status == "failed" and f.served_traffic
        )

    goods = [f for f in period if good(f)]
    failures = [f for f in period if failure(f)]
    stopped = sum(1 for f in period if f.status == "failed" and not f.served_traffic)
    live = len(goods) + len(failures)
    rate = len(failures) / live if live else None
    recoveries, unrecovered = [], 0
    for f in failures:
        assert f.finished_at is not None
        moments = [
            g.finished_at
            for g in goods
            if g.stream == f.stream
            and g.finished_at is not None
            and (g.finished_at, g.id) > (f.finished_at, f.id)
        ]
        if f.status == "rolled_back" and f.rolled_back_at is not None:
            moments.append(max(f.rolled_back_at, f.finished_at))
        if moments:
            recoveries.append((min(moments) - f.finished_at).total_seconds())
        else:
            unrecovered += 1
    return rate, sorted(recoveries), unrecovered, stopped


@settings(max_examples=300, deadline=None)
@given(histories())
def test_failure_rate_and_recovery_match_the_definitions(facts: list[DeploymentFact]) -> None:
    report = compute_dora(facts, period_start=START, period_end=END)
    rate, recoveries, unrecovered, stopped = naive(facts)
    assert report.change_failure_rate == rate
    assert report.recovered == len(recoveries)
    assert report.unrecovered == unrecovered
    assert report.stopped_before_traffic == stopped
    median = recoveries[(len(recoveries) + 1) // 2 - 1] if recoveries else None
    assert report.recovery_median == median


@settings(max_examples=200, deadline=None)
@given(histories())
def test_a_rollback_recorded_after_the_period_changes_nothing_in_it(
    facts: list[DeploymentFact],
) -> None:
    unmarked = [
        replace(f, status="completed", rolled_back_at=None)
        if f.rolled_back_at is not None and f.rolled_back_at >= END
        else f
        for f in facts
    ]
    assert compute_dora(facts, period_start=START, period_end=END) == compute_dora(
        unmarked, period_start=START, period_end=END
    )
