from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shipmate.demo.clock import FakeClock
from shipmate.services.context import Context
from shipmate.store.schema import deployments, events
from tests.api.conftest import auth


def post_dep(client: TestClient, token: str, **body: object) -> object:
    payload = {
        "product": "api",
        "environment": "production",
        "version": "1.0.0",
        "status": "completed",
    }
    payload.update(body)
    return client.post("/api/v1/deployments", json=payload, headers=auth(token))


def test_health(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"


def test_build_and_deployment_lifecycle(
    client: TestClient, tokens: dict[str, str], clock: FakeClock
) -> None:
    w = tokens["write"]
    b = client.post(
        "/api/v1/builds",
        json={"product": "api", "version": "1.4.0", "commit": "abc"},
        headers=auth(w),
    )
    assert b.status_code == 201
    build = b.json()
    assert (build["build_number"], build["full_version"], build["id"]) == (1, "1.4.0+build.1", "1")
    started = post_dep(client, w, version="1.4.0+build.1", status="started", ci_run_id="9")
    assert started.status_code == 201
    dep = started.json()
    assert isinstance(dep["id"], str) and dep["status"] == "started"
    assert dep["started_at"].endswith("Z")
    clock.advance(seconds=30)
    done = client.post(
        f"/api/v1/deployments/{dep['id']}/events", json={"status": "success"}, headers=auth(w)
    )
    assert done.status_code == 200
    assert done.json()["status"] == "completed" and done.json()["duration_ms"] == 30_000
    one = client.get(f"/api/v1/deployments/{dep['id']}", headers=auth(tokens["read"])).json()
    assert [e["to_status"] for e in one["events"]] == ["started", "completed"]
    assert {e["key_name"] for e in one["events"]} == {"write-key"}
    matrix = client.get("/api/v1/current", headers=auth(tokens["read"])).json()
    assert matrix["cells"][0]["full_version"] == "1.4.0+build.1"


def test_history_pagination_and_filters(
    client: TestClient, tokens: dict[str, str], clock: FakeClock
) -> None:
    for i in range(7):
        clock.advance(minutes=1)
        post_dep(
            client, tokens["write"], version=f"1.0.{i}", status="failed" if i == 3 else "completed"
        )
    r = tokens["read"]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"product": "api", "limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/deployments", params=params, headers=auth(r)).json()
        seen += [d["version"] for d in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"1.0.{i}" for i in reversed(range(7))]
    failed = client.get("/api/v1/deployments", params={"status": "failure"}, headers=auth(r)).json()
    assert [d["version"] for d in failed["items"]] == ["1.0.3"]
    stats = client.get("/api/v1/stats", params={"product": "api"}, headers=auth(r)).json()
    assert (stats["total"], stats["failed"]) == (7, 1)


def test_auth_errors(client: TestClient, tokens: dict[str, str], ctx: Context) -> None:
    assert client.get("/api/v1/deployments").status_code == 401
    assert client.get("/api/v1/deployments", headers=auth("shm_nope_nope")).status_code == 401
    assert (
        client.get("/api/v1/deployments", headers={"Authorization": "Basic abc"}).status_code == 401
    )
    body = post_dep(client, tokens["read"]).json()
    assert body["error"]["code"] == "forbidden"
    assert post_dep(client, tokens["read"]).status_code == 403
    assert client.get("/api/v1/events", headers=auth(tokens["write"])).status_code == 403
    assert post_dep(client, tokens["api-only"], product="web").status_code == 403
    assert post_dep(client, tokens["api-only"]).status_code == 201
    revoked = client.delete("/api/v1/keys/write-key", headers=auth(tokens["admin"]))
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert post_dep(client, tokens["write"]).status_code == 401
    with ctx.read() as conn:
        assert conn.execute(select(func.count()).select_from(deployments)).scalar() == 1


def test_audit_log_names_key_and_claimed_actor(client: TestClient, tokens: dict[str, str]) -> None:
    post_dep(client, tokens["write"], deployed_by="mallory")
    items = client.get(
        "/api/v1/events", params={"type": "deployment."}, headers=auth(tokens["admin"])
    ).json()["items"]
    assert (items[0]["actor"], items[0]["key_name"]) == ("mallory", "write-key")


