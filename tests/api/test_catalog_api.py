"""The catalog over HTTP: near misses refused on every write route, ?create=true,
rename/merge/archive through /api/v1 with product-limited admins, retries."""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from tests.api.auth_world import fingerprint
from tests.api.conftest import auth

DEPLOY = {"product": "api", "environment": "production", "version": "1.0.0", "status": "completed"}


def _seed(client: TestClient, token: str) -> None:
    r = client.post("/api/v1/deployments", json=DEPLOY, headers=auth(token))
    assert r.status_code == 201, r.text


def test_v1_refuses_a_near_miss_and_create_lets_it_through(
    client: TestClient, tokens: dict[str, str], ctx: Context
) -> None:
    _seed(client, tokens["write"])
    before = fingerprint(ctx)
    typo = {**DEPLOY, "environment": "prodution"}
    r = client.post("/api/v1/deployments", json=typo, headers=auth(tokens["write"]))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert (error["code"], error["field"]) == ("unknown_name", "environment")
    assert error["details"] == {"suggestions": ["production"]}
    r = client.post(
        "/api/v1/builds", json={"product": "API", "version": "1.0.0"}, headers=auth(tokens["write"])
    )
    assert (r.status_code, r.json()["error"]["field"]) == (422, "product")
    assert fingerprint(ctx) == before
    r = client.post(
        "/api/v1/deployments", params={"create": "true"}, json=typo, headers=auth(tokens["write"])
    )
    assert r.status_code == 201, r.text


def test_versioner_and_bloqr_refuse_a_near_miss_but_create_new_products(
    client: TestClient, tokens: dict[str, str], ctx: Context
) -> None:
    _seed(client, tokens["write"])
    event = {"product_name": "Api", "version": "1.0.0", "status": "completed"}
    r = client.post("/versioner/build-events/", json=event, headers=auth(tokens["write"]))
    assert r.status_code == 422, r.text
    assert "did you mean 'api'" in r.text
    fresh = {**event, "product_name": "billing"}
    r = client.post("/versioner/build-events/", json=fresh, headers=auth(tokens["write"]))
    assert r.status_code in (200, 201), r.text


def test_warn_mode_answers_with_a_warning_header(ctx: Context, tokens: dict[str, str]) -> None:
    settings = replace(ctx.settings, sections={"catalog": {"unknown": "warn"}})
    warned = Context(settings=settings, engine=ctx.engine, clock=ctx.clock)
    app = create_app(settings, ctx=warned, server=ServerSettings())
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/api/v1/deployments", json=DEPLOY, headers=auth(tokens["write"]))
        assert r.status_code == 201
        assert r.headers["Shipmate-Warning"] == (
            "created a new product 'api'; created a new environment 'production'"
        )
        again = client.post("/api/v1/deployments", json=DEPLOY, headers=auth(tokens["write"]))
        assert "Shipmate-Warning" not in again.headers


def test_rename_through_the_api_is_idempotent_and_audited(
    client: TestClient, tokens: dict[str, str]
) -> None:
    _seed(client, tokens["write"])
    admin = auth(tokens["admin"])
    for expected in (True, False):
        r = client.post("/api/v1/products/api/rename", json={"name": "svc"}, headers=admin)
        assert r.status_code == 200, r.text
        assert r.json()["changed"] is expected
    r = client.get("/api/v1/deployments", params={"product": "svc"}, headers=admin)
    assert len(r.json()["items"]) == 1
    events = client.get("/api/v1/events", headers=admin).json()["items"]
    assert [e["type"] for e in events].count("product.renamed") == 1
    r = client.post("/api/v1/products/nothing/rename", json={"name": "x"}, headers=admin)
    assert r.status_code == 404


def test_a_limited_admin_merges_its_own_products_only(client: TestClient, ctx: Context) -> None:
    both = create_key(ctx, "both", "admin", ["api", "API"]).token
    one = create_key(ctx, "one", "admin", ["api"]).token
    _seed(client, both)
    r = client.post(
        "/api/v1/deployments",
        params={"create": "true"},
        json={**DEPLOY, "product": "API", "version": "2.0.0"},
        headers=auth(both),
    )
    assert r.status_code == 201, r.text
    before = fingerprint(ctx)
    r = client.post("/api/v1/products/API/merge", json={"into": "api"}, headers=auth(one))
    assert r.status_code == 403
    r = client.post("/api/v1/products/API/rename", json={"name": "x"}, headers=auth(one))
    assert r.status_code == 403
    assert fingerprint(ctx) == before
    r = client.post("/api/v1/products/API/merge", json={"into": "api"}, headers=auth(both))
    assert r.status_code == 200, r.text
    r = client.get("/api/v1/current", params={"product": "api"}, headers=auth(both))
    assert [c["version"] for c in r.json()["cells"]] == ["2.0.0"]
    r = client.post("/api/v1/deployments", json={**DEPLOY, "product": "API"}, headers=auth(both))
    assert (r.status_code, r.json()["error"]["code"]) == (409, "conflict")
    assert "unarchive" in r.json()["error"]["message"]


def test_bad_catalog_requests_are_refused_not_500(
    client: TestClient, tokens: dict[str, str]
) -> None:
    _seed(client, tokens["write"])
    admin = auth(tokens["admin"])
    for path, body in (
        ("/api/v1/products/api/merge", {"into": "api"}),
        ("/api/v1/products/api/merge", {"into": "nowhere"}),
        ("/api/v1/products/api/rename", {"name": "bad/name"}),
        ("/api/v1/products/api/rename", {"nom": "x"}),
        ("/api/v1/environments/nowhere/archive", None),
    ):
        r = client.post(path, json=body, headers=admin)
        assert 400 <= r.status_code < 500, (path, r.text)
