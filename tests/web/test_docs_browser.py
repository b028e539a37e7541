"""In a real headless Chromium: /docs and /redoc render with no request leaving 127.0.0.1
(the machine running the suite has no internet, and neither do users' servers), and
logging out through the page ends the session on the server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.services.context import Context
from tests.web.liveserver import LiveServer
from tests.web.test_browser import WAIT_MS, backend, browser, logged_in_page

__all__ = ["backend", "browser"]  # fixtures used by the tests below


@pytest.fixture
def docs_server(ctx: Context) -> Iterator[LiveServer]:
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings())
    with LiveServer(app) as live:
        yield live


def _watch(page: Any, server: LiveServer) -> tuple[list[str], list[str]]:
    """Every URL the page asks for; anything not on the test server is aborted."""
    seen: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        seen.append(url)
        if url.startswith((server.url + "/", "data:", "blob:")):
            r.continue_()
        else:
            r.abort()

    page.context.route("**/*", route)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return seen, errors


def test_swagger_ui_and_redoc_render_offline(
    browser: Any, docs_server: LiveServer, tokens: dict[str, str]
) -> None:
    page = logged_in_page(browser, docs_server, tokens["read"])
    seen, errors = _watch(page, docs_server)

    page.goto(docs_server.url + "/docs")
    title = page.wait_for_selector(".swagger-ui .info .title", timeout=WAIT_MS)
    assert title is not None and "shipmate" in title.inner_text()
    page.wait_for_selector(".swagger-ui .opblock", timeout=WAIT_MS)
    assert page.locator(".swagger-ui .opblock").count() > 20
    assert any(u.endswith("/docs/assets/swagger-ui-bundle.js") for u in seen)
    assert any(u.endswith("/openapi.json") for u in seen)  # with the session cookie

    page.goto(docs_server.url + "/redoc")
    page.wait_for_selector("redoc [data-section-id]", timeout=WAIT_MS)
    assert "shipmate" in page.locator("redoc h1").first.inner_text()

    outside = [u for u in seen if not u.startswith((docs_server.url + "/", "data:", "blob:"))]
    assert outside == [], outside
    assert errors == []


def test_docs_send_a_browser_without_a_session_to_the_login_page(
    browser: Any, docs_server: LiveServer
) -> None:
    page = browser.new_context().new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(docs_server.url + "/docs")
    assert page.url == docs_server.url + "/login?next=%2Fdocs"
    page.close()


def test_log_out_in_a_real_browser_ends_the_session(
    browser: Any, docs_server: LiveServer, tokens: dict[str, str]
) -> None:
    """The logout form carries its CSRF token, and Chromium's same-site Origin passes."""
    page = logged_in_page(browser, docs_server, tokens["read"])
    cookies = page.context.cookies()
    session = next(c for c in cookies if c["name"] == "shipmate_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    assert session["value"] != tokens["read"]
    page.click(".who form button")
    page.wait_for_url(docs_server.url + "/login")
    page.goto(docs_server.url + "/")
    assert page.url.startswith(docs_server.url + "/login")
    # the old cookie, put back by hand, opens nothing: the session ended on the server
    page.context.add_cookies([{k: session[k] for k in ("name", "value", "domain", "path")}])
    page.goto(docs_server.url + "/")
    assert page.url.startswith(docs_server.url + "/login")
