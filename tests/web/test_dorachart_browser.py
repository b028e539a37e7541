"""The DORA chart in real headless Chromium: every label is drawn inside the SVG's box,
on a laptop and on a phone, light and dark.  The chart's screenshot is kept in
``test-artifacts/dora-chart.png`` and copied to ``docs/images/dora-chart.png``
(docs/metrics.md shows it)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.liveserver import LiveServer
from tests.web.screenshots import artifact, publish
from tests.web.test_browser import backend, browser, logged_in_page, server

__all__ = ["backend", "browser", "server"]  # the fixtures this module uses

#: Every text of every DORA chart: its box in SVG units and the SVG's viewBox.
BOXES = """() => [...document.querySelectorAll('figure.dora-chart svg')].map(svg => {
  const vb = svg.viewBox.baseVal;
  return {
    viewBox: [vb.x, vb.y, vb.width, vb.height],
    texts: [...svg.querySelectorAll('text')].map(t => {
      const b = t.getBBox();
      return {cls: t.getAttribute('class'), text: t.textContent, box: [b.x, b.y, b.width, b.height]};
    }),
  };
})"""


def _check_labels_inside(page: Any, where: str) -> list[dict[str, Any]]:
    charts = page.evaluate(BOXES)
    assert charts, f"no DORA chart on {where}"
    for chart in charts:
        vx, vy, vw, vh = chart["viewBox"]
        classes = {t["cls"] for t in chart["texts"]}
        assert {"axis-title", "ylabel", "xlabel"} <= classes, where
        for t in chart["texts"]:
            x, y, w, h = t["box"]
            assert w > 0 and h > 0, (where, t)
            assert x >= vx and y >= vy and x + w <= vx + vw and y + h <= vy + vh, (where, t)
    return list(charts)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_chart_labels_are_inside_the_svg_on_a_laptop_and_a_phone(
    browser: Any, server: LiveServer, tokens: dict[str, str], scheme: str
) -> None:
    screens: dict[str, dict[str, Any]] = {
        "laptop": {"viewport": {"width": 1440, "height": 900}},
        "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    }
    for screen, options in screens.items():
        page = logged_in_page(browser, server, tokens["read"], color_scheme=scheme, **options)
        for path in ("/dora", "/dora?days=30", "/dora?days=365", "/products/storefront"):
            page.goto(server.url + path)
            charts = _check_labels_inside(page, f"{path} on a {screen}, {scheme}")
            weekly = "days=30" not in path
            thresholds = page.locator("figure.dora-chart svg line.threshold").count()
            assert thresholds == (2 * len(charts) if weekly else 0), path
        if screen == "laptop" and scheme == "light":
            page.goto(server.url + "/dora")
            figure = page.locator("figure.dora-chart").first
            shot = artifact("dora-chart.png")
            figure.screenshot(path=str(shot))
            assert shot.stat().st_size > 5_000
            publish(shot)
        if screen == "phone":  # kept for a look, next to the laptop one
            page.goto(server.url + "/dora")
            page.locator("figure.dora-chart").nth(1).screenshot(
                path=str(artifact(f"dora-chart-phone-{scheme}.png"))
            )
        page.context.close()
