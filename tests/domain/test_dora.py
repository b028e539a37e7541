"""DORA figures on hand-built deployment histories with known answers."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shipmate.domain.dora import (
    Band,
    DeploymentFact,
    DoraReport,
    compute_dora,
    daily_series,
    format_duration,
    percentile,
)
from shipmate.domain.lifecycle import Status
from shipmate.errors import InvalidInputError

# Monday 2 November 2026, 00:00 UTC.
T0 = datetime(2026, 11, 2, tzinfo=UTC)
HOUR = 3600.0
DAY = 86400.0


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def fact(
    id: int,
    status: str,
    finished_h: float | None,
    *,
    commits_h: tuple[float, ...] = (),
    kind: str = "deploy",
    stream: str = "",
    marked_h: float | None = None,
    live: bool = True,
) -> DeploymentFact:
    """A fact; ``marked_h`` is when a rolled-back one's rollback was recorded, and a
    failed one served traffic unless ``live`` is False (stopped before traffic)."""
    finished = None if finished_h is None else at(finished_h)
    started = None if finished_h is None else at(finished_h - 0.1)
    if status == "rolled_back" and marked_h is None:
        raise AssertionError("a rolled-back fact needs marked_h")
    return DeploymentFact(
        id=id,
        status=status,
        started_at=started,
        finished_at=finished,
        commit_times=tuple(at(h) for h in commits_h),
        kind=kind,
        stream=stream,
        rolled_back_at=None if marked_h is None else at(marked_h),
        served_traffic=status == "failed" and live,
    )


def report(facts: list[DeploymentFact], days: float = 28.0, start: datetime = T0) -> DoraReport:
    return compute_dora(facts, period_start=start, period_end=start + timedelta(days=days))


# --- percentile and durations ------------------------------------------------------


def test_percentile_is_nearest_rank() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0  # lower middle for an even count
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile([float(v) for v in range(1, 11)], 90) == 9.0
    assert percentile([float(v) for v in range(1, 12)], 90) == 10.0  # ceil(9.9) = 10
    assert percentile([7.0], 90) == 7.0
    assert percentile([], 50) is None
    with pytest.raises(InvalidInputError) as info:
        percentile([1.0], 0)
    assert info.value.field == "percent"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.4, "0s"),
        (42, "42s"),
        (60, "1m"),
        (303, "5m 3s"),
        (7500, "2h 5m"),
        (7200, "2h"),
        (3 * 86400 + 4 * 3600 + 59, "3d 4h"),
        (86400 + 30, "1d"),
        (-90, "-1m 30s"),
        (None, None),
    ],
)
def test_format_duration(seconds: float | None, text: str | None) -> None:
    assert format_duration(seconds) == text


# --- edge cases -------------------------------------------------------------------


def test_no_deployments_gives_zeros_and_no_bands() -> None:
    r = report([])
    assert (r.deployments, r.deployment_days, r.completed, r.failed) == (0, 0, 0, 0)
    assert r.deployments_per_day == 0.0
    assert r.deployments_per_week == 0.0
    assert r.lead_time_median is None and r.lead_time_p90 is None
    assert r.lead_time_samples == 0
    assert r.change_failure_rate is None
    assert r.recovery_median is None and r.recovery_p90 is None
    assert (r.recovered, r.unrecovered) == (0, 0)
    assert r.frequency_band is None
    assert r.lead_time_band is None
    assert r.change_failure_rate_band is None
    assert r.recovery_band is None
    d = r.to_dict()
    assert d["change_failure_rate"]["rate"] is None
    assert d["lead_time"]["median"] is None
    assert d["deployment_frequency"]["band"] is None
    assert d["period"] == {
        "start": "2026-11-02T00:00:00.000Z",
        "end": "2026-11-30T00:00:00.000Z",
        "days": 28.0,
    }


def test_only_failures() -> None:
    r = report([fact(1, "failed", 10), fact(2, "failed", 30), fact(3, "failed", 50)])
    assert r.failed == 3
    assert r.deployments == 0
    assert r.change_failure_rate == 1.0
    assert r.change_failure_rate_band is Band.LOW
    assert r.recovered == 0
    assert r.unrecovered == 3
    assert r.recovery_median is None
    assert r.recovery_band is None
    assert r.frequency_band is None
    assert r.to_dict()["recovery_time"]["unrecovered"] == 3


def test_rollback_chain() -> None:
    facts = [
        # day 1: a good deploy
        fact(1, "completed", 10, commits_h=(8,)),
        # day 2: a deploy that later got rolled back ...
        fact(2, "rolled_back", 34, commits_h=(32, 30), marked_h=34.5),
        # ... by a rollback to version 1 thirty minutes later
        fact(3, "completed", 34.5, commits_h=(8,), kind="rollback"),
        # day 3: the fix
        fact(4, "completed", 58, commits_h=(57,)),
    ]
    r = report(facts)
    assert r.deployments == 4  # a rolled-back deployment did complete
    assert (r.completed, r.rolled_back, r.rollbacks) == (3, 1, 1)
    assert r.change_failure_rate == pytest.approx(1 / 4)
    assert r.change_failure_rate_band is Band.LOW
    # recovery: from deployment 2's finish to the rollback's finish
    assert r.recovered == 1
    assert r.unrecovered == 0
    assert r.recovery_median == 1800.0
    assert r.recovery_band is Band.ELITE
    # lead time leaves the rollback out: 2h, 2h, 4h, 1h
    assert r.lead_time_samples == 4
    assert r.lead_time_median == 2 * HOUR
    assert r.lead_time_p90 == 4 * HOUR
    assert r.deployment_days == 3


def test_recovery_goes_to_the_next_completed_even_past_later_failures() -> None:
    facts = [
        fact(1, "failed", 10),
        fact(2, "aborted", 11),
        fact(3, "failed", 12),
        fact(4, "completed", 14),
        fact(5, "completed", 40),
    ]
    r = report(facts)
    assert r.recovery_median == 2 * HOUR  # 4h and 2h, both ending at deployment 4
    assert r.recovery_p90 == 4 * HOUR
    assert r.recovered == 2
    assert r.aborted == 1
    # aborted is outside the failure rate: 2 failures of 4 finished
    assert r.change_failure_rate == 0.5


def test_a_later_rolled_back_completion_does_not_recover_an_earlier_failure() -> None:
    facts = [
        fact(1, "failed", 10),
        fact(2, "rolled_back", 13, marked_h=13.25),
        fact(3, "completed", 13.25, kind="rollback"),
    ]
    r = report(facts)
    assert r.recovered == 2
    assert r.recovery_median == 0.25 * HOUR  # the rolled-back deployment's own recovery
    assert r.recovery_p90 == 3.25 * HOUR  # the failure, recovered by the rollback, not by 2


def test_a_rollback_mark_recovers_when_it_is_recorded() -> None:
    # 1 serves, 2 goes live and is marked rolled back 20 minutes later: 1 serves again
    facts = [fact(1, "completed", 10), fact(2, "rolled_back", 34, marked_h=34 + 1 / 3)]
    r = report(facts)
    assert (r.rolled_back, r.recovered, r.unrecovered) == (1, 1, 0)
    assert r.recovery_median == pytest.approx(1200.0)
    assert r.recovery_band is Band.ELITE


def test_a_fix_before_the_mark_recovers_first() -> None:
    facts = [
        fact(1, "rolled_back", 10, marked_h=40),
        fact(2, "completed", 12),
    ]
    assert report(facts).recovery_median == 2 * HOUR


def test_a_mark_recorded_before_the_finish_recovers_in_no_time() -> None:
    facts = [fact(1, "rolled_back", 10, marked_h=9)]
    assert report(facts).recovery_median == 0.0


def test_a_closed_period_does_not_change_when_a_rollback_is_recorded_later() -> None:
    before = [fact(1, "completed", 10), fact(2, "completed", 34), fact(3, "failed", 50)]
    later = [*before[:1], fact(2, "rolled_back", 34, marked_h=24 * 40), before[2]]
    # the 28-day period ends at hour 672; the mark comes at hour 960
    assert report(later) == report(before)
    assert report(later).completed == 2 and report(later).rolled_back == 0
    # the failure at hour 50 has no good deployment after it
    assert report(later).unrecovered == 1
    # over a period that includes the mark, it is a failure recovered at the mark
    longer = report(later, days=45)
    assert (longer.completed, longer.rolled_back, longer.recovered) == (1, 1, 1)
    assert longer.recovery_median == (24 * 40 - 34) * HOUR
    assert longer.change_failure_rate == pytest.approx(2 / 3)
    # at the mark's exact instant the period has not seen it yet
    assert report(later, days=40).rolled_back == 0


def test_a_deployment_stopped_before_traffic_is_counted_apart() -> None:
    facts = [
        fact(1, "completed", 10),
        fact(2, "failed", 20, live=False),  # its health check failed before the switch
        fact(3, "failed", 30, live=False),
        fact(4, "failed", 40),  # failed after the switch: it served traffic
        fact(5, "completed", 40.5, kind="rollback"),
        fact(6, "completed", 50),
    ]
    r = report(facts)
    assert (r.completed, r.failed, r.rolled_back, r.stopped_before_traffic) == (3, 1, 0, 2)
    assert r.went_live == 4
    assert r.change_failure_rate == pytest.approx(1 / 4)
    assert r.change_failure_rate_band is Band.LOW
    assert (r.recovered, r.unrecovered, r.recovery_median) == (1, 0, 0.5 * HOUR)
    assert r.deployments == 3
    d = r.to_dict()
    assert d["counts"]["stopped_before_traffic"] == 2
    assert d["change_failure_rate"]["stopped_before_traffic"] == 2
    assert d["change_failure_rate"]["went_live"] == 4
    stopped_only = report([fact(1, "completed", 10), fact(2, "failed", 20, live=False)])
    assert stopped_only.change_failure_rate == 0.0
    assert stopped_only.change_failure_rate_band is Band.ELITE
    assert stopped_only.unrecovered == 0


def test_a_completion_at_the_same_instant_is_not_a_recovery() -> None:
    r = report([fact(1, "completed", 10), fact(2, "failed", 10), fact(3, "completed", 11)])
    assert r.recovery_median == HOUR


def test_recovery_stays_within_a_stream() -> None:
    facts = [
        fact(1, "failed", 10, stream="api@production"),
        fact(2, "completed", 11, stream="web@production"),
        fact(3, "failed", 20, stream="web@production"),
        fact(4, "completed", 26, stream="web@production"),
    ]
    r = report(facts)
    assert r.recovered == 1
    assert r.recovery_median == 6 * HOUR
    assert r.unrecovered == 1
    # every other figure adds up over the streams
    assert r.deployments == 2
    assert r.change_failure_rate == 0.5


def test_recovery_after_the_period_counts_as_unrecovered() -> None:
    facts = [fact(1, "failed", 24 * 28 - 1), fact(2, "completed", 24 * 28 + 1)]
    r = report(facts)
    assert r.unrecovered == 1
    assert r.recovered == 0
    assert r.deployments == 0


def test_deployments_outside_the_period_are_ignored() -> None:
    start = T0 + timedelta(days=7)
    facts = [
        fact(1, "completed", 24 * 7 - 0.001, commits_h=(1,)),  # just before the start
        fact(2, "completed", 24 * 7, commits_h=(24 * 7 - 1,)),  # exactly at the start: in
        fact(3, "failed", 24 * 8),
        fact(4, "completed", 24 * 14, commits_h=(1,)),  # exactly at the end: out
        fact(5, "failed", 24 * 15),
        fact(6, "started", None),
        fact(7, "pending", None),
        fact(8, "completed", None),  # never finished: cannot be placed
    ]
    r = report(facts, days=7, start=start)
    assert r.deployments == 1
    assert r.failed == 1
    assert r.change_failure_rate == 0.5
    assert r.lead_time_samples == 1
    assert r.lead_time_median == HOUR
    assert r.unrecovered == 1  # deployment 4 finished at period_end, which is outside
    assert r.deployment_days == 1


def test_order_of_facts_does_not_matter() -> None:
    facts = [
        fact(i, status, h, commits_h=(h - i,), marked_h=31 if status == "rolled_back" else None)
        for i, (status, h) in enumerate(
            [
                ("completed", 5),
                ("failed", 9),
                ("completed", 12),
                ("rolled_back", 30),  # marked at hour 31
                ("completed", 31),
                ("completed", 80),
                ("failed", 100),
            ],
            start=1,
        )
    ]
    expected = report(facts)
    shuffled = facts[:]
    random.Random(7).shuffle(shuffled)
    assert report(shuffled) == expected
    assert expected.recovery_median == 1 * HOUR  # 3h, 1h, unrecovered -> lower of two
    assert expected.unrecovered == 1


# --- lead time --------------------------------------------------------------------


def test_lead_time_median_and_p90_on_known_values() -> None:
    # one deployment at hour 100 shipping commits 1h..10h old, one with 11h and
    # one commit "from the future" (clock skew), which is dropped.
    facts = [
        fact(1, "completed", 100, commits_h=tuple(100 - h for h in range(1, 11))),
        fact(2, "completed", 200, commits_h=(189, 201)),
    ]
    r = report(facts)
    assert r.lead_time_samples == 11
    assert r.lead_time_ignored == 1
    assert r.lead_time_median == 6 * HOUR  # rank ceil(5.5) = 6 of 1..11
    assert r.lead_time_p90 == 10 * HOUR  # rank ceil(9.9) = 10
    assert r.lead_time_band is Band.ELITE
    d = r.to_dict()["lead_time"]
    assert d["median"] == "6h"
    assert d["median_seconds"] == 6 * HOUR
    assert d["p90"] == "10h"


def test_failed_deployments_do_not_count_for_lead_time() -> None:
    r = report([fact(1, "failed", 50, commits_h=(1,)), fact(2, "aborted", 60, commits_h=(1,))])
    assert r.lead_time_samples == 0
    assert r.lead_time_median is None


@pytest.mark.parametrize(
    ("age_hours", "band"),
    [
        (23.99, Band.ELITE),
        (24, Band.HIGH),
        (24 * 7 - 0.01, Band.HIGH),
        (24 * 7, Band.MEDIUM),
        (24 * 30 - 0.01, Band.MEDIUM),
        (24 * 30, Band.LOW),
    ],
)
def test_lead_time_band_boundaries(age_hours: float, band: Band) -> None:
    finished = 24 * 40.0
    start = T0
    r = report(
        [fact(1, "completed", finished, commits_h=(finished - age_hours,))], days=41, start=start
    )
    assert r.lead_time_band is band


# --- change failure rate ----------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "total", "band"),
    [
        (1, 20, Band.ELITE),  # exactly 5 %
        (1, 19, Band.HIGH),  # 5.3 %
        (2, 20, Band.HIGH),  # exactly 10 %
        (3, 20, Band.MEDIUM),  # exactly 15 %
        (4, 20, Band.LOW),
        (0, 3, Band.ELITE),
    ],
)
def test_change_failure_rate_band_boundaries(failures: int, total: int, band: Band) -> None:
    facts = [
        fact(i, "failed" if i <= failures else "completed", float(i)) for i in range(1, total + 1)
    ]
    r = report(facts)
    assert r.change_failure_rate == pytest.approx(failures / total)
    assert r.change_failure_rate_band is band


# --- recovery bands ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "band"),
    [
        (3599 / 3600, Band.ELITE),
        (1, Band.HIGH),
        (23.9, Band.HIGH),
        (24, Band.MEDIUM),
        (24 * 7 - 0.1, Band.MEDIUM),
        (24 * 7, Band.LOW),
    ],
)
def test_recovery_band_boundaries(hours: float, band: Band) -> None:
    r = report([fact(1, "failed", 10), fact(2, "completed", 10 + hours)])
    assert r.recovery_median == pytest.approx(hours * HOUR)
    assert r.recovery_band is band


# --- deployment frequency ---------------------------------------------------------


def test_frequency_per_day_week_and_deployment_days() -> None:
    plus_one = timezone(timedelta(hours=1))
    plus_two = timezone(timedelta(hours=2))
    facts = [
        fact(1, "completed", 1),
        fact(2, "completed", 5),  # same UTC date as 1
        fact(3, "rolled_back", 30, marked_h=31),
        fact(4, "failed", 40),  # not a completed deployment
        fact(9, "failed", 41, live=False),
        fact(5, "aborted", 50),
        # 23:30 at +01:00 on 5 November is 22:30 UTC on 5 November
        DeploymentFact(6, "completed", None, datetime(2026, 11, 5, 23, 30, tzinfo=plus_one)),
        # 00:30 at +02:00 on 6 November is still 5 November in UTC
        DeploymentFact(7, "completed", None, datetime(2026, 11, 6, 0, 30, tzinfo=plus_two)),
        fact(8, "completed", 24 * 10),
    ]
    r = report(facts, days=14)
    assert r.deployments == 6
    assert r.deployments_per_day == pytest.approx(6 / 14)
    assert r.deployments_per_week == pytest.approx(3.0)
    assert r.deployment_days == 4  # 2, 3, 5 and 12 November
    series = daily_series(facts, T0, T0 + timedelta(days=14))
    assert len(series) == 14

    def row(day: str, deployments: int, went_live: int, failures: int, stopped: int) -> object:
        return {
            "date": day,
            "deployments": deployments,
            "went_live": went_live,
            "failures": failures,
            "stopped_before_traffic": stopped,
        }

    assert series[0] == row("2026-11-02", 2, 2, 0, 0)
    assert series[1] == row("2026-11-03", 1, 2, 2, 1)
    assert series[3] == row("2026-11-05", 2, 2, 0, 0)
    assert series[10] == row("2026-11-12", 1, 1, 0, 0)
    assert sum(row["deployments"] for row in series) == r.deployments
    assert sum(row["went_live"] for row in series) == r.went_live
    assert sum(row["failures"] for row in series) == r.failures
    assert sum(row["stopped_before_traffic"] for row in series) == r.stopped_before_traffic


def _every_week(days_per_week: int, weeks: int = 4) -> list[DeploymentFact]:
    facts: list[DeploymentFact] = []
    for week in range(weeks):
        for day in range(days_per_week):
            facts.append(fact(len(facts) + 1, "completed", 24 * (7 * week + day) + 12))
            facts.append(fact(len(facts) + 1, "completed", 24 * (7 * week + day) + 13))
    return facts


def test_frequency_bands() -> None:
    elite = report(_every_week(3))
    assert elite.median_deployment_days_per_week == 3
    assert elite.frequency_band is Band.ELITE
    high = report(_every_week(2))
    assert high.frequency_band is Band.HIGH
    assert report(_every_week(1)).frequency_band is Band.HIGH
    # 3 days a week in two weeks of four: the median (lower middle) is 0 → judged per month
    two_of_four = [f for f in _every_week(3) if _week_of(f) in (0, 1)]
    r = report(two_of_four)
    assert r.median_deployment_days_per_week == 0
    assert r.median_deployment_days_per_month == 6
    assert r.frequency_band is Band.MEDIUM
    # once in 90 days: months [0, 0, 1] → low
    once = report([fact(1, "completed", 24 * 80)], days=90)
    assert once.median_deployment_days_per_month == 0
    assert once.frequency_band is Band.LOW


def _week_of(f: DeploymentFact) -> int:
    assert f.finished_at is not None
    return (f.finished_at - T0).days // 7


def test_frequency_band_weeks_count_back_from_the_end() -> None:
    # 31 dates: four full weeks from the end, three leftover dates at the start.
    # Deploying only on the first date counts in the figures, not in the band.
    r = report([fact(1, "completed", 12)], days=31)
    assert r.deployments == 1
    assert r.deployment_days == 1
    assert r.median_deployment_days_per_week == 0
    assert r.median_deployment_days_per_month == 0  # the last 30 dates
    assert r.frequency_band is Band.LOW


def test_frequency_band_needs_a_week() -> None:
    r = report(_every_week(3, weeks=1), days=6)
    assert r.deployments == 6
    assert r.median_deployment_days_per_week is None
    assert r.frequency_band is None
    r7 = report(_every_week(3, weeks=1), days=7)
    assert r7.frequency_band is Band.ELITE


# --- output and input -------------------------------------------------------------


def test_to_dict_is_json_and_has_human_durations() -> None:
    facts = [
        fact(1, "failed", 10),
        fact(2, "completed", 12 + 5 / 60, commits_h=(10,)),
    ]
    d = report(facts).to_dict()
    json.dumps(d)
    assert d["recovery_time"]["median"] == "2h 5m"
    assert d["recovery_time"]["median_seconds"] == pytest.approx(7500.0)
    assert d["lead_time"]["median"] == "2h 5m"
    assert d["change_failure_rate"] == {
        "rate": 0.5,
        "percent": 50.0,
        "failures": 1,
        "went_live": 2,
        "finished": 2,
        "stopped_before_traffic": 0,
        "band": "low",
    }
    assert d["deployment_frequency"]["deployments"] == 1
    assert d["deployment_frequency"]["per_week"] == pytest.approx(0.25)
    assert d["counts"] == {
        "completed": 1,
        "rolled_back": 0,
        "failed": 1,
        "stopped_before_traffic": 0,
        "aborted": 0,
        "rollbacks": 0,
    }


def test_status_enum_is_accepted_and_normalised() -> None:
    f = DeploymentFact(1, Status.COMPLETED, None, at(1), [at(0)], "deploy")  # type: ignore[arg-type]
    assert f.status == "completed"
    assert type(f.status) is str
    assert f.commit_times == (at(0),)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"status": "success"}, "status"),
        ({"kind": "redeploy"}, "kind"),
        ({"finished_at": datetime(2026, 11, 2, 10)}, "finished_at"),
        ({"started_at": "2026-11-02T10:00:00Z"}, "started_at"),
        ({"commit_times": (datetime(2026, 11, 2, 9),)}, "commit_times"),
        ({"commit_times": "abc"}, "commit_times"),
        ({"id": "7"}, "id"),
        ({"status": "rolled_back"}, "rolled_back_at"),
        ({"rolled_back_at": datetime(2026, 11, 2, 10, tzinfo=UTC)}, "rolled_back_at"),
        ({"status": "rolled_back", "rolled_back_at": datetime(2026, 11, 2)}, "rolled_back_at"),
        ({"served_traffic": "yes"}, "served_traffic"),
    ],
)
def test_bad_facts_are_refused_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    values: dict[str, object] = {
        "id": 1,
        "status": "completed",
        "started_at": None,
        "finished_at": at(1),
        "commit_times": (),
        "kind": "deploy",
    }
    values.update(kwargs)
    with pytest.raises(InvalidInputError) as info:
        DeploymentFact(**values)  # type: ignore[arg-type]
    assert info.value.field == field


def test_bad_periods_are_refused() -> None:
    with pytest.raises(InvalidInputError) as info:
        compute_dora([], period_start=T0, period_end=T0)
    assert info.value.field == "period_end"
    with pytest.raises(InvalidInputError) as info:
        compute_dora([], period_start=datetime(2026, 11, 2), period_end=T0)
    assert info.value.field == "period_start"
    with pytest.raises(InvalidInputError) as info:
        daily_series([], T0, T0 - timedelta(days=1))
    assert info.value.field == "period_end"


def test_daily_series_covers_partial_days() -> None:
    start = T0 + timedelta(hours=12)
    end = start + timedelta(days=2)  # 2 Nov 12:00 → 4 Nov 12:00 touches 3 dates
    series = daily_series([fact(1, "completed", 13), fact(2, "completed", 11)], start, end)
    assert [row["date"] for row in series] == ["2026-11-02", "2026-11-03", "2026-11-04"]
    assert [row["deployments"] for row in series] == [1, 0, 0]
