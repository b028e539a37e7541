"""The DORA computation: a period's facts in, one :class:`DoraReport` (or a daily series) out."""

from __future__ import annotations

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
    DeploymentFact,
    Outcome,
    aware,
    outcome_at,
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
    # outcome counts over the deployments finishing in the period, as at period_end
    completed: int  # went live, not rolled back by period_end
    rolled_back: int  # went live, rolled back before period_end
    failed: int  # failed after serving traffic
    stopped_before_traffic: int  # failed before serving any traffic
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

    @property
    def went_live(self) -> int:
        return self.completed + self.failed + self.rolled_back

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
                "stopped_before_traffic": self.stopped_before_traffic,
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
                "went_live": self.went_live,
                # The rate's denominator under its earlier name, kept for API clients.
                "finished": self.went_live,
                "stopped_before_traffic": self.stopped_before_traffic,
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
) -> list[tuple[DeploymentFact, Outcome]]:
    """The facts finishing in the period with their outcome at ``end``, by (finished_at, id)."""
    chosen = []
    for f in facts:
        if f.finished_at is None or not start <= f.finished_at < end:
            continue
        outcome = outcome_at(f, end)
        if outcome is not None:
            chosen.append((f, outcome))
    chosen.sort(key=lambda pair: (_finished(pair[0]), pair[0].id))
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


def _recoveries(
    in_period: Sequence[tuple[DeploymentFact, Outcome]],
) -> tuple[list[float], int]:
    """Each live failure's recovery time in seconds, and how many did not recover.

    Recovered by the first later deployment of its stream (in (finished_at, id)
    order) that went live and was not rolled back, or for a rolled-back
    deployment by its rollback being recorded, whichever came first.
    """
    recoveries: list[float] = []
    unrecovered = 0
    later_good: dict[str, datetime] = {}
    for fact, outcome in reversed(in_period):
        moments = []
        if outcome is Outcome.FAILED_LIVE:
            if fact.stream in later_good:
                moments.append(later_good[fact.stream])
            if fact.rolled_back_at is not None:
                moments.append(max(fact.rolled_back_at, _finished(fact)))
            if moments:
                recoveries.append((min(moments) - _finished(fact)).total_seconds())
            else:
                unrecovered += 1
        elif outcome is Outcome.GOOD:
            later_good[fact.stream] = _finished(fact)
    return recoveries, unrecovered


def compute_dora(
    facts: Sequence[DeploymentFact], *, period_start: datetime, period_end: datetime
) -> DoraReport:
    """The four DORA metrics over ``[period_start, period_end)`` (see the package docstring)."""
    start, end = _check_period(period_start, period_end)
    in_period = _in_period(facts, start, end)

    def count(outcome: Outcome) -> int:
        return sum(1 for _, o in in_period if o is outcome)

    rolled_back = sum(
        1 for f, o in in_period if o is Outcome.FAILED_LIVE and f.status == Status.ROLLED_BACK
    )
    failed = count(Outcome.FAILED_LIVE) - rolled_back
    completed = count(Outcome.GOOD)
    done = [f for f, _ in in_period if f.status in COMPLETED_STATUSES]
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
    went_live = completed + failures
    cfr = failures / went_live if went_live else None

    # failed deployment recovery time
    recoveries, unrecovered = _recoveries(in_period)
    recovery_median = percentile(recoveries, 50)

    return DoraReport(
        period_start=start,
        period_end=end,
        period_days=period_days,
        completed=completed,
        rolled_back=rolled_back,
        failed=failed,
        stopped_before_traffic=count(Outcome.STOPPED_BEFORE_TRAFFIC),
        aborted=count(Outcome.ABORTED),
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
        change_failure_rate_band=cfr_band(failures, went_live),
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

    Each row counts the deployments finishing in the period on that date, by
    their outcome at ``period_end`` as in the report: ``deployments`` the
    completed ones (rolled-back ones included), ``went_live`` those that served
    traffic, ``failures`` those of them that failed (rolled back, or failed after
    serving traffic), ``stopped_before_traffic`` the failures that never did.
    """
    start, end = _check_period(period_start, period_end)
    rows: dict[date, dict[str, Any]] = {
        day: {
            "date": day.isoformat(),
            "deployments": 0,
            "went_live": 0,
            "failures": 0,
            "stopped_before_traffic": 0,
        }
        for day in _period_dates(start, end)
    }
    for fact, outcome in _in_period(facts, start, end):
        row = rows[_utc_date(_finished(fact))]
        if fact.status in COMPLETED_STATUSES:
            row["deployments"] += 1
        if outcome in (Outcome.GOOD, Outcome.FAILED_LIVE):
            row["went_live"] += 1
        if outcome is Outcome.FAILED_LIVE:
            row["failures"] += 1
        if outcome is Outcome.STOPPED_BEFORE_TRAFFIC:
            row["stopped_before_traffic"] += 1
    return list(rows.values())
