"""The DORA computation: a period's facts in, one :class:`DoraReport` (or a daily series) out."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shipmate.domain.dora.bands import (
    DAY,
    LEAD_TIME_BANDS,
    MONTH_DATES,
    RECOVERY_BANDS,
    WEEK_DATES,
    Band,
    band_below,
    cfr_band,
    format_duration,
    frequency_band,
    percentile,
)
from shipmate.domain.dora.facts import (
    COMPLETED_STATUSES,
    FAILURE_STATUSES,
    DeploymentFact,
    aware,
)
from shipmate.domain.inputs.fields import format_time
from shipmate.domain.lifecycle import DeploymentKind, Status
from shipmate.errors import InvalidInputError

__all__ = ["DoraReport", "compute_dora", "daily_series"]


@dataclass(frozen=True, slots=True)
class DoraReport:
    """Every figure of one DORA computation; durations in seconds."""

    period_start: datetime
    period_end: datetime
    period_days: float
    # status counts over the deployments finishing in the period
    completed: int
    rolled_back: int
    failed: int
    aborted: int
    rollbacks: int
    # deployment frequency
    deployments: int
    deployments_per_day: float
    deployments_per_week: float
    deployment_days: int
    median_deployment_days_per_week: float | None
    median_deployment_days_per_month: float | None
    frequency_band: Band | None
    # lead time for changes
    lead_time_median: float | None
    lead_time_p90: float | None
    lead_time_samples: int
    lead_time_ignored: int
    lead_time_band: Band | None
    # change failure rate
    change_failure_rate: float | None
    change_failure_rate_band: Band | None
    # failed deployment recovery time
    recovery_median: float | None
    recovery_p90: float | None
    recovered: int
    unrecovered: int
    recovery_band: Band | None

    @property
    def failures(self) -> int:
        return self.failed + self.rolled_back

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: RFC 3339 times, seconds as numbers and as short human strings."""

        def band(value: Band | None) -> str | None:
            return None if value is None else value.value

        return {
            "period": {
                "start": format_time(self.period_start),
                "end": format_time(self.period_end),
                "days": self.period_days,
            },
            "counts": {
                "completed": self.completed,
                "rolled_back": self.rolled_back,
                "failed": self.failed,
                "aborted": self.aborted,
                "rollbacks": self.rollbacks,
            },
            "deployment_frequency": {
                "deployments": self.deployments,
                "per_day": self.deployments_per_day,
                "per_week": self.deployments_per_week,
                "deployment_days": self.deployment_days,
                "median_deployment_days_per_week": self.median_deployment_days_per_week,
                "median_deployment_days_per_month": self.median_deployment_days_per_month,
                "band": band(self.frequency_band),
            },
            "lead_time": {
                "median_seconds": self.lead_time_median,
                "median": format_duration(self.lead_time_median),
                "p90_seconds": self.lead_time_p90,
                "p90": format_duration(self.lead_time_p90),
                "samples": self.lead_time_samples,
                "ignored": self.lead_time_ignored,
                "band": band(self.lead_time_band),
            },
            "change_failure_rate": {
                "rate": self.change_failure_rate,
                "percent": (
                    None
                    if self.change_failure_rate is None
                    else round(self.change_failure_rate * 100, 1)
                ),
                "failures": self.failures,
                "finished": self.completed + self.failed + self.rolled_back,
                "band": band(self.change_failure_rate_band),
            },
            "recovery_time": {
                "median_seconds": self.recovery_median,
                "median": format_duration(self.recovery_median),
                "p90_seconds": self.recovery_p90,
                "p90": format_duration(self.recovery_p90),
                "recovered": self.recovered,
                "unrecovered": self.unrecovered,
                "band": band(self.recovery_band),
            },
        }


def _check_period(period_start: object, period_end: object) -> tuple[datetime, datetime]:
    start = aware(period_start, field="period_start")
    end = aware(period_end, field="period_end")
    if end <= start:
        raise InvalidInputError(
            f"period_end {format_time(end)} must be after period_start {format_time(start)}",
            field="period_end",
        )
    return start.astimezone(UTC), end.astimezone(UTC)


def _finished(fact: DeploymentFact) -> datetime:
    assert fact.finished_at is not None
    return fact.finished_at


def _in_period(
    facts: Iterable[DeploymentFact], start: datetime, end: datetime
) -> list[DeploymentFact]:
    chosen = [
        f
        for f in facts
        if f.finished_at is not None
        and f.status not in (Status.PENDING, Status.STARTED)
        and start <= f.finished_at < end
    ]
    chosen.sort(key=lambda f: (_finished(f), f.id))
    return chosen


