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

Every deployment is judged **as it stood at period_end** (:func:`outcome_at`),
so a report only ever depends on what had happened by then: a rollback
recorded at or after ``period_end`` (``rolled_back_at``) had not happened yet,
and the deployment counts as a good one.  Its *outcome* is one of

* *good*: it went live and was not rolled back by ``period_end`` (status
  ``completed``, or ``rolled_back`` with ``rolled_back_at >= period_end``);
* *failed live*: it went live and failed: status ``rolled_back`` with
  ``rolled_back_at < period_end``, or ``failed`` with ``served_traffic``
  (its run failed after the switch, or a rollback reverted it);
* *stopped before traffic*: status ``failed`` without ``served_traffic``: it
  never served a request (a health check before the switch failed, say);
* *aborted*.

*Completed deployment* means status ``completed`` or ``rolled_back`` (a
rolled-back deployment did complete; it was reverted later).  *Went live*
means good or failed live.  A *failure* is a deployment that failed live.

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
    ``failed live ÷ went live`` over the deployments in the period.  Stopped
    before traffic and aborted are on neither side (both are counted apart).
    None when nothing went live.

Failed deployment recovery time
    For each failure in the period: the time from its ``finished_at`` (the
    moment the bad change went live) to the first of

    * the ``finished_at`` of the first later deployment *of the same stream*
      (later in ``(finished_at, id)`` order, finishing before ``period_end``)
      that was good, i.e. went live and was not itself rolled back by then;
    * for a rolled-back deployment, its ``rolled_back_at``: the previous
      version serves again from that moment (never before its own
      ``finished_at``: at least 0).

    Reported: the median and p90 over the recovered failures and their count;
    failures with neither before ``period_end`` are counted as
    ``unrecovered`` and are not in the median.  None when nothing recovered.

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

from shipmate.domain.dora.bands import (
    CFR_BANDS,
    FREQUENCY_ELITE_DAYS_PER_WEEK,
    FREQUENCY_HIGH_DAYS_PER_WEEK,
    FREQUENCY_MEDIUM_DAYS_PER_MONTH,
    LEAD_TIME_BANDS,
    RECOVERY_BANDS,
    Band,
    format_duration,
    percentile,
)
from shipmate.domain.dora.facts import COMPLETED_STATUSES, DeploymentFact, Outcome, outcome_at
from shipmate.domain.dora.report import DoraReport, compute_dora, daily_series

__all__ = [
    "CFR_BANDS",
    "COMPLETED_STATUSES",
    "FREQUENCY_ELITE_DAYS_PER_WEEK",
    "FREQUENCY_HIGH_DAYS_PER_WEEK",
    "FREQUENCY_MEDIUM_DAYS_PER_MONTH",
    "LEAD_TIME_BANDS",
    "RECOVERY_BANDS",
    "Band",
    "DeploymentFact",
    "DoraReport",
    "Outcome",
    "compute_dora",
    "daily_series",
    "format_duration",
    "outcome_at",
    "percentile",
]
