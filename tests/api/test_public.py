"""What a request without a key can see: /healthz, a bare /readyz, and (only with
anonymous_read) the API documentation, which loads nothing from another host."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.config import Settings
from shipmate.services.context import Context
from shipmate.store.engine import make_engine
from tests.api.conftest import auth
from tests.web.conftest import login
from tests.web.liveserver import free_port

PASSWORD = "hunter2-Secret"


def test_readyz_does_not_tell_strangers_where_the_database_is(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()  # nothing listens there: connection refused
    url = f"postgresql://shipmate:{PASSWORD}@127.0.0.1:{port}/shipmate"
    ctx = Context(settings=Settings(database_url=url), engine=make_engine(url))
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings())
    client = TestClient(app, raise_server_exceptions=False)  # no lifespan: nothing else runs
    with caplog.at_level(logging.WARNING, logger="shipmate"):
        ready = client.get("/readyz")
    ctx.close()
    assert ready.status_code == 503
    assert ready.headers["Retry-After"] == "5"
    assert ready.json() == {
        "status": "unavailable",
        "reason": "the database is unreachable",
        "error": {
            "code": "store_error",
            "message": "the database is unavailable; try again in 5 s",
            "details": {"retry_after": 5},
        },
    }
    for secret in ("127.0.0.1", str(port), PASSWORD, "shipmate@"):
        assert secret not in ready.text
    # The reason goes to the server's log once an outage begins (tests/api/test_outage_*);
    # never with the password.
    assert PASSWORD not in "\n".join(r.getMessage() for r in caplog.records)


def test_readyz_says_when_the_schema_is_behind(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    ctx = Context(settings=Settings(database_url=url), engine=make_engine(url))
    client = TestClient(create_app(ctx.settings, ctx=ctx), raise_server_exceptions=False)
    ready = client.get("/readyz")
    ctx.close()
    assert ready.status_code == 503
    assert ready.json()["reason"] == "the database schema is not up to date"


@pytest.fixture
def closed(ctx: Context) -> Iterator[TestClient]:
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings())
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


@pytest.fixture
def open_(ctx: Context) -> Iterator[TestClient]:
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings(anonymous_read=True))
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


def test_the_api_docs_need_a_key_without_anonymous_read(
    closed: TestClient, tokens: dict[str, str]
) -> None:
    spec = closed.get("/openapi.json")
    assert spec.status_code == 401 and spec.json()["error"]["code"] == "unauthenticated"
    assert "paths" not in spec.text
    for page in ("/docs", "/redoc"):
        answer = closed.get(page)
        assert (
            answer.status_code == 303 and answer.headers["location"] == f"/login?next=%2F{page[1:]}"
        )
    assert closed.get("/openapi.json", headers=auth("shm_0000000000_bad")).status_code == 401
    # a key of any scope opens them
    spec = closed.get("/openapi.json", headers=auth(tokens["read"]))
    assert spec.status_code == 200 and "/api/v1/deployments" in spec.json()["paths"]
    for page in ("/docs", "/redoc"):
        assert closed.get(page, headers=auth(tokens["read"])).status_code == 200


def test_a_dashboard_session_opens_the_docs(closed: TestClient, tokens: dict[str, str]) -> None:
    login(closed, tokens["read"])
    assert closed.get("/docs").status_code == 200
    assert closed.get("/openapi.json").status_code == 200


def test_anonymous_read_opens_the_docs(open_: TestClient) -> None:
    assert open_.get("/openapi.json").status_code == 200
    assert open_.get("/docs").status_code == 200
    assert open_.get("/redoc").status_code == 200


def test_the_docs_pages_load_only_from_this_server(open_: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = open_.get(page)
        assert html.status_code == 200
        references = re.findall(r'(?:src|href)="([^"]*)"', html.text)
        assert references, page
        assert all(ref.startswith("/") and not ref.startswith("//") for ref in references), (
            page,
            references,
        )
        assert "cdn." not in html.text and "fonts.googleapis" not in html.text
        csp = html.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "connect-src 'self'" in csp
        for ref in references:
            if ref.startswith("/docs/assets/"):
                asset = open_.get(ref)
                assert asset.status_code == 200 and len(asset.content) > 10_000, ref
    assert open_.get("/docs/assets/../../etc/passwd").status_code == 404
    assert open_.get("/docs/assets/nothing.js").status_code == 404
