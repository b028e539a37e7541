"""Names outside the charset: refused by every write, still readable when stored earlier."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shipmate.domain.inputs import names
from shipmate.domain.requests import RecordRequest
from shipmate.services.context import Context
from shipmate.services.records.deployments import record_deployment
from shipmate.store.namecheck import names_outside_charset
from shipmate.store.schema import builds, deployments, products
from tests.api.conftest import auth

HOSTILE = [
    ("product", "team/api"),
    ("product", "a:b"),
    ("product", "@scope/pkg"),
    ("product", "-rm"),
    ("environment", "prod/../../x"),
    ("environment", "prod\x01"),
    ("version", "1.0.0/../../evil"),
    ("version", "1.0~rc1"),
]


def _counts(ctx: Context) -> tuple[int, int, int]:
    with ctx.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (deployments, builds, products)
        )


@pytest.mark.parametrize(("field", "value"), HOSTILE)
def test_v1_deployments_refuse_names_outside_the_charset(
    client: TestClient, tokens: dict[str, str], ctx: Context, field: str, value: str
) -> None:
    body = {"product": "api", "environment": "production", "version": "1.0.0"}
    body[field] = value
    r = client.post(
        "/api/v1/deployments", json={**body, "status": "completed"}, headers=auth(tokens["admin"])
    )
    assert r.status_code == 422, r.text
    assert (r.json()["error"]["code"], r.json()["error"]["field"]) == ("invalid_input", field)
    assert "letters, digits and . _ - +" in r.json()["error"]["message"]
    assert _counts(ctx) == (0, 0, 0)


@pytest.mark.parametrize(("field", "value"), [h for h in HOSTILE if h[0] != "environment"])
def test_v1_builds_refuse_names_outside_the_charset(
    client: TestClient, tokens: dict[str, str], ctx: Context, field: str, value: str
) -> None:
    body = {"product": "api", "version": "1.0.0", field: value}
    r = client.post("/api/v1/builds", json=body, headers=auth(tokens["admin"]))
    assert (r.status_code, r.json()["error"]["field"]) == (422, field), r.text
    assert _counts(ctx) == (0, 0, 0)


@pytest.mark.parametrize(("field", "value"), HOSTILE)
def test_versioner_events_refuse_names_outside_the_charset(
    client: TestClient, tokens: dict[str, str], ctx: Context, field: str, value: str
) -> None:
    wire = {"product": "product_name", "environment": "environment_name", "version": "version"}
    body = {"product_name": "api", "environment_name": "production", "version": "1.0.0"}
    body[wire[field]] = value
    r = client.post(
        "/versioner/deployment-events/",
        json={**body, "status": "completed"},
        headers=auth(tokens["admin"]),
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", wire[field]], r.text
    if field != "environment":
        del body["environment_name"]
        r = client.post(
            "/versioner/build-events/",
            json={**body, "status": "completed"},
            headers=auth(tokens["admin"]),
        )
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body", wire[field]], r.text
    assert _counts(ctx) == (0, 0, 0)


def _legacy_rows(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> int:
    """Rows an older shipmate accepted: the wider charset it had."""
    with monkeypatch.context() as old:
        old.setattr(names, "_NAME", names._LEGACY)
        dep = record_deployment(
            ctx,
            RecordRequest(
                product="team/api",
                environment="prod:eu",
                version="1.0.0/../../evil",
                status="completed",
            ),
        )
    return int(dep.id)


def test_rows_stored_by_older_versions_stay_readable(
    client: TestClient, tokens: dict[str, str], ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    dep_id = _legacy_rows(ctx, monkeypatch)
    read = auth(tokens["read"])
    history = client.get("/api/v1/deployments", params={"product": "team/api"}, headers=read)
    assert history.status_code == 200
    assert [d["version"] for d in history.json()["items"]] == ["1.0.0/../../evil"]
    one = client.get(f"/api/v1/deployments/{dep_id}", headers=read)
    assert (one.status_code, one.json()["environment"]) == (200, "prod:eu")
    cells = client.get("/api/v1/current", headers=read).json()["cells"]
    assert [c["product"] for c in cells] == ["team/api"]
    bloqr = client.get("/api/deployments", params={"product": "team/api"}, headers=read)
    assert bloqr.status_code == 200
    # ... and no write takes them again.
    again = client.post(
        "/api/v1/deployments",
        json={
            "product": "team/api",
            "environment": "prod",
            "version": "1.0.1",
            "status": "completed",
        },
        headers=auth(tokens["admin"]),
    )
    assert (again.status_code, again.json()["error"]["field"]) == (422, "product")
    with ctx.read() as conn:
        found = names_outside_charset(conn)
    assert [(f.kind, f.name, f.product) for f in found] == [
        ("product", "team/api", None),
        ("environment", "prod:eu", None),
        ("version", "1.0.0/../../evil", "team/api"),
    ]
    assert found[2].describe() == (
        "version '1.0.0/../../evil' of product 'team/api' contains '/', so it would be a path"
    )
