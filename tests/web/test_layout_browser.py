"""Every page fits any screen, in real Chromium: at 390 and 1440 px wide, light and dark,
the document is never wider than the window (only tables scroll, inside their own
box), the header spans the page, the matrix keeps its product column in view and
the history its status column.

Also saves the screenshots docs/dashboard.md shows (``docs/images/``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.services.context import Context
from tests.web.liveserver import LiveServer
from tests.web.screenshots import artifact, publish
from tests.web.seed import Seeded
from tests.web.test_browser import ROOT, WAIT_MS, browser, logged_in_page  # noqa: F401

WIDTHS = (390, 1440)
SCHEMES = ("light", "dark")


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def long_server(ctx: Context, seeded: Seeded) -> Iterator[LiveServer]:
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings())
    with LiveServer(app) as live:
        yield live


def pages(seeded: Seeded) -> dict[str, str]:
    return {
        "matrix": "/",
        "product": "/products/payments-api",
        "deployment": f"/deployments/{seeded.ids['rollback']}",
        "history": "/history",
        "dora": "/dora",
        "error": "/deployments/999999",
    }


def measure(page: Any) -> dict[str, float]:
    return page.evaluate(
        """() => ({
            doc: document.documentElement.scrollWidth,
            win: window.innerWidth,
            header: document.querySelector('header.top').getBoundingClientRect().width,
            headerLeft: document.querySelector('header.top').getBoundingClientRect().left,
        })"""
    )


def wide(page: Any, width: int) -> list[str]:
    """The elements reaching past ``width`` whose children do not (the culprits)."""
    return page.evaluate(
        """w => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > w + 0.5)
            .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > w + 0.5))
            .slice(0, 8)
            .map(e => e.tagName.toLowerCase() + '.' + [...e.classList].join('.')
                 + ' ' + Math.round(e.getBoundingClientRect().right))""",
        width,
    )


def check_fits(page: Any, where: str, width: int) -> None:
    # a phone widens its layout viewport to the content: compare with the screen's width
    m = measure(page)
    assert m["doc"] <= width, f"{where}: the page is {m['doc']} px wide: {wide(page, width)}"
    assert m["win"] == width, f"{where}: the layout viewport grew to {m['win']} px"
    assert m["headerLeft"] == 0 and m["header"] >= m["doc"] - 0.5, f"{where}: {m}"


def test_every_page_fits_every_width_light_and_dark(
    browser: Any,  # noqa: F811
    long_server: LiveServer,
    seeded: Seeded,
    tokens: dict[str, str],
) -> None:
    for scheme in SCHEMES:
        for width in WIDTHS:
            view = {"viewport": {"width": width, "height": 900}, "color_scheme": scheme}
            if width < 600:
                view.update(is_mobile=True, has_touch=True)
            page = logged_in_page(browser, long_server, tokens["read"], **view)
            dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
            assert dark == (scheme == "dark")
            for name, path in pages(seeded).items():
                page.goto(long_server.url + path)
                check_fits(page, f"{name} at {width} px, {scheme}", width)
            # the login page, logged out
            anonymous = browser.new_context(**view).new_page()
            anonymous.set_default_timeout(WAIT_MS)
            anonymous.goto(long_server.url + "/login")
            check_fits(anonymous, f"login at {width} px, {scheme}", width)
            anonymous.context.close()
            page.context.close()


def test_on_a_phone_the_matrix_keeps_products_and_history_keeps_status(
    browser: Any,  # noqa: F811
    long_server: LiveServer,
    seeded: Seeded,
    tokens: dict[str, str],
) -> None:
    phone = logged_in_page(
        browser,
        long_server,
        tokens["read"],
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    # the environments scroll inside the table's box; the product column stays
    wrap = phone.locator("#matrix .table-wrap")
    sizes = wrap.evaluate("w => ({scroll: w.scrollWidth, client: w.clientWidth})")
    assert sizes["scroll"] > sizes["client"], "three environments do not fit 390 px"
    wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; }")
    product = phone.locator("table.matrix tbody th").first.bounding_box()
    box = wrap.bounding_box()
    assert product is not None and box is not None
    assert abs(product["x"] - box["x"]) <= 2, "the product column scrolled away"
    prod = phone.locator('td[data-product="payments-api"][data-environment="production"]')
    assert prod.bounding_box()["x"] < 390  # the last environment came into view

    wrap.evaluate("w => { w.scrollLeft = 0; }")
    shot = artifact("matrix-phone.png")
    phone.screenshot(path=str(shot), full_page=True)

    phone.goto(long_server.url + "/history")
    status = phone.locator("table.history tbody tr").first.locator(".badge")
    badge = status.bounding_box()
    assert badge is not None and badge["x"] + badge["width"] <= 390, "status is off screen"
    assert status.inner_text().strip()

    publish(shot)
