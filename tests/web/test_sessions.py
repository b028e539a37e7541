"""Dashboard sessions: server-side, hashed, bound to the key, ended by logout, expiry and
revocation; CSRF on login and logout; the cookie never works as an API token."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.demo.clock import FakeClock
from shipmate.services.auth.keys import revoke_key
from shipmate.services.context import Context
from shipmate.store.schema_sessions import dashboard_sessions
from shipmate.web.session import COOKIE_NAME, LOGIN_COOKIE
from tests.web.conftest import login, login_csrf, page_csrf
from tests.web.seed import Seeded


def _session_rows(ctx: Context) -> list[dict[str, object]]:
    with ctx.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(dashboard_sessions))]


def test_the_cookie_is_a_random_session_id_stored_only_as_a_hash(
    web: TestClient, ctx: Context, seeded: Seeded, tokens: dict[str, str]
) -> None:
    login(web, tokens["admin"])
    cookie = web.cookies[COOKIE_NAME]
    assert cookie.startswith("sms_") and len(cookie) > 40
    assert tokens["admin"] not in cookie and tokens["admin"].split("_", 2)[2] not in cookie
    rows = _session_rows(ctx)
    assert len(rows) == 1
    assert rows[0]["id_hash"] == hashlib.sha256(cookie.encode()).hexdigest()
    assert cookie not in str(rows)
    assert rows[0]["expires_at"] == ctx.now() + timedelta(hours=12)


def test_logout_ends_the_session_on_the_server(
    web: TestClient, ctx: Context, seeded: Seeded, tokens: dict[str, str]
) -> None:
    login(web, tokens["read"])
    stolen = web.cookies[COOKIE_NAME]
    out = web.post("/logout", data={"csrf": page_csrf(web)})
    assert out.status_code == 303 and COOKIE_NAME not in web.cookies
    # a copy of the cookie taken before the logout no longer opens anything
    web.cookies.set(COOKIE_NAME, stolen)
    replay = web.get("/")
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login")
    web.cookies.set(COOKIE_NAME, stolen)
    assert web.get("/?format=json").status_code == 401
    assert _session_rows(ctx)[0]["revoked_at"] == ctx.now()


def test_a_session_expires(
    web: TestClient, clock: FakeClock, seeded: Seeded, tokens: dict[str, str]
) -> None:
    login(web, tokens["read"])
    clock.advance(hours=11, minutes=59)
    assert web.get("/").status_code == 200
    clock.advance(minutes=1)
    expired = web.get("/")
    assert expired.status_code == 303 and expired.headers["location"].startswith("/login")


@pytest.mark.parametrize("server_settings", [ServerSettings(session_hours=0.5)])
def test_the_session_lifetime_is_configurable(
    web: TestClient, clock: FakeClock, seeded: Seeded, tokens: dict[str, str]
) -> None:
    answer = web.post("/login", data={"key": tokens["read"], "next": "/", "csrf": login_csrf(web)})
    assert "max-age=1800" in answer.headers.get_list("set-cookie")[0].lower()
    clock.advance(minutes=30)
    assert web.get("/").status_code == 303


def test_revoking_the_key_ends_its_sessions_on_every_server(
    ctx: Context, seeded: Seeded, tokens: dict[str, str]
) -> None:
    """Two apps on one database (two servers): revoking through one, or the CLI,
    ends the session on the other at once (no cache in between)."""
    apps = [create_app(ctx.settings, ctx=ctx, server=ServerSettings()) for _ in range(2)]
    with (
        TestClient(apps[0], follow_redirects=False) as one,
        TestClient(apps[1], follow_redirects=False) as two,
    ):
        login(one, tokens["read"])
        two.cookies.set(COOKIE_NAME, one.cookies[COOKIE_NAME])
        assert two.get("/").status_code == 200
        revoke_key(ctx, "team-lead")
        assert two.get("/").status_code == 303
        assert one.get("/").status_code == 303


def test_the_session_cookie_never_authenticates_the_api(
    web: TestClient, seeded: Seeded, tokens: dict[str, str]
) -> None:
    login(web, tokens["admin"])  # an admin's session
    cookie = web.cookies[COOKIE_NAME]
    assert web.get("/?format=json").status_code == 200  # a page's JSON twin: yes
    for method, path, body in (
        ("GET", "/api/v1/keys", None),
        ("POST", "/api/v1/keys", {"name": "sneaky", "scope": "admin"}),
        ("GET", "/api/v1/deployments", None),
        ("POST", "/api/v1/deployments", {"product": "x", "environment": "dev", "version": "1"}),
        ("GET", "/api/deployments?product=storefront", None),
    ):
        with_cookie = web.request(method, path, json=body)
        assert with_cookie.status_code == 401, (method, path, with_cookie.text)
        as_bearer = web.request(
            method, path, json=body, headers={"Authorization": f"Bearer {cookie}"}
        )
        assert as_bearer.status_code == 401, (method, path)
    # the same requests with the key itself work: the refusals above are the cookie's
    keys = web.get("/api/v1/keys", headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert keys.status_code == 200 and "sneaky" not in keys.text


def test_other_sites_cannot_log_anyone_out(
    web: TestClient, seeded: Seeded, tokens: dict[str, str]
) -> None:
    login(web, tokens["read"])
    csrf = page_csrf(web)
    for data, headers in (
        ({}, {}),  # a bare cross-site form: no token
        ({"csrf": "0" * 64}, {}),  # a guessed token
        ({"csrf": csrf}, {"Origin": "https://evil.example"}),  # right token, wrong site
    ):
        refused = web.post("/logout", data=data, headers=headers)
        assert refused.status_code == 403, (data, headers)
        assert COOKIE_NAME in web.cookies
        assert web.get("/").status_code == 200, "the session must still be open"
    assert web.post("/logout", data={"csrf": csrf}).status_code == 303
    assert web.get("/").status_code == 303


def test_the_csrf_token_belongs_to_its_session(
    web: TestClient, ctx: Context, seeded: Seeded, tokens: dict[str, str]
) -> None:
    login(web, tokens["read"])
    first = page_csrf(web)
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings())
    with TestClient(app, follow_redirects=False) as other:
        login(other, tokens["read"])
        assert page_csrf(other) != first
        assert other.post("/logout", data={"csrf": first}).status_code == 403


def test_login_needs_the_forms_own_token(
    web: TestClient, ctx: Context, seeded: Seeded, tokens: dict[str, str]
) -> None:
    """Another site cannot log a browser in with the attacker's key (login CSRF)."""
    no_token = web.post("/login", data={"key": tokens["read"], "next": "/"})
    assert no_token.status_code == 403
    assert COOKIE_NAME not in web.cookies and _session_rows(ctx) == []
    csrf = login_csrf(web)
    web.cookies.delete(LOGIN_COOKIE)
    no_cookie = web.post("/login", data={"key": tokens["read"], "csrf": csrf})
    assert no_cookie.status_code == 403 and _session_rows(ctx) == []
    csrf = login_csrf(web)
    wrong = web.post("/login", data={"key": tokens["read"], "csrf": csrf[::-1]})
    assert wrong.status_code == 403 and _session_rows(ctx) == []
    assert "log in again" in wrong.text
    good = web.post("/login", data={"key": tokens["read"], "csrf": login_csrf(web)})
    assert good.status_code == 303 and len(_session_rows(ctx)) == 1


