"""``GET /api/v1/runs`` and ``/api/v1/runs/{id}`` on a real database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.deploys.deploy import DeployRequest, deploy
from tests.runs.conftest import make_fakes


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_list_and_show_runs(ctx: Context, client: TestClient, tmp_path: Path) -> None:
    token = create_key(ctx, "reader", "read").token
    limited = create_key(ctx, "web-only", "read", ["web"]).token
    fakes = make_fakes(tmp_path)
    for version in ("1.0.0", "2.0.0"):
        outcome = deploy(
            ctx,
            fakes.deploy,
            DeployRequest("api", "production", version),
            parts_factory=fakes.parts,
        )
        assert outcome.ok
    headers = {"Authorization": f"Bearer {token}"}

    listed = client.get("/api/v1/runs", params={"limit": 1}, headers=headers)
    assert listed.status_code == 200
    body = listed.json()
    assert [r["full_version"] for r in body["items"]] == ["2.0.0"]
    assert body["items"][0]["state"] == "completed"
    nxt = client.get("/api/v1/runs", params={"before": body["next_before"]}, headers=headers)
    assert [r["full_version"] for r in nxt.json()["items"]] == ["1.0.0"]

    one = client.get(f"/api/v1/runs/{body['items'][0]['id']}", headers=headers)
    assert one.status_code == 200
    steps = one.json()["steps"]
    assert steps[0]["name"] == "record_started" and steps[-1]["name"] == "retire"

    assert client.get("/api/v1/runs/999", headers=headers).status_code == 404
    bad = client.get("/api/v1/runs/abc", headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "id"
    bad_status = client.get("/api/v1/runs", params={"status": "sleepy"}, headers=headers)
    assert bad_status.status_code == 422 and bad_status.json()["error"]["field"] == "status"
    assert client.get("/api/v1/runs").status_code == 401
    other = {"Authorization": f"Bearer {limited}"}
    assert client.get("/api/v1/runs", headers=other).json()["items"] == []
    assert client.get(f"/api/v1/runs/{body['items'][0]['id']}", headers=other).status_code == 403
