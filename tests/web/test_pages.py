"""Dashboard pages through the real app: HTML parsed with BeautifulSoup, JSON twins, login."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.demo.clock import FakeClock
from shipmate.domain.requests import RecordRequest
from shipmate.services.context import Context
from shipmate.services.records.deployments import record_deployment
from shipmate.services.records.rollbackmarks import mark_rollback
from shipmate.web.session import COOKIE_NAME, safe_next
from tests.services.test_changelog_service import GitRepo, with_repository
from tests.web.conftest import login, login_csrf, page_csrf
from tests.web.seed import Seeded


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- access ------------------------------------------------------------------------------


def test_pages_need_a_key(web: TestClient, seeded: Seeded) -> None:
    for path in ("/", "/history", "/dora", "/products/storefront", "/deployments/1"):
        answer = web.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login")
    assert web.get("/history?product=storefront").headers["location"] == (
        "/login?next=%2Fhistory%3Fproduct%3Dstorefront"
    )
    twin = web.get("/?format=json")
    assert twin.status_code == 401 and twin.json()["error"]["code"] == "unauthenticated"
    assert web.get("/live").status_code == 303
    assert web.get("/?fragment=matrix").status_code == 401


def test_login_sets_a_safe_cookie_and_logout_clears_it(
    web: TestClient, seeded: Seeded, tokens: dict[str, str]
) -> None:
    form = soup(web.get("/login?next=/dora").text)
    assert form.find("input", {"name": "next"})["value"] == "/dora"
    csrf = form.find("input", {"name": "csrf"})["value"]
    bad = web.post("/login", data={"key": "shm_nope_nope", "next": "/dora", "csrf": csrf})
    assert bad.status_code == 401
    assert "not valid" in soup(bad.text).select_one(".error-notice").text
    assert COOKIE_NAME not in web.cookies
    empty = web.post("/login", data={"key": "  ", "csrf": csrf})
    assert empty.status_code == 422 and "paste an API key" in empty.text

    good = web.post("/login", data={"key": tokens["read"], "next": "/dora", "csrf": csrf})
    assert good.status_code == 303 and good.headers["location"] == "/dora"
    cookie = good.headers.get_list("set-cookie")[0]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert tokens["read"] not in cookie  # the key never leaves the login form
    for flag in ("HttpOnly", "SameSite=lax", "Path=/", "Max-Age=43200"):
        assert flag.lower() in cookie.lower()
    assert "secure" not in cookie.lower()  # plain http here; https sets Secure
    page = web.get("/")
    assert page.status_code == 200
    assert soup(page.text).select_one(".who .key").text == "team-lead"

    out = web.post("/logout", data={"csrf": page_csrf(web)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert COOKIE_NAME not in web.cookies
    assert web.get("/").status_code == 303


def test_login_refuses_other_sites_and_open_redirects(
    web: TestClient, seeded: Seeded, tokens: dict[str, str]
) -> None:
    csrf = login_csrf(web)
    cross = web.post(
        "/login",
        data={"key": tokens["read"], "csrf": csrf},
        headers={"Origin": "http://evil.example"},
    )
    assert cross.status_code == 403 and COOKIE_NAME not in web.cookies
    away = web.post(
        "/login", data={"key": tokens["read"], "next": "//evil.example/x", "csrf": csrf}
    )
    assert away.headers["location"] == "/"
    assert safe_next("https://evil.example") == "/"
    assert safe_next("/\\evil.example") == "/"
    assert safe_next("/history?product=a") == "/history?product=a"
    https = web.post(
        "/login",
        data={"key": tokens["read"], "csrf": login_csrf(web)},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "secure" in https.headers["set-cookie"].lower()


def test_a_revoked_key_ends_the_session(
    web: TestClient, ctx: Context, seeded: Seeded, tokens: dict[str, str]
) -> None:
    from shipmate.services.auth.keys import revoke_key

    login(web, tokens["read"])
    assert web.get("/").status_code == 200
    revoke_key(ctx, "team-lead")
    again = web.get("/")
    assert again.status_code == 303 and COOKIE_NAME not in web.cookies


@pytest.fixture
def open_web(ctx: Context) -> Iterator[TestClient]:
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings(anonymous_read=True))
    with TestClient(app, follow_redirects=False) as client:
        yield client


def test_anonymous_read_opens_the_pages(open_web: TestClient, seeded: Seeded) -> None:
    page = open_web.get("/")
    assert page.status_code == 200
    assert "anonymous read" in soup(page.text).select_one(".who").text
    assert open_web.get("/dora").status_code == 200


# -- the matrix ----------------------------------------------------------------------------


def cell(page: BeautifulSoup, product: str, env: str) -> Any:
    found = page.select_one(f'td[data-product="{product}"][data-environment="{env}"]')
    assert found is not None, (product, env)
    return found


def test_matrix_shows_every_product_and_environment(
    web: TestClient, seeded: Seeded, tokens: dict[str, str]
) -> None:
    login(web, tokens["read"])
    answer = web.get("/")
    assert answer.headers["content-type"].startswith("text/html")
    page = soup(answer.text)
    heads = [th.select_one(".env").text for th in page.select("table.matrix thead th")[1:]]
    assert heads == ["dev", "staging", "production"]
    rows = [a.text for a in page.select("table.matrix tbody th a")]
    assert rows == ["auth-service", "notifications", "payments-api", "search-worker", "storefront"]
    assert page.select_one("table.matrix tbody th a")["href"] == "/products/auth-service"

    prod = cell(page, "payments-api", "production")
    assert "1.2.0" in prod.select_one("a.version").text  # after the 1.3.0 rollback
    assert prod.select_one("a.version")["href"] == f"/deployments/{seeded.ids['rollback']}"
    assert "state-ok" in prod["class"]
    dev = cell(page, "payments-api", "dev")
    # not promoted yet: ahead of production, the normal state, marked neutrally
    assert "1.3.1" in dev.text and "state-ahead" in dev["class"]
    assert dev.select_one(".flag").text == "ahead of production"
    flight = cell(page, "auth-service", "production")
    assert "state-progress" in flight["class"]
    assert "in progress" in flight.select_one(".attempt").text
    assert flight.select_one(".attempt")["href"] == f"/deployments/{seeded.ids['in_progress']}"
    broken = cell(page, "notifications", "staging")
    assert "state-failed" in broken["class"] and "0.8.0" in broken.select_one(".attempt").text
    assert page.select_one(".drift-notice") is None  # nothing is behind or skipped
    live = page.select_one("#live")
    assert live["data-live-url"] == "/live" and live["data-fragment-url"] == "/?fragment=matrix"
    # every asset is our own
    for tag in page.select("link[href], script[src], img[src]"):
        assert (tag.get("href") or tag.get("src")).startswith("/static/")


def test_matrix_fragment_and_live_follow_new_deployments(
    web: TestClient, ctx: Context, clock: FakeClock, seeded: Seeded, tokens: dict[str, str]
) -> None:
    login(web, tokens["read"])
    before = web.get("/live").json()["latest_event"]
    fragment = web.get("/?fragment=matrix")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert soup(fragment.text).select_one("table.matrix") is not None
    record_deployment(
        ctx,
        RecordRequest(
            product="storefront", environment="production", version="2.6.0", status="completed"
        ),
    )
    assert web.get("/live").json()["latest_event"] > before
    after = soup(web.get("/?fragment=matrix").text)
    assert "2.6.0" in cell(after, "storefront", "production").text


def test_a_product_limited_key_sees_only_its_product(
    web: TestClient, seeded: Seeded, tokens: dict[str, str]
) -> None:
    login(web, tokens["payments"])
    page = soup(web.get("/").text)
    assert [a.text for a in page.select("table.matrix tbody th a")] == ["payments-api"]
    assert web.get("/products/storefront").status_code == 403
    history = web.get("/history?format=json").json()
    assert {d["product"] for d in history["items"]} == {"payments-api"}
    assert web.get("/history?product=storefront").status_code == 403
    assert web.get("/dora?format=json").json()["product"] == "payments-api"
    other = seeded.ids["storefront@2.5.1@production"]
    assert web.get(f"/deployments/{other}").status_code == 403


# -- JSON twins -----------------------------------------------------------------------------


def test_json_twins_carry_the_api_data(
    web: TestClient, seeded: Seeded, tokens: dict[str, str]
) -> None:
    login(web, tokens["read"])
    api = bearer(tokens["read"])
    matrix = web.get("/?format=json").json()
    current = web.get("/api/v1/current", headers=api).json()
    assert {k: matrix[k] for k in current} == current
    assert [a["product"] for a in matrix["attempts"]] == ["auth-service", "notifications"]

    query = "product=storefront&status=completed&limit=7"
    assert (
        web.get(f"/history?format=json&{query}").json()
        == web.get(f"/api/v1/deployments?{query}", headers=api).json()
    )

    assert (
        web.get("/dora?format=json&days=30").json()
        == web.get("/api/v1/dora?days=30", headers=api).json()
    )

    dep_id = seeded.ids["rollback"]
    twin = web.get(f"/deployments/{dep_id}?format=json").json()
    assert twin["deployment"] == web.get(f"/api/v1/deployments/{dep_id}", headers=api).json()
    assert twin["run_steps"] is None and twin["changelog"] is None

    product = web.get("/products/payments-api?format=json&days=30").json()
    assert product["current"] == web.get("/api/v1/current?product=payments-api", headers=api).json()
    assert (
        product["dora"] == web.get("/api/v1/dora?product=payments-api&days=30", headers=api).json()
    )
    assert product["version_states"] is None
    assert [d["version"] for d in product["timeline"]["production"][:2]] == ["1.2.0", "1.3.0"]
    # twins also take a bearer token, without a session
    web.cookies.clear()
    assert web.get("/?format=json", headers=api).json()["products"] == current["products"]


# -- escaping -------------------------------------------------------------------------------

HOSTILE = '<script>alert("owned")</script>'


def test_hostile_strings_are_escaped_everywhere(
    web: TestClient, ctx: Context, clock: FakeClock, tokens: dict[str, str]
) -> None:
    clock.advance(minutes=1)
    dep = record_deployment(
        ctx,
        RecordRequest(
            product="api",
            environment="production",
            version="1.0.0",
            status="completed",
            deployed_by=HOSTILE,
            branch='"><img src=x onerror=alert(1)>',
            ci_run_url="javascript:alert(1)",
            ci_run_id="<b>run</b>",
            metadata={"<i>key</i>": "</pre><script>alert(2)</script>"},
        ),
    )
    clock.advance(minutes=1)
    mark_rollback(ctx, str(dep.id), actor=HOSTILE, reason="</span><script>alert(3)</script>")
    login(web, tokens["read"])
    pages = [
        "/",
        "/history",
        f"/deployments/{dep.id}",
        "/products/api",
        "/dora?environment=production",
        "/history?actor=" + HOSTILE,
    ]
    for path in pages:
        answer = web.get(path)
        assert answer.status_code == 200, path
        html = answer.text
        assert "<script>alert" not in html, path
        assert "<img src=x" not in html, path
        assert "<i>key</i>" not in html, path
    detail = web.get(f"/deployments/{dep.id}").text
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in detail
    assert 'href="javascript:' not in detail
    assert "javascript:alert(1)" in detail  # shown as text, not as a link
    assert "&lt;/span&gt;&lt;script&gt;alert(3)" in detail
    headers = web.get("/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


# -- history ---------------------------------------------------------------------------------


def test_history_filters_and_pages(web: TestClient, seeded: Seeded, tokens: dict[str, str]) -> None:
    login(web, tokens["read"])
    page = soup(web.get("/history?status=failed").text)
    statuses = {b.text.strip() for b in page.select("table.history tbody .badge")}
    assert statuses == {"✕ failed"}
    assert len(page.select("table.history tbody tr")) == 3
    assert page.select_one('select[name="status"] option[selected]')["value"] == "failed"

    page = soup(web.get("/history?product=search-worker&environment=production").text)
    cells = [[td.text.strip() for td in tr.select("td")[2:4]] for tr in page.select("tbody tr")]
    assert cells and all(c == ["search-worker", "production"] for c in cells)

    page = soup(web.get("/history?kind=rollback").text)
    assert len(page.select("tbody tr")) == 1 and "rollback" in page.select_one("tbody tr").text

    seen: list[str] = []
    url = "/history?product=storefront&limit=5"
    pages = 0
    while url:
        body = soup(web.get(url).text)
        seen += [tr.select_one("td a").text for tr in body.select("tbody tr")]
        older = body.select_one('a[rel="next"]')
        url = older["href"] if older else ""
        pages += 1
    total = web.get("/history?format=json&product=storefront&limit=500").json()["count"]
    assert len(seen) == len(set(seen)) == total and pages == -(-total // 5)

    missing = web.get("/history?product=nope")
    assert missing.status_code == 404
    assert "product" in soup(missing.text).select_one(".error-page").text
    assert web.get("/history?limit=0").status_code == 422
    assert web.get("/history?cursor=garbage").status_code == 422
    empty = soup(web.get("/history?actor=nobody").text)
    assert "No deployments match." in empty.select_one(".empty-state").text


# -- product, deployment, DORA ---------------------------------------------------------------


def test_product_page(web: TestClient, seeded: Seeded, tokens: dict[str, str]) -> None:
    login(web, tokens["read"])
    page = soup(web.get("/products/payments-api").text)
    assert page.h1.text == "payments-api"
    lanes = [h.text.strip() for h in page.select(".lane-title")]
    assert lanes == ["dev", "staging", "production"]
    production = page.select(".lane")[2]
    first = production.select_one(".chip")
    assert "1.2.0" in first.text and "rollback" in first.text
    assert "st-rolled_back" in production.select(".chip")[1]["class"]
    assert page.select_one("#version-states") is not None
    tiles = page.select(".tile")
    assert [t.h3.text for t in tiles] == [
        "Deployment frequency",
        "Lead time for changes",
        "Change failure rate",
        "Recovery time",
    ]
    assert page.select_one("figure.chart svg") is not None
    assert web.get("/products/nope").status_code == 404
    assert web.get("/products/payments-api?days=9999").status_code == 422


def test_deployment_page(web: TestClient, seeded: Seeded, tokens: dict[str, str]) -> None:
    login(web, tokens["read"])
    reverted = seeded.ids["payments-api@1.3.0@production"]
    page = soup(web.get(f"/deployments/{reverted}").text)
    assert "Rolled back by" in page.select_one(".rolled-notice").text
    assert page.select_one(".rolled-notice a")["href"] == f"/deployments/{seeded.ids['rollback']}"
    events = [e.select_one(".ev-type").text for e in page.select(".events li")]
    assert events == ["deployment.completed", "deployment.rolled_back"]
    ci = page.select_one(".facts a[target=_blank]")
    assert ci["href"].startswith("https://ci.example.com/acme/payments-api/runs/")
    assert ci["rel"] == ["noopener", "noreferrer"]
    assert page.select_one("#run-steps") is not None
    assert "[products.payments-api]" in page.text  # how to get a changelog
    rollback = soup(web.get(f"/deployments/{seeded.ids['rollback']}").text)
    assert f"reverts deployment {reverted}" in rollback.select_one(".notice").text
    assert web.get("/deployments/999999").status_code == 404
    assert web.get("/deployments/abc").status_code == 422
    assert web.get("/deployments/abc?format=json").json()["error"]["field"] == "id"


def test_deployment_page_shows_the_changelog(
    ctx: Context, clock: FakeClock, tmp_path: Path, tokens: dict[str, str]
) -> None:
    repo = GitRepo(tmp_path / "checkout")
    when = clock() - timedelta(days=2)
    first = repo.commit("feat: first", when)
    repo.commit("fix(cart): <b>bold</b> totals", when + timedelta(hours=1))
    second = repo.commit("feat!: new checkout", when + timedelta(hours=2))
    for version, commit in (("1.0.0", first), ("1.1.0", second)):
        clock.advance(minutes=10)
        record_deployment(
            ctx,
            RecordRequest(
                product="shop",
                environment="production",
                version=version,
                status="completed",
                commit_sha=commit,
            ),
        )
    local = with_repository(ctx, "shop", repo.path)
    app = create_app(local.settings, ctx=local, server=ServerSettings())
    with TestClient(app, follow_redirects=False) as client:
        login(client, tokens["read"])
        page = soup(client.get("/deployments/2").text)
        titles = [h.text for h in page.select(".group-title")]
        assert titles == ["Features", "Bug fixes"]
        items = [li.text for li in page.select(".commits li")]
        assert "new checkout" in items[0] and "breaking" in items[0]
        assert "cart:" in items[1] and "<b>bold</b> totals" in items[1]  # text, not markup
        twin = client.get("/deployments/2?format=json").json()
        assert twin["changelog"]["commits"] == 2
        first_page = soup(client.get("/deployments/1").text)
        assert "no earlier completed deployment" in first_page.select(".card")[2].text


def test_dora_page(web: TestClient, seeded: Seeded, tokens: dict[str, str]) -> None:
    login(web, tokens["read"])
    page = soup(web.get("/dora").text)
    streams = [h.text.split()[0] for h in page.select("section.stream h2")]
    assert streams == [
        "auth-service",
        "notifications",
        "payments-api",
        "search-worker",
        "storefront",
    ]
    assert len(page.select("figure.chart svg")) == 6
    bands = {b.text.strip().split()[-1] for b in page.select(".band")}
    assert bands <= {"elite", "high", "medium", "low", "data"}
    assert page.select_one('select[name="days"] option[selected]')["value"] == "90"
    narrow = soup(web.get("/dora?product=storefront&environment=staging&days=30").text)
    assert [h.text.split()[0] for h in narrow.select("section.stream h2")] == ["storefront"]
    assert "staging" in narrow.select_one(".lede").text
    assert web.get("/dora?days=0").status_code == 422
    assert web.get("/dora?environment=mars").status_code == 404


def test_static_files_are_shipped(web: TestClient) -> None:
    css = web.get("/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    js = web.get("/static/dashboard.js")
    assert js.headers["content-type"].startswith("text/javascript")
    assert web.get("/static/favicon.svg").headers["content-type"] == "image/svg+xml"
    assert web.get("/static/nope.css").status_code == 404
    assert web.get("/static/..%2Fpages.py").status_code == 404
    for text in (css.text, js.text):
        assert not re.search(r"https?://", text), "assets must not load anything from outside"
