"""DORA metrics computed from shipmate's own deployment records.

Pure: the caller loads the deployments, passes the period and gets a report.
Nothing here reads a clock, a database or a repository.

Input
=====

One :class:`DeploymentFact` per deployment.  The facts may belong to one
product in one environment, or to several: each fact carries a ``stream`` key
(for example ``"api@production"``; default ``""``) and *recovery* is only
ever measured within one stream.  Every other figure adds up over all the
facts given.  Order does not matter; facts are sorted by ``(finished_at, id)``.

The period is half-open: a deployment is *in the period* when
``period_start <= finished_at < period_end``.  Facts without ``finished_at``
and facts whose status is ``pending`` or ``started`` are ignored.  A
rolled-back deployment is placed by its own ``finished_at`` (when it finished
deploying), not by the time it was marked rolled back.

*Completed deployment* means status ``completed`` or ``rolled_back`` (a
rolled-back deployment did complete; it was reverted later).  *Failure* means
status ``failed`` or ``rolled_back``.  ``aborted`` deployments are neither:
they are counted (``aborted``) and otherwise ignored.

Percentiles use the **nearest-rank** method everywhere: for ``n`` values
sorted ascending, the p-th percentile is the value at 1-based rank
``ceil(p × n / 100)``.  So the median (p50) of an even count is the lower of
the two middle values; p90 of 10 values is the 9th.

Definitions
===========

Deployment frequency
    The number of completed deployments in the period (every kind: deploy,
    rollback, rollforward), divided by the period's length in days
    (``(period_end − period_start) / 86 400 s``) for *per day*, times 7 for
    *per week*.  **Deployment days** is the number of distinct UTC calendar
    dates on which at least one completed deployment of the period finished.

Lead time for changes
    For every completed deployment in the period whose kind is not
    ``rollback`` (a rollback ships no new change), and for every time in its
    ``commit_times`` (the commits newly shipped by it, or only the deployed
    commit's time when no repository is available), one sample
    ``finished_at − commit_time``.  Samples below zero (a commit time after
    the deployment finished: clock skew) are dropped and counted in
    ``lead_time_ignored``.  Reported: the median and p90 of the samples and
    their count.  None when there are no samples.

Change failure rate
    ``(failed + rolled_back) ÷ (completed + failed + rolled_back)`` over the
    deployments in the period, by their status when the report is computed
    (``aborted`` excluded from both sides).  None when the denominator is 0.

Failed deployment recovery time
    For each failure in the period (status ``failed`` or ``rolled_back``):
    the time from its ``finished_at`` (for a rolled-back deployment, too, its
    own ``finished_at``: the moment the bad change went live) to the
    ``finished_at`` of the first completed deployment *of the same stream*
    that finished strictly after it and before ``period_end``.  Reported: the
    median and p90 over the recovered failures and their count; failures with
    no such deployment are counted as ``unrecovered`` and are not in the
    median.  Because the recovery must happen before ``period_end``, the
    report depends only on what had happened by then, whatever later facts
    the caller passes.  None when nothing recovered.

DORA bands
==========

Thresholds from the 2023 Accelerate State of DevOps report as Apache DevLake
applies them (shared/reference/peers.md, section 3).  A metric with no data
has band None.  The bands of lead time and recovery judge the median.

=================  ===========================  ==========  ============  ==========
band               deployment frequency         lead time   failure rate  recovery
=================  ===========================  ==========  ============  ==========
elite              on demand: median deploy-    < 1 day     ≤ 5 %         < 1 hour
                   ment days per week ≥ 3
high               once a day to once a week:   < 1 week    ≤ 10 %        < 1 day
                   median deployment days per
                   week ≥ 1
medium             once a week to once a        < 30 days   ≤ 15 %        < 1 week
                   month: median deployment
                   days per 30 days ≥ 1
low                less often                   ≥ 30 days   > 15 %        ≥ 1 week
=================  ===========================  ==========  ============  ==========

Frequency is judged on deployment days, not deployment counts (Four Keys and
DevLake do the same).  The period's UTC calendar dates are cut into weeks of 7
consecutive dates counting back from the last date; a shorter remainder at
the start is left out of the band (its deployments still count in the
figures above).  Months are 30 consecutive dates cut the same way, or all the
period's dates when there are fewer than 30.  The frequency band is None when
the period spans fewer than 7 dates (too short to judge) or has no completed
deployment.  The "3 days per week" rule for *on demand* follows Four Keys and
DevLake's 2021 criterion; DevLake's 2023 dashboard demands 7.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from shipmate.domain.inputs.fields import format_time
from shipmate.domain.lifecycle import DeploymentKind, Status
from shipmate.errors import InvalidInputError

__all__ = [
    "CFR_BANDS",
    "COMPLETED_STATUSES",
    "FAILURE_STATUSES",
    "FREQUENCY_ELITE_DAYS_PER_WEEK",
    "FREQUENCY_HIGH_DAYS_PER_WEEK",
    "FREQUENCY_MEDIUM_DAYS_PER_MONTH",
    "LEAD_TIME_BANDS",
    "RECOVERY_BANDS",
    "Band",
    "DeploymentFact",
    "DoraReport",
    "compute_dora",
    "daily_series",
    "format_duration",
    "percentile",
]

DAY = 86_400.0
HOUR = 3_600.0
WEEK = 7 * DAY

COMPLETED_STATUSES = frozenset({Status.COMPLETED, Status.ROLLED_BACK})
FAILURE_STATUSES = frozenset({Status.FAILED, Status.ROLLED_BACK})
_STATUSES = frozenset(s.value for s in Status)
_KINDS = frozenset(k.value for k in DeploymentKind)


class Band(StrEnum):
    ELITE = "elite"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


#: Upper bounds (exclusive, seconds) of the median lead time per band; above: low.
LEAD_TIME_BANDS: tuple[tuple[Band, float], ...] = (
    (Band.ELITE, DAY),
    (Band.HIGH, WEEK),
    (Band.MEDIUM, 30 * DAY),
)
#: Upper bounds (exclusive, seconds) of the median recovery time per band; above: low.
RECOVERY_BANDS: tuple[tuple[Band, float], ...] = (
    (Band.ELITE, HOUR),
    (Band.HIGH, DAY),
    (Band.MEDIUM, WEEK),
)
#: Upper bounds (inclusive, percent) of the change failure rate per band; above: low.
CFR_BANDS: tuple[tuple[Band, int], ...] = (
    (Band.ELITE, 5),
    (Band.HIGH, 10),
    (Band.MEDIUM, 15),
)
#: Frequency: median deployment days per week for elite and high, per 30 days for medium.
FREQUENCY_ELITE_DAYS_PER_WEEK = 3
FREQUENCY_HIGH_DAYS_PER_WEEK = 1
FREQUENCY_MEDIUM_DAYS_PER_MONTH = 1
_WEEK_DATES = 7
_MONTH_DATES = 30


def _aware(value: object, *, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{field} must be a datetime, not {value!r}", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(
            f"{field} {value.isoformat()} has no time zone; pass an aware datetime (UTC)",
            field=field,
        )
    return value


@dataclass(frozen=True, slots=True)
class DeploymentFact:
    """What DORA needs to know about one deployment.

    ``commit_times`` are the commit times of the commits newly shipped by this
    deployment (every one when a repository is available, otherwise just the
    deployed commit's).  ``stream`` names the (product, environment) pair the
    deployment belongs to; recovery is matched within a stream.
    """

    id: int
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    commit_times: tuple[datetime, ...] = ()
    kind: str = DeploymentKind.DEPLOY.value
    stream: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.id, int) or isinstance(self.id, bool):
            raise InvalidInputError("id must be an integer", field="id")
        if self.status not in _STATUSES:
            raise InvalidInputError(
                f"status {self.status!r} is not canonical; use one of "
                + ", ".join(sorted(_STATUSES)),
                field="status",
                deployment_id=self.id,
            )
        if self.kind not in _KINDS:
            raise InvalidInputError(
                f"kind {self.kind!r} is not a deployment kind; use one of "
                + ", ".join(sorted(_KINDS)),
                field="kind",
                deployment_id=self.id,
            )
        object.__setattr__(self, "status", str(self.status))
        object.__setattr__(self, "kind", str(self.kind))
        if self.started_at is not None:
            _aware(self.started_at, field="started_at")
        if self.finished_at is not None:
            _aware(self.finished_at, field="finished_at")
        if not isinstance(self.commit_times, tuple):
            if isinstance(self.commit_times, str | bytes) or not isinstance(
                self.commit_times, Iterable
            ):
                raise InvalidInputError(
                    "commit_times must be a sequence of datetimes", field="commit_times"
                )
            object.__setattr__(self, "commit_times", tuple(self.commit_times))
        for moment in self.commit_times:
            _aware(moment, field="commit_times")
        if not isinstance(self.stream, str):
            raise InvalidInputError("stream must be a string", field="stream")


def percentile(values: Sequence[float], percent: int) -> float | None:
    """Nearest-rank percentile: the value at 1-based rank ``ceil(percent × n / 100)``.

    ``values`` need not be sorted.  None for no values.
    """
    if not 0 < percent <= 100:
        raise InvalidInputError("percent must be between 1 and 100", field="percent")
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-percent * len(ordered) // 100))
    return float(ordered[rank - 1])


def format_duration(seconds: float | None) -> str | None:
    """A short human duration with the two largest units: ``42s``, ``5m 3s``, ``2h 5m``, ``3d 4h``."""
    if seconds is None:
        return None
    sign = "-" if seconds < 0 else ""
    total = round(abs(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    first = next((i for i, (n, _) in enumerate(units) if n), len(units) - 1)
    shown = [f"{n}{u}" for n, u in units[first : first + 2] if n]
    return sign + (" ".join(shown) if shown else "0s")


def _band_below(value: float | None, bounds: Sequence[tuple[Band, float]]) -> Band | None:
    if value is None:
        return None
    for band, bound in bounds:
        if value < bound:
            return band
    return Band.LOW


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
    start = _aware(period_start, field="period_start")
    end = _aware(period_end, field="period_end")
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


def _frequency_band(
    per_week: float | None, per_month: float | None, deployments: int
) -> Band | None:
    if deployments == 0 or per_week is None or per_month is None:
        return None
    if per_week >= FREQUENCY_ELITE_DAYS_PER_WEEK:
        return Band.ELITE
    if per_week >= FREQUENCY_HIGH_DAYS_PER_WEEK:
        return Band.HIGH
    if per_month >= FREQUENCY_MEDIUM_DAYS_PER_MONTH:
        return Band.MEDIUM
    return Band.LOW


def _cfr_band(failures: int, finished: int) -> Band | None:
    if finished == 0:
        return None
    for band, percent in CFR_BANDS:
        if failures * 100 <= percent * finished:  # exact: no float rounding at the bounds
            return band
    return Band.LOW


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
    median_week = _median_days_per_window(dates, deploy_dates, _WEEK_DATES, whole_if_short=False)
    median_month = (
        _median_days_per_window(dates, deploy_dates, _MONTH_DATES, whole_if_short=True)
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
        frequency_band=_frequency_band(median_week, median_month, deployments),
        lead_time_median=lead_median,
        lead_time_p90=percentile(samples, 90),
        lead_time_samples=len(samples),
        lead_time_ignored=ignored,
        lead_time_band=_band_below(lead_median, LEAD_TIME_BANDS),
        change_failure_rate=cfr,
        change_failure_rate_band=_cfr_band(failures, finished),
        recovery_median=recovery_median,
        recovery_p90=percentile(recoveries, 90),
        recovered=len(recoveries),
        unrecovered=unrecovered,
        recovery_band=_band_below(recovery_median, RECOVERY_BANDS),
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
