"""Chart geometry for the dashboard's inline SVG, computed here and drawn by a template.

Pure arithmetic on the daily series of :func:`shipmate.domain.dora.daily_series`:
no markup is built in Python, so the template's autoescaping covers every label.
A period longer than :data:`MAX_BARS` days is shown in weekly buckets (7 dates
each, counted from the first date; the last bucket may be shorter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["COMPACT_HEIGHT", "MAX_BARS", "Bar", "BarChart", "daily_bars", "plural"]

MAX_BARS = 120
PLOT_WIDTH = 720.0
PLOT_HEIGHT = 110.0
COMPACT_HEIGHT = 56.0
LEFT = 30.0
TOP = 8.0
BOTTOM = 20.0


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    deployments: int
    failures: int
    deploy_y: float
    deploy_height: float
    failure_x: float
    failure_width: float
    failure_y: float
    failure_height: float
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: float
    height: float
    left: float
    plot_top: float
    plot_bottom: float
    max_value: int
    bucket: str  # "day" or "week"
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    total_deployments: int
    total_failures: int

    @property
    def empty(self) -> bool:
        return self.total_deployments == 0 and self.total_failures == 0


def plural(n: int, word: str) -> str:
    """``1 deployment``, ``2 deployments``."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def daily_bars(daily: Sequence[Mapping[str, Any]], *, plot_height: float = PLOT_HEIGHT) -> BarChart:
    """Bars for deployments and failures per day (or per week for long periods)."""
    rows = [
        (str(r["date"]), int(r.get("deployments", 0)), int(r.get("failures", 0))) for r in daily
    ]
    bucket = "day"
    buckets: list[tuple[str, str, int, int]] = [(d, d, n, f) for d, n, f in rows]
    if len(rows) > MAX_BARS:
        bucket = "week"
        buckets = []
        for i in range(0, len(rows), 7):
            chunk = rows[i : i + 7]
            buckets.append(
                (chunk[0][0], chunk[-1][0], sum(c[1] for c in chunk), sum(c[2] for c in chunk))
            )
    top = max([1, *(max(n, f) for _, _, n, f in buckets)])
    step = PLOT_WIDTH / max(1, len(buckets))
    bottom = TOP + plot_height
    bars = []
    for i, (first, last, n, f) in enumerate(buckets):
        x = LEFT + i * step
        dh = plot_height * n / top
        fh = plot_height * f / top
        when = first if first == last else f"{first} to {last}"
        bars.append(
            Bar(
                x=round(x + step * 0.08, 2),
                width=round(step * 0.44, 2),
                deployments=n,
                failures=f,
                deploy_y=round(bottom - dh, 2),
                deploy_height=round(dh, 2),
                failure_x=round(x + step * 0.54, 2),
                failure_width=round(step * 0.34, 2),
                failure_y=round(bottom - fh, 2),
                failure_height=round(fh, 2),
                title=f"{when}: {plural(n, 'deployment')}, {plural(f, 'failure')}",
            )
        )
    ticks: list[Tick] = []
    if buckets:
        wanted = sorted({0, len(buckets) // 2, len(buckets) - 1})
        ticks = [Tick(round(LEFT + (i + 0.5) * step, 2), buckets[i][0][5:]) for i in wanted]
    return BarChart(
        width=LEFT + PLOT_WIDTH + 6,
        height=TOP + plot_height + BOTTOM,
        left=LEFT,
        plot_top=TOP,
        plot_bottom=bottom,
        max_value=top,
        bucket=bucket,
        bars=tuple(bars),
        ticks=tuple(ticks),
        total_deployments=sum(b[2] for b in buckets),
        total_failures=sum(b[3] for b in buckets),
    )
