"""The dashboard in a real headless Chromium (Debian's), driven by Playwright, on real uvicorn.

Needs ``apt-get install chromium`` and ``pip install playwright`` (never
``playwright install``: the system browser is used).  Without them the tests
skip locally and fail when CI is set.  The matrix screenshot is kept in
``test-artifacts/matrix.png`` and copied to ``docs/images/matrix.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.services.context import Context
from tests.conftest import require_real_part
from tests.web.liveserver import LiveServer
from tests.web.screenshots import artifact, publish
from tests.web.seed import Seeded

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 30_000  # bounded waits: generous, for a shared and noisy machine


@pytest.fixture
def backend() -> str:
    """The browser tests run on SQLite only: the pages' SQL is covered on both elsewhere."""
    return "sqlite"


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_real_part("playwright", "pip install playwright (uses the system Chromium)")
    if not CHROMIUM.exists():
        require_real_part("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def server(ctx: Context, seeded: Seeded) -> Iterator[LiveServer]:
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings())
    with LiveServer(app) as live:
        yield live


def logged_in_page(browser: Any, server: LiveServer, token: str, **context: Any) -> Any:
    page = browser.new_context(**context).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(server.url + "/")
    assert page.url.startswith(server.url + "/login")
    page.fill("#key", token)
    page.click("form button[type=submit]")
    page.wait_for_url(server.url + "/")
    return page


def test_matrix_links_filters_and_live_updates(
    browser: Any, server: LiveServer, seeded: Seeded, tokens: dict[str, str]
) -> None:
    page = logged_in_page(browser, server, tokens["read"], viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # the matrix renders the seeded data
    page.wait_for_selector("table.matrix")
    products = page.locator("table.matrix tbody th a").all_inner_texts()
    assert products == [
        "auth-service",
        "notifications",
        "payments-api",
        "search-worker",
        "storefront",
    ]
    prod = page.locator('td[data-product="payments-api"][data-environment="production"]')
    assert "1.2.0" in prod.inner_text()
    page.wait_for_selector("#live:not([hidden])")

    shot = artifact("matrix.png")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    publish(shot)

    # a product link leads to the product page, and a chip on to a deployment
    page.click("table.matrix tbody th a:text('storefront')")
    page.wait_for_url(server.url + "/products/storefront")
    assert page.locator("h1").inner_text() == "storefront"
    page.locator(".lane").nth(2).locator("a.chip").first.click()
    page.wait_for_url("**/deployments/*")
    assert "storefront" in page.locator("h1").inner_text()
    assert "production" in page.locator("h1").inner_text()
    assert page.locator(".events li").count() >= 1

    # a matrix cell links straight to its deployment
    page.goto(server.url + "/")
    page.locator('td[data-product="search-worker"][data-environment="staging"] a.version').click()
    page.wait_for_url("**/deployments/*")
    assert "search-worker" in page.locator("h1").inner_text()

    # history filters submit themselves and narrow the table
    page.goto(server.url + "/history")
    page.select_option('select[name="status"]', "failed")
    page.wait_for_url("**/history?*status=failed*")
    statuses = page.locator("table.history tbody .badge").all_inner_texts()
    assert statuses and {" ".join(s.split()) for s in statuses} == {"✕ failed"}
    page.select_option('select[name="product"]', "storefront")
    page.wait_for_url("**product=storefront*")
    assert page.locator("table.history tbody tr").count() == 1

    # a deployment recorded through the API appears on the open matrix, without a reload
    page.goto(server.url + "/")
    page.wait_for_selector("#live:not([hidden])")
    page.evaluate("window.__stillHere = true")
    answer = httpx.post(
        server.url + "/api/v1/deployments",
        json={
            "product": "storefront",
            "environment": "production",
            "version": "2.6.0",
            "status": "completed",
            "deployed_by": "erin",
        },
        headers={"Authorization": f"Bearer {tokens['admin']}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    cell = '[data-product="storefront"][data-environment="production"]'
    page.wait_for_function(
        "sel => (document.querySelector(sel) || {}).innerText?.includes('2.6.0')",
        arg=f"td{cell}",
        timeout=WAIT_MS,
    )
    assert page.evaluate("window.__stillHere") is True
    assert "erin" in page.locator(f"td{cell}").inner_text()
    assert errors == []


def test_pages_work_on_a_phone_and_without_javascript(
    browser: Any, server: LiveServer, tokens: dict[str, str]
) -> None:
    phone = logged_in_page(
        browser,
        server,
        tokens["read"],
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page itself must not scroll sideways; only the table may"
    phone.goto(server.url + "/dora")
    assert phone.locator(".tile").count() >= 4
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390

    plain = logged_in_page(browser, server, tokens["read"], java_script_enabled=False)
    assert plain.locator("table.matrix tbody tr").count() == 5
    plain.goto(server.url + "/history?status=failed")
    assert plain.locator("table.history tbody tr").count() == 3
    plain.goto(server.url + "/dora")
    assert plain.locator("figure.chart svg").count() == 6
