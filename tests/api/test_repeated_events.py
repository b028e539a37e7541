"""A finish event sent twice is one finish, on every write path (Versioner, v1), and
bloqr's history and stats count it once."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shipmate.demo.clock import FakeClock
from shipmate.services.context import Context
from shipmate.store.schema import deployments, events
from tests.api.conftest import auth
from tests.api.test_versioner import deployment

VERSIONER = "/versioner/deployment-events/"


def rollback_events(ctx: Context) -> int:
    with ctx.read() as conn:
        query = select(func.count()).select_from(events)
        return int(conn.execute(query.where(events.c.type == "deployment.rolled_back")).scalar())


def counts(ctx: Context) -> tuple[int, int]:
    with ctx.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(deployments)).scalar_one(),
            conn.execute(
                select(func.count()).select_from(events).where(events.c.deployment_id.is_not(None))
            ).scalar_one(),
        )


@pytest.mark.parametrize("finish", ["success", "failed", "cancelled"])
def test_versioner_finish_sent_twice_is_one_finish(
    client: TestClient, tokens: dict[str, str], ctx: Context, clock: FakeClock, finish: str
) -> None:
    w = auth(tokens["write"])
    started = client.post(VERSIONER, json=deployment(), headers=w)
    assert started.status_code == 201
    clock.advance(minutes=1)
    first = client.post(VERSIONER, json=deployment(status=finish), headers=w)
    assert first.status_code == 201
    before = counts(ctx)
    clock.advance(seconds=3)  # the CLI's retry comes a few seconds later
    again = client.post(VERSIONER, json=deployment(status=finish), headers=w)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.json()["id"] == started.json()["id"]
    assert counts(ctx) == before == (1, 2)
    r = auth(tokens["read"])
    history = client.get("/api/v1/deployments?product=my-service", headers=r).json()
    assert history["count"] == 1
    bloqr = client.get("/api/deployments/stats?product=my-service", headers=r).json()
    assert bloqr["totalDeployments"] == 1


def test_versioner_finish_without_start_sent_twice(
    client: TestClient, tokens: dict[str, str], ctx: Context
) -> None:
    w = auth(tokens["write"])
    body = deployment(status="completed")
    first = client.post(VERSIONER, json=body, headers=w)
    again = client.post(VERSIONER, json=body, headers=w)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json() and counts(ctx) == (1, 1)
    bloqr = client.get("/api/deployments?product=my-service", headers=auth(tokens["read"]))
    assert bloqr.json()["count"] == 1


def test_new_attempts_open_new_deployments(
    client: TestClient, tokens: dict[str, str], ctx: Context, clock: FakeClock
) -> None:
    w = auth(tokens["write"])
    one = client.post(VERSIONER, json=deployment(status="failed"), headers=w).json()
    # A CI re-run sends started again: a new deployment, finished on its own.
    rerun = client.post(VERSIONER, json=deployment(), headers=w)
    assert rerun.status_code == 201 and rerun.json()["id"] != one["id"]
    done = client.post(VERSIONER, json=deployment(status="failed"), headers=w).json()
    assert done["id"] == rerun.json()["id"]
    # Another run id is another attempt.
    other = client.post(VERSIONER, json=deployment(status="failed", invoke_id="100"), headers=w)
    assert other.status_code == 201 and other.json()["id"] not in (one["id"], done["id"])
    # Another status is not a repeat either.
    ok = client.post(VERSIONER, json=deployment(status="success", invoke_id="100"), headers=w)
    assert ok.status_code == 201
    assert counts(ctx)[0] == 4


def test_finish_after_another_deployment_is_not_a_repeat(
    client: TestClient, tokens: dict[str, str], ctx: Context, clock: FakeClock
) -> None:
    """Going back to 1.0.0 after 1.1.0 is a deployment, not a replay of the old one."""
    w = tokens["write"]
    body = {"product": "api", "environment": "production", "status": "completed"}
    first = client.post("/api/v1/deployments", json={**body, "version": "1.0.0"}, headers=auth(w))
    clock.advance(minutes=5)
    client.post("/api/v1/deployments", json={**body, "version": "1.1.0"}, headers=auth(w))
    clock.advance(minutes=5)
    back = client.post("/api/v1/deployments", json={**body, "version": "1.0.0"}, headers=auth(w))
    assert back.status_code == 201 and back.json()["id"] != first.json()["id"]
    current = client.get("/api/v1/current", headers=auth(tokens["read"])).json()
    assert current["cells"][0]["version"] == "1.0.0"


def test_v1_finish_sent_twice_is_one_finish(
    client: TestClient, tokens: dict[str, str], ctx: Context
) -> None:
    w = auth(tokens["write"])
    body = {
        "product": "api",
        "environment": "production",
        "version": "2.0.0+build.3",
        "status": "success",
        "ci_run_id": "555",
    }
    first = client.post("/api/v1/deployments", json=body, headers=w)
    before = counts(ctx)
    again = client.post("/api/v1/deployments", json=body, headers=w)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json() and counts(ctx) == before
    stats = client.get("/api/deployments/stats", headers=auth(tokens["read"])).json()
    assert (stats["totalDeployments"], stats["successfulDeployments"]) == (1, 1)


def test_same_finish_long_after_is_a_redeploy(
    client: TestClient, tokens: dict[str, str], ctx: Context, clock: FakeClock
) -> None:
    """No client retries for an hour: the same event then is a new deployment."""
    w = auth(tokens["write"])
    body = {"product": "api", "environment": "production", "version": "1.0.0", "status": "success"}
    first = client.post("/api/v1/deployments", json=body, headers=w)
    clock.advance(minutes=9)
    assert client.post("/api/v1/deployments", json=body, headers=w).status_code == 200
    clock.advance(hours=1)
    later = client.post("/api/v1/deployments", json=body, headers=w)
    assert later.status_code == 201 and later.json()["id"] != first.json()["id"]
    # A time stated in the event that differs from the recorded one is not a retry either.
    stated = {**body, "completed_at": "2026-11-22T12:30:00Z"}
    assert client.post("/api/v1/deployments", json=stated, headers=w).status_code == 201
    assert counts(ctx)[0] == 3


def test_api_rollback_mark_twice(client: TestClient, tokens: dict[str, str], ctx: Context) -> None:
    w = auth(tokens["write"])
    body = {"product": "api", "environment": "production", "version": "1.0.0"}
    dep = client.post("/api/v1/deployments", json={**body, "status": "completed"}, headers=w)
    path = f"/api/v1/deployments/{dep.json()['id']}/rollback-mark"
    first = client.post(path, json={"reason": "p99 doubled"}, headers=w)
    again = client.post(path, json={"reason": "p99 doubled"}, headers=w)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json() and again.json()["status"] == "rolled_back"
    assert rollback_events(ctx) == 1
    failed = client.post(
        "/api/v1/deployments", json={**body, "status": "failed", "ci_run_id": "2"}, headers=w
    ).json()
    refused = client.post(f"/api/v1/deployments/{failed['id']}/rollback-mark", headers=w)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "illegal_transition"