def test_bad_input_is_422_naming_the_field_and_writes_nothing(
    client: TestClient, tokens: dict[str, str], ctx: Context
) -> None:
    w = auth(tokens["write"])
    cases = [
        ({"status": "exploded"}, "status"),
        ({"version": "bad version"}, "version"),
        ({"environment": ""}, "environment"),
        ({"metadata": "not an object"}, "metadata"),
        ({"build_number": "seven"}, "build_number"),
        ({"started_at": "2026-01-01T00:00:00"}, "started_at"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"deployed_by": "x" * 300}, "deployed_by"),
    ]
    for patch, field in cases:
        payload = {
            "product": "api",
            "environment": "production",
            "version": "1.0.0",
            "status": "completed",
        }
        payload.update(patch)
        resp = client.post("/api/v1/deployments", json=payload, headers=w)
        assert resp.status_code == 422, (patch, resp.text)
        assert resp.json()["error"]["field"] == field, resp.json()
    malformed = client.post(
        "/api/v1/deployments",
        content=b"{not json",
        headers={**w, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 422
    wrong_type = client.post("/api/v1/deployments", json=[1, 2], headers=w)
    assert wrong_type.status_code == 422
    huge = client.post(
        "/api/v1/deployments",
        json={
            "product": "api",
            "environment": "p",
            "version": "1.0.0",
            "status": "completed",
            "metadata": {"x": "y" * 150_000},
        },
        headers=w,
    )
    assert huge.status_code == 413
    too_big = client.post(
        "/api/v1/deployments",
        content=b"x" * 2_000_000,
        headers={**w, "Content-Type": "application/json"},
    )
    assert too_big.status_code == 413
    with ctx.read() as conn:
        assert conn.execute(select(func.count()).select_from(deployments)).scalar() == 0
        assert (
            conn.execute(select(func.count()).select_from(events)).scalar() == 4
        )  # key.created only


def test_unknown_ids_and_illegal_transitions(client: TestClient, tokens: dict[str, str]) -> None:
    r, w = auth(tokens["read"]), auth(tokens["write"])
    assert client.get("/api/v1/deployments/999", headers=r).status_code == 404
    assert client.get("/api/v1/deployments/abc", headers=r).status_code == 422
    dep = post_dep(client, tokens["write"], status="failed").json()
    resp = client.post(
        f"/api/v1/deployments/{dep['id']}/events", json={"status": "completed"}, headers=w
    )
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "illegal_transition"


def test_html_and_sql_strings_round_trip_verbatim(
    client: TestClient, tokens: dict[str, str]
) -> None:
    nasty = "<script>alert(1)</script>'; DROP TABLE deployments;--"
    dep = post_dep(client, tokens["write"], deployed_by=nasty, metadata={"n": nasty}).json()
    back = client.get(f"/api/v1/deployments/{dep['id']}", headers=auth(tokens["read"])).json()
    assert back["deployed_by"] == nasty and back["metadata"] == {"n": nasty}


def test_idempotency_key_replays(client: TestClient, tokens: dict[str, str], ctx: Context) -> None:
    headers = {**auth(tokens["write"]), "Idempotency-Key": "abc-123"}
    body = {"product": "api", "version": "2.0.0"}
    first = client.post("/api/v1/builds", json=body, headers=headers).json()
    again = client.post("/api/v1/builds", json=body, headers=headers).json()
    assert first["id"] == again["id"] and again["build_number"] == 1
    fresh = client.post("/api/v1/builds", json=body, headers=auth(tokens["write"])).json()
    assert fresh["build_number"] == 2
    clash = client.post(
        "/api/v1/builds", json={"product": "api", "version": "3.0.0"}, headers=headers
    )
    assert clash.status_code == 409 and clash.json()["error"]["field"] == "idempotency_key"


def test_keys_api(client: TestClient, tokens: dict[str, str]) -> None:
    a = auth(tokens["admin"])
    created = client.post(
        "/api/v1/keys", json={"name": "deployer", "scope": "write"}, headers=a
    ).json()
    assert created["token"].startswith("shm_")
    listed = client.get("/api/v1/keys", headers=a).json()["items"]
    assert "token" not in json.dumps(listed) and "secret" not in json.dumps(listed)
    assert {k["name"] for k in listed} >= {"deployer", "admin-key"}
    dup = client.post("/api/v1/keys", json={"name": "deployer", "scope": "write"}, headers=a)
    assert dup.status_code == 409


def test_openapi_and_docs(client: TestClient, tokens: dict[str, str]) -> None:
    spec = client.get("/openapi.json", headers=auth(tokens["read"])).json()
    assert (
        "/api/v1/deployments" in spec["paths"] and "/versioner/deployment-events/" in spec["paths"]
    )
    assert client.get("/docs", headers=auth(tokens["read"])).status_code == 200


def test_actor_defaults_to_the_key_name_not_the_server_user(
    client: TestClient, tokens: dict[str, str]
) -> None:
    dep = post_dep(client, tokens["write"]).json()
    assert dep["deployed_by"] == "write-key"
