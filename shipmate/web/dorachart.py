"""The DORA chart's geometry, computed here and drawn as inline SVG by ``_dora_chart.html``.

Pure arithmetic on the daily series of :func:`shipmate.domain.dora.daily_series`; no
markup is built in Python, so the template's autoescaping covers every label.

What it shows, per bucket (a day for periods of up to :data:`DAILY_UP_TO` dates, else
a week):

* one stacked bar: the deployments that went live and stayed good at the bottom, the
  failures stacked on them (rolled back, or failed after serving traffic), and on top,
  outlined, the deployments stopped before traffic;
* for weeks, a dot at the number of days with a deployment (none for a week without
  one), and dashed lines at the frequency band thresholds it is judged by (elite ≥ 3
  days a week, high ≥ 1).

Weeks are 7 dates counted back from the last date, as the frequency band cuts them,
so the oldest week may be shorter (it is marked *partial*).  The y axis is labelled,
and every label is placed with room for the largest text size the stylesheet uses
(:data:`MAX_FONT`, on narrow screens), so no label is ever clipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from shipmate.domain.dora import FREQUENCY_ELITE_DAYS_PER_WEEK, FREQUENCY_HIGH_DAYS_PER_WEEK
from shipmate.web.wording import plural

__all__ = ["DAILY_UP_TO", "MAX_FONT", "DoraChart", "dora_chart"]

#: Periods touching at most this many dates get one bar per day; longer ones one per week.
DAILY_UP_TO = 31
#: The largest font size (px, in SVG units) the stylesheet gives chart text.
MAX_FONT = 20.0
#: Width of one character at :data:`MAX_FONT`, generously (system-ui digits are ~0.56 em).
_CHAR = 0.62 * MAX_FONT
WIDTH = 760.0
PLOT_HEIGHT = 150.0
COMPACT_PLOT_HEIGHT = 70.0
_TOP = MAX_FONT * 1.6  # room for the axis title above the plot
_BOTTOM = MAX_FONT * 1.6  # room for the date labels below it
_RIGHT = 6.0
_GAP = 6.0  # between a label and what it labels
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Segment:
    """One part of a stacked bar: ``kind`` is ``good``, ``failed`` or ``stopped``."""

    kind: str
    y: float
    height: float
    count: int


@dataclass(frozen=True)
class Column:
    """One bucket: its stacked bar, its deployment-days dot (weeks), its tooltip."""

    x: float
    width: float
    segments: tuple[Segment, ...]
    days_y: float | None
    partial: bool
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str  # SVG text-anchor: start, middle or end


@dataclass(frozen=True)
class Threshold:
    """A dashed line at a frequency band threshold, with its label."""

    band: str
    y: float
    label: Label


@dataclass(frozen=True)
class DoraChart:
    width: float
    height: float
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    bucket: str  # "day" or "week"
    axis_title: Label
    y_ticks: tuple[tuple[float, Label], ...]  # (y of the grid line, its label)
    x_labels: tuple[Label, ...]
    columns: tuple[Column, ...]
    thresholds: tuple[Threshold, ...]
    went_live: int
    failures: int
    stopped_before_traffic: int

    @property
    def empty(self) -> bool:
        return self.went_live == 0 and self.stopped_before_traffic == 0

    @property
    def summary(self) -> str:
        """What the chart shows, in words (its accessible name)."""
        return (
            f"{plural(self.went_live, 'deployment')} that went live, "
            f"{plural(self.failures, 'failure')}, "
            f"{self.stopped_before_traffic} stopped before traffic, per {self.bucket}"
        )


@dataclass(frozen=True)
class _Bucket:
    first: str
    last: str
    good: int
    failed: int
    stopped: int
    deploy_days: int
    dates: int


def _buckets(daily: Sequence[Mapping[str, Any]]) -> tuple[str, list[_Bucket]]:
    rows = list(daily)
    size = 1 if len(rows) <= DAILY_UP_TO else 7
    chunks = [rows[max(0, i - size) : i] for i in range(len(rows), 0, -size)][::-1]
    buckets = []
    for chunk in chunks:
        failures = sum(int(r.get("failures", 0)) for r in chunk)
        buckets.append(
            _Bucket(
                first=str(chunk[0]["date"]),
                last=str(chunk[-1]["date"]),
                good=sum(int(r.get("went_live", 0)) for r in chunk) - failures,
                failed=failures,
                stopped=sum(int(r.get("stopped_before_traffic", 0)) for r in chunk),
                deploy_days=sum(1 for r in chunk if int(r.get("deployments", 0)) > 0),
                dates=len(chunk),
            )
        )
    return ("day" if size == 1 else "week"), buckets


def _nice_top(value: int) -> int:
    """The smallest of 1, 2, 4, 5, 10, 20, 40, 50, 100 … that is at least ``value``."""
    scale = 1
    while True:
        for step in (1, 2, 4, 5):
            if step * scale >= value:
                return step * scale
        scale *= 10


def _short_date(iso: str) -> str:
    day = date.fromisoformat(iso)
    return f"{_MONTHS[day.month - 1]} {day.day}"


def _title(b: _Bucket, bucket: str) -> str:
    when = b.first if b.first == b.last else f"{b.first} to {b.last}"
    parts = [
        f"{plural(b.good + b.failed, 'deployment')} went live",
        f"{plural(b.failed, 'failure')}",
    ]
    if b.stopped:
        parts.append(f"{b.stopped} stopped before traffic")
    if bucket == "week":
        parts.append(f"deployments on {plural(b.deploy_days, 'day')}")
    note = f" (partial week: {plural(b.dates, 'day')})" if bucket == "week" and b.dates < 7 else ""
    return f"{when}{note}: " + ", ".join(parts)


def dora_chart(daily: Sequence[Mapping[str, Any]], *, compact: bool = False) -> DoraChart:
    """The chart of a daily series (see the module docstring)."""
    bucket, buckets = _buckets(daily)
    weekly = bucket == "week"
    plot_height = COMPACT_PLOT_HEIGHT if compact else PLOT_HEIGHT
    highest = max([1, *(b.good + b.failed + b.stopped for b in buckets)])
    if weekly:
        highest = max(highest, FREQUENCY_ELITE_DAYS_PER_WEEK, *(b.deploy_days for b in buckets))
    top = _nice_top(highest)
    ticks = sorted({0, top // 2, top} if top % 2 == 0 else {0, top})
    left = _GAP + len(str(top)) * _CHAR + _GAP
    right = WIDTH - _RIGHT
    plot_top = _TOP
    bottom = plot_top + plot_height
    height = bottom + _BOTTOM

    def y_of(value: float) -> float:
        return round(bottom - plot_height * value / top, 2)

    step = (right - left) / max(1, len(buckets))
    columns = []
    for i, b in enumerate(buckets):
        x = left + i * step + step * 0.15
        stack = 0
        segments = []
        for kind, count in (("good", b.good), ("failed", b.failed), ("stopped", b.stopped)):
            if count:
                segments.append(
                    Segment(kind, y_of(stack + count), round(plot_height * count / top, 2), count)
                )
                stack += count
        columns.append(
            Column(
                x=round(x, 2),
                width=round(step * 0.7, 2),
                segments=tuple(segments),
                days_y=y_of(b.deploy_days) if weekly and b.deploy_days else None,
                partial=weekly and b.dates < 7,
                title=_title(b, bucket),
            )
        )

    baseline = round(height - MAX_FONT * 0.35, 2)
    x_labels: list[Label] = []
    if buckets:
        room = max(1, int((right - left) // (9 * _CHAR)))  # labels of up to 6 characters
        count = min(len(buckets), room)
        wanted = sorted({round(k * (len(buckets) - 1) / max(1, count - 1)) for k in range(count)})
        for i in wanted:
            anchor = "start" if i == 0 else "end" if i == len(buckets) - 1 else "middle"
            x = {"start": left + i * step, "end": left + (i + 1) * step}.get(
                anchor, left + (i + 0.5) * step
            )
            x_labels.append(Label(round(x, 2), baseline, _short_date(buckets[i].first), anchor))

    thresholds = []
    if weekly:
        for band, days in (
            ("elite", FREQUENCY_ELITE_DAYS_PER_WEEK),
            ("high", FREQUENCY_HIGH_DAYS_PER_WEEK),
        ):
            y = y_of(days)
            text = f"{band} ≥ {plural(days, 'day')}"
            # both labels above their lines, elite's at the right and high's at the left:
            # they never overlap, however close the lines are
            label = (
                Label(right, round(y - 4, 2), text, "end")
                if band == "elite"
                else Label(round(left + 4, 2), round(y - 4, 2), text, "start")
            )
            thresholds.append(Threshold(band, y, label))

    unit = "per day" if bucket == "day" else "per week"
    return DoraChart(
        width=WIDTH,
        height=round(height, 2),
        plot_left=round(left, 2),
        plot_right=right,
        plot_top=plot_top,
        plot_bottom=bottom,
        bucket=bucket,
        axis_title=Label(round(left, 2), round(MAX_FONT * 1.05, 2), f"deployments {unit}", "start"),
        y_ticks=tuple(
            (
                y_of(t),
                Label(round(left - _GAP, 2), round(y_of(t) + MAX_FONT * 0.35, 2), str(t), "end"),
            )
            for t in ticks
        ),
        x_labels=tuple(x_labels),
        columns=tuple(columns),
        thresholds=tuple(thresholds),
        went_live=sum(b.good + b.failed for b in buckets),
        failures=sum(b.failed for b in buckets),
        stopped_before_traffic=sum(b.stopped for b in buckets),
    )
