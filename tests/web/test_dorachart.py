"""The DORA chart's geometry (shipmate.web.dorachart) and its SVG structure on the pages."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from shipmate.web.dorachart import DAILY_UP_TO, MAX_FONT, dora_chart
from tests.web.conftest import login
from tests.web.seed import Seeded

ROOT = Path(__file__).resolve().parents[2]


def series(days: int, every: int = 1, failing: int = 0, stopped: int = 0) -> list[dict[str, Any]]:
    first = date(2026, 8, 1)
    rows = []
    for i in range(days):
        live = 1 if i % every == 0 else 0
        rows.append(
            {
                "date": (first + timedelta(days=i)).isoformat(),
                "deployments": live,
                "went_live": live,
                "failures": 1 if failing and live and i % failing == 0 else 0,
                "stopped_before_traffic": 1 if stopped and i % stopped == 0 else 0,
            }
        )
    return rows


def test_thirty_days_are_daily_and_ninety_are_weekly_counted_back_from_the_end() -> None:
    daily = dora_chart(series(30))
    assert daily.bucket == "day" and len(daily.columns) == 30 and daily.thresholds == ()
    assert dora_chart(series(DAILY_UP_TO)).bucket == "day"
    weekly = dora_chart(series(91, every=2))
    assert weekly.bucket == "week" and len(weekly.columns) == 13
    odd = dora_chart(series(90))  # 12 whole weeks, and 6 older dates in a partial one
    assert len(odd.columns) == 13
    assert [c.partial for c in odd.columns] == [True] + [False] * 12
    assert odd.columns[0].title.startswith("2026-08-01 to 2026-08-06 (partial week: 6 days)")
    assert odd.columns[-1].title.startswith("2026-10-23 to 2026-10-29: 7 deployments went live")


def test_failures_are_stacked_on_the_deployments_that_went_live() -> None:
    rows = series(7)
    rows[2].update(went_live=3, deployments=2, failures=2, stopped_before_traffic=1)
    chart = dora_chart(rows)
    column = chart.columns[2]
    assert [(s.kind, s.count) for s in column.segments] == [
        ("good", 1),
        ("failed", 2),
        ("stopped", 1),
    ]
    good, failed, stopped = column.segments
    assert good.y + good.height == chart.plot_bottom  # on the axis
    assert failed.y + failed.height == good.y  # on top of the good ones
    assert stopped.y + stopped.height == failed.y
    assert stopped.y >= chart.plot_top
    assert (
        column.title == "2026-08-03: 3 deployments went live, 2 failures, 1 stopped before traffic"
    )
    assert (chart.went_live, chart.failures, chart.stopped_before_traffic) == (9, 2, 1)


def test_weeks_show_deployment_days_against_the_band_thresholds() -> None:
    chart = dora_chart(series(91, every=2))  # 3 or 4 deployment days a week
    assert [t.band for t in chart.thresholds] == ["elite", "high"]
    elite, high = chart.thresholds
    scale = (chart.plot_bottom - chart.plot_top) / int(chart.y_ticks[-1][1].text)
    assert elite.y == round(chart.plot_bottom - 3 * scale, 2)
    assert high.y == round(chart.plot_bottom - 1 * scale, 2)
    assert elite.label.text == "elite ≥ 3 days" and high.label.text == "high ≥ 1 day"
    assert all(c.days_y is not None and c.days_y <= elite.y for c in chart.columns[1:])
    assert dora_chart(series(91, every=30)).columns[1].days_y is None  # a week without any
    # a quiet quarter still shows the elite line: the axis reaches it
    quiet = dora_chart(series(91, every=30))
    assert int(quiet.y_ticks[-1][1].text) >= 3


def test_every_label_has_room_for_the_largest_font_the_stylesheet_uses() -> None:
    css = (ROOT / "shipmate/web/static/style.css").read_text()
    sizes = [float(s) for s in re.findall(r"\.chart text \{[^}]*font-size: (\d+(?:\.\d+)?)px", css)]
    assert sizes and max(sizes) <= MAX_FONT
    for chart in (
        dora_chart(series(30)),
        dora_chart(series(365)),
        dora_chart(series(7), compact=True),
    ):
        char = 0.62 * MAX_FONT
        labels = [chart.axis_title, *(label for _, label in chart.y_ticks), *chart.x_labels]
        labels += [t.label for t in chart.thresholds]
        for label in labels:
            width = len(label.text) * char
            left = {"start": label.x, "middle": label.x - width / 2, "end": label.x - width}[
                label.anchor
            ]
            assert left >= 0 and left + width <= chart.width, label
            assert label.y - MAX_FONT >= 0 and label.y + 0.3 * MAX_FONT <= chart.height, label
        assert next(t.text for _, t in chart.y_ticks) == "0"
        assert chart.axis_title.text.startswith("deployments per ")


def test_no_deployments_is_an_empty_chart() -> None:
    assert dora_chart([]).empty
    assert dora_chart(series(30, every=99)[1:]).empty


def soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


def test_the_pages_draw_the_chart(web: TestClient, seeded: Seeded, tokens: dict[str, str]) -> None:
    login(web, tokens["read"])
    for path, bucket in (
        ("/dora", "week"),
        ("/dora?days=30", "day"),
        ("/products/storefront", "week"),
    ):
        page = soup(web.get(path).text)
        figure = page.select_one("figure.dora-chart")
        assert figure is not None, path
        svg = figure.select_one("svg")
        assert svg["role"] == "img" and "went live" in svg["aria-label"]
        assert svg.select_one("text.axis-title").text == f"deployments per {bucket}"
        assert next(t.text for t in svg.select("text.ylabel")) == "0"
        assert len(svg.select("text.xlabel")) >= 2
        assert svg.select("g.bar rect.seg-good") and svg.select("g.bar title")
        thresholds = svg.select("line.threshold")
        assert len(thresholds) == (2 if bucket == "week" else 0), path
        if bucket == "week":
            assert 0 < len(svg.select("g.bar circle.days")) <= len(svg.select("g.bar"))
        assert "stopped before traffic" in figure.select_one("figcaption").text
