from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.demo.clock import FakeClock
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from tests.web.seed import Seeded, seed


@pytest.fixture
def seeded(ctx: Context, clock: FakeClock) -> Seeded:
    return seed(ctx, clock)


@pytest.fixture
def tokens(ctx: Context) -> dict[str, str]:
    return {
        "read": create_key(ctx, "team-lead", "read").token,
        "admin": create_key(ctx, "ops", "admin").token,
        "payments": create_key(ctx, "payments-team", "read", ["payments-api"]).token,
    }


@pytest.fixture
def server_settings() -> ServerSettings:
    return ServerSettings()


@pytest.fixture
def web(ctx: Context, server_settings: ServerSettings) -> Iterator[TestClient]:
    app = create_app(ctx.settings, ctx=ctx, server=server_settings)
    with TestClient(app, raise_server_exceptions=True, follow_redirects=False) as client:
        yield client


def login_csrf(client: TestClient) -> str:
    """The login form's double-submit token (GET /login also sets its cookie)."""
    page = client.get("/login")
    form = page.text.split('action="/login"', 1)[-1]  # not the logout form in the header
    found = re.search(r'name="csrf" value="([^"]+)"', form)
    assert found is not None, page.text
    return found.group(1)


def page_csrf(client: TestClient, path: str = "/") -> str:
    """The CSRF token a logged-in page puts into its forms (the logout form)."""
    page = client.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def login(client: TestClient, token: str) -> None:
    answer = client.post("/login", data={"key": token, "next": "/", "csrf": login_csrf(client)})
    assert answer.status_code == 303, answer.text
