"""The bloqr endpoints answer with seed 000's shapes, field by field."""

from __future__ import annotations

from fastapi.testclient import TestClient

from shipmate.demo.clock import FakeClock
from tests.api.conftest import auth


def seed(client: TestClient, token: str, clock: FakeClock) -> None:
    rows = [
        ("0.11.2", 1, "success", "main"),
        ("0.11.3", 41, "failed", "main"),
        ("0.11.3", 42, "success", "release"),
    ]
    for version, build, status, branch in rows:
        clock.advance(hours=1)
        resp = client.post(
            "/api/v1/deployments",
            json={
                "product": "api",
                "environment": "production",
                "version": f"{version}+build.{build}",
                "status": status,
                "commit": "abc123def456",
                "branch": branch,
                "deployed_by": "github-actions[user]",
                "ci_platform": "github-actions",
                "ci_run_id": "12345",
                "ci_run_url": "https://github.com/acme/api/actions/runs/12345",
                "metadata": {"note": "x"},
            },
            headers=auth(token),
        )
        assert resp.status_code == 201, resp.text


def test_version(client: TestClient, tokens: dict[str, str], clock: FakeClock) -> None:
    seed(client, tokens["write"], clock)
    body = client.get("/api/version", headers=auth(tokens["read"])).json()
    assert body == {
        "success": True,
        "id": "3",
        "version": "0.11.3",
        "buildNumber": 42,
        "fullVersion": "0.11.3+build.42",
        "gitCommit": "abc123def456",
        "gitBranch": "release",
        "deployedAt": "2026-11-22T13:00:00.000Z",
        "deployedBy": "github-actions[user]",
        "status": "success",
        "environment": "production",
        "deploymentDuration": None,
    }


def test_deployments_shape_and_filters(
    client: TestClient, tokens: dict[str, str], clock: FakeClock
) -> None:
    seed(client, tokens["write"], clock)
    r = auth(tokens["read"])
    body = client.get(
        "/api/deployments", params={"limit": 10, "version": "0.11.3"}, headers=r
    ).json()
    assert body["success"] is True and body["count"] == 2
    first = body["deployments"][0]
    for key, value in {
        "version": "0.11.3",
        "buildNumber": 42,
        "fullVersion": "0.11.3+build.42",
        "gitCommit": "abc123def456",
        "gitBranch": "release",
        "deployedBy": "github-actions[user]",
        "status": "success",
    }.items():
        assert first[key] == value, key
    assert first["metadata"] == {
        "ci_platform": "github-actions",
        "workflow_run_id": "12345",
        "workflow_run_url": "https://github.com/acme/api/actions/runs/12345",
        "note": "x",
    }
    failed = client.get("/api/deployments", params={"status": "failed"}, headers=r).json()
    assert [d["buildNumber"] for d in failed["deployments"]] == [41]
    by_branch = client.get("/api/deployments", params={"branch": "main"}, headers=r).json()
    assert by_branch["count"] == 2
    limited = client.get("/api/deployments", params={"limit": 1}, headers=r).json()
    assert limited["count"] == 1
    client.post("/api/v1/deployments/3/rollback-mark", json={}, headers=auth(tokens["write"]))
    rolled = client.get("/api/deployments", params={"status": "rollback"}, headers=r).json()
    assert [d["status"] for d in rolled["deployments"]] == ["rollback"]


def test_stats(client: TestClient, tokens: dict[str, str], clock: FakeClock) -> None:
    seed(client, tokens["write"], clock)
    body = client.get("/api/deployments/stats", headers=auth(tokens["read"])).json()
    assert body == {
        "success": True,
        "totalDeployments": 3,
        "successfulDeployments": 2,
        "failedDeployments": 1,
        "rolledBackDeployments": 0,
        "latestVersion": "0.11.3+build.42",
    }


def test_errors_use_bloqr_shape(client: TestClient, tokens: dict[str, str]) -> None:
    r = auth(tokens["read"])
    missing = client.get("/api/version", params={"product": "ghost"}, headers=r)
    assert missing.status_code == 404
    assert missing.json()["success"] is False and "ghost" in missing.json()["error"]
    bad = client.get("/api/deployments", params={"limit": 0}, headers=r)
    assert bad.status_code == 422 and bad.json()["success"] is False
    assert client.get("/api/deployments").status_code == 401