def test_logging_in_again_ends_the_previous_session(
    web: TestClient, ctx: Context, seeded: Seeded, tokens: dict[str, str]
) -> None:
    login(web, tokens["read"])
    before = web.cookies[COOKIE_NAME]
    login(web, tokens["admin"])
    assert web.cookies[COOKIE_NAME] != before
    web.cookies.set(COOKIE_NAME, before)
    assert web.get("/").status_code == 303
    assert sum(1 for r in _session_rows(ctx) if r["revoked_at"] is None) == 1


@pytest.fixture
def https_web(ctx: Context) -> Iterator[TestClient]:
    server = ServerSettings(public_url="https://deploy.example.com")
    app = create_app(ctx.settings, ctx=ctx, server=server)
    with TestClient(app, follow_redirects=False) as client:
        yield client


def test_public_url_https_makes_every_cookie_secure(
    https_web: TestClient, seeded: Seeded, tokens: dict[str, str]
) -> None:
    page = https_web.get("/login")
    assert "secure" in page.headers["set-cookie"].lower()
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    # plain http behind a TLS proxy that sends no X-Forwarded-Proto: still Secure;
    # Origin is the public address, not the Host the proxy passed on
    answer = https_web.post(
        "/login",
        data={"key": tokens["read"], "csrf": token},
        headers={"Origin": "https://deploy.example.com", "Cookie": f"{LOGIN_COOKIE}={token}"},
    )
    assert answer.status_code == 303, answer.text
    session_cookie = answer.headers.get_list("set-cookie")[0]
    assert session_cookie.startswith(COOKIE_NAME) and "secure" in session_cookie.lower()
    assert "samesite=lax" in session_cookie.lower() and "httponly" in session_cookie.lower()


def test_public_url_is_checked() -> None:
    from shipmate.errors import ConfigError

    assert ServerSettings.from_table({"public_url": "https://Deploy.example.com/"}).public_url == (
        "https://deploy.example.com"
    )
    for bad in ("deploy.example.com", "ftp://x", "https://u:p@x", 3):
        with pytest.raises(ConfigError) as err:
            ServerSettings.from_table({"public_url": bad})
        assert err.value.field == "server.public_url"
    with pytest.raises(ConfigError):
        ServerSettings.from_table({"session_hours": 0})