def _utc_date(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _period_dates(start: datetime, end: datetime) -> list[date]:
    """Every UTC date the half-open period touches."""
    first = _utc_date(start)
    last = _utc_date(end - timedelta(microseconds=1))
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _median_days_per_window(
    dates: list[date], deploy_dates: set[date], size: int, *, whole_if_short: bool
) -> float | None:
    """Median deployment dates per window of ``size`` dates, windows counted back from the end."""
    if len(dates) < size:
        if not whole_if_short:
            return None
        windows = [dates]
    else:
        windows = [dates[i - size : i] for i in range(len(dates), size - 1, -size)]
    counts = [float(sum(1 for d in window if d in deploy_dates)) for window in windows]
    return percentile(counts, 50)


def compute_dora(
    facts: Sequence[DeploymentFact], *, period_start: datetime, period_end: datetime
) -> DoraReport:
    """The four DORA metrics over ``[period_start, period_end)`` (see the module docstring)."""
    start, end = _check_period(period_start, period_end)
    in_period = _in_period(facts, start, end)

    completed = sum(1 for f in in_period if f.status == Status.COMPLETED)
    rolled_back = sum(1 for f in in_period if f.status == Status.ROLLED_BACK)
    failed = sum(1 for f in in_period if f.status == Status.FAILED)
    aborted = sum(1 for f in in_period if f.status == Status.ABORTED)
    done = [f for f in in_period if f.status in COMPLETED_STATUSES]
    rollbacks = sum(1 for f in done if f.kind == DeploymentKind.ROLLBACK)

    # deployment frequency
    period_days = (end - start).total_seconds() / DAY
    deployments = len(done)
    per_day = deployments / period_days
    deploy_dates = {_utc_date(_finished(f)) for f in done}
    dates = _period_dates(start, end)
    median_week = _median_days_per_window(dates, deploy_dates, WEEK_DATES, whole_if_short=False)
    median_month = (
        _median_days_per_window(dates, deploy_dates, MONTH_DATES, whole_if_short=True)
        if median_week is not None
        else None
    )

    # lead time for changes
    samples: list[float] = []
    ignored = 0
    for fact in done:
        if fact.kind == DeploymentKind.ROLLBACK:
            continue
        for commit_time in fact.commit_times:
            seconds = (_finished(fact) - commit_time).total_seconds()
            if seconds < 0:
                ignored += 1
            else:
                samples.append(seconds)
    lead_median = percentile(samples, 50)

    # change failure rate
    failures = failed + rolled_back
    finished = completed + failed + rolled_back
    cfr = failures / finished if finished else None

    # failed deployment recovery time
    completions: dict[str, list[datetime]] = defaultdict(list)
    for fact in done:  # sorted by finished_at, and all before period_end
        completions[fact.stream].append(_finished(fact))
    recoveries: list[float] = []
    unrecovered = 0
    for fact in in_period:
        if fact.status not in FAILURE_STATUSES:
            continue
        times = completions.get(fact.stream, [])
        index = bisect.bisect_right(times, _finished(fact))
        if index < len(times):
            recoveries.append((times[index] - _finished(fact)).total_seconds())
        else:
            unrecovered += 1
    recovery_median = percentile(recoveries, 50)

    return DoraReport(
        period_start=start,
        period_end=end,
        period_days=period_days,
        completed=completed,
        rolled_back=rolled_back,
        failed=failed,
        aborted=aborted,
        rollbacks=rollbacks,
        deployments=deployments,
        deployments_per_day=per_day,
        deployments_per_week=per_day * 7,
        deployment_days=len(deploy_dates),
        median_deployment_days_per_week=median_week,
        median_deployment_days_per_month=median_month,
        frequency_band=frequency_band(median_week, median_month, deployments),
        lead_time_median=lead_median,
        lead_time_p90=percentile(samples, 90),
        lead_time_samples=len(samples),
        lead_time_ignored=ignored,
        lead_time_band=band_below(lead_median, LEAD_TIME_BANDS),
        change_failure_rate=cfr,
        change_failure_rate_band=cfr_band(failures, finished),
        recovery_median=recovery_median,
        recovery_p90=percentile(recoveries, 90),
        recovered=len(recoveries),
        unrecovered=unrecovered,
        recovery_band=band_below(recovery_median, RECOVERY_BANDS),
    )


def daily_series(
    facts: Sequence[DeploymentFact], period_start: datetime, period_end: datetime
) -> list[dict[str, Any]]:
    """One row per UTC date the period touches, oldest first, for charts.

    ``deployments`` counts completed deployments (completed or rolled_back) and
    ``failures`` counts failed or rolled-back ones, each finishing in the
    period on that date (a rolled-back deployment counts in both, as in the
    report).
    """
    start, end = _check_period(period_start, period_end)
    rows: dict[date, dict[str, Any]] = {
        day: {"date": day.isoformat(), "deployments": 0, "failures": 0}
        for day in _period_dates(start, end)
    }
    for fact in _in_period(facts, start, end):
        row = rows[_utc_date(_finished(fact))]
        if fact.status in COMPLETED_STATUSES:
            row["deployments"] += 1
        if fact.status in FAILURE_STATUSES:
            row["failures"] += 1
    return list(rows.values())
