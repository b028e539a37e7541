"""Deployments inherit what the build knows: commit, branch, repository and number."""

from __future__ import annotations

from fastapi.testclient import TestClient

from shipmate.demo.clock import FakeClock
from tests.api.conftest import auth

BUILD = {
    "product_name": "my-service",
    "version": "1.2.3",
    "status": "completed",
    "scm_sha": "abc123def456",
    "scm_branch": "main",
    "scm_repository": "acme/my-service",
    "invoke_id": "41",
}
DEPLOY = {
    "product_name": "my-service",
    "version": "1.2.3",
    "environment_name": "production",
    "invoke_id": "42",
}


def test_versioner_deployment_takes_the_builds_facts(
    client: TestClient, tokens: dict[str, str]
) -> None:
    w, r = auth(tokens["write"]), auth(tokens["read"])
    assert client.post("/versioner/build-events/", json=BUILD, headers=w).status_code == 201
    started = client.post(
        "/versioner/deployment-events/", json={**DEPLOY, "status": "started"}, headers=w
    )
    assert started.status_code == 201 and started.json()["scm_sha"] == "abc123def456"
    done = client.post(
        "/versioner/deployment-events/", json={**DEPLOY, "status": "completed"}, headers=w
    ).json()
    assert done["id"] == started.json()["id"]
    shown = client.get(f"/api/v1/deployments/{done['id']}", headers=r).json()
    assert (shown["commit_sha"], shown["branch"], shown["repository"]) == (
        "abc123def456",
        "main",
        "acme/my-service",
    )
    assert (shown["build_number"], shown["full_version"]) == (1, "1.2.3+build.1")
    bloqr = client.get("/api/deployments?product=my-service", headers=r).json()
    entry = bloqr["deployments"][0]
    assert (entry["buildNumber"], entry["gitBranch"], entry["gitCommit"]) == (
        1,
        "main",
        "abc123def456",
    )
    current = client.get("/api/version?product=my-service", headers=r).json()
    assert (current["buildNumber"], current["gitBranch"]) == (1, "main")


def test_explicit_values_win_and_a_conflicting_commit_is_refused(
    client: TestClient, tokens: dict[str, str]
) -> None:
    w, r = auth(tokens["write"]), auth(tokens["read"])
    client.post("/versioner/build-events/", json=BUILD, headers=w)
    own = client.post(
        "/versioner/deployment-events/",
        json={**DEPLOY, "status": "completed", "scm_branch": "hotfix", "scm_sha": "abc123def456"},
        headers=w,
    ).json()
    shown = client.get(f"/api/v1/deployments/{own['id']}", headers=r).json()
    assert (shown["branch"], shown["repository"], shown["build_number"]) == (
        "hotfix",
        "acme/my-service",
        1,
    )
    before = client.get("/api/v1/deployments?product=my-service", headers=r).json()["count"]
    clash = client.post(
        "/versioner/deployment-events/",
        json={**DEPLOY, "status": "started", "scm_sha": "fff999", "environment_name": "staging"},
        headers=w,
    )
    assert clash.status_code == 409
    after = client.get("/api/v1/deployments?product=my-service", headers=r).json()["count"]
    assert after == before


def test_the_newest_completed_build_and_a_stable_match(
    client: TestClient, tokens: dict[str, str], clock: FakeClock
) -> None:
    """With several builds the newest completed one counts; a build made after the
    start does not split the start from its finish."""
    w, r = auth(tokens["write"]), auth(tokens["read"])
    for n, commit in ((1, "c1"), (2, "c2")):
        body = {"product": "api", "version": "2.0.0", "commit": commit, "branch": f"b{n}"}
        assert client.post("/api/v1/builds", json=body, headers=w).json()["build_number"] == n
    # v1 builds start pending; a build that failed never counts
    failed = {**BUILD, "product_name": "web", "version": "3.0.0", "status": "failed"}
    client.post("/versioner/build-events/", json=failed, headers=w)
    web = client.post(
        "/versioner/deployment-events/",
        json={**DEPLOY, "product_name": "web", "version": "3.0.0", "status": "completed"},
        headers=w,
    ).json()
    shown = client.get(f"/api/v1/deployments/{web['id']}", headers=r).json()
    assert shown["build_number"] is None and shown["branch"] is None
    dep = {"product": "api", "environment": "production", "version": "2.0.0"}
    started = client.post("/api/v1/deployments", json={**dep, "status": "started"}, headers=w)
    assert started.json()["full_version"] == "2.0.0+build.2"
    assert started.json()["branch"] == "b2"
    client.post("/api/v1/builds", json={"product": "api", "version": "2.0.0"}, headers=w)
    clock.advance(minutes=1)
    done = client.post("/api/v1/deployments", json={**dep, "status": "completed"}, headers=w)
    assert done.json()["id"] == started.json()["id"]
    assert done.json()["full_version"] == "2.0.0+build.2"
    # with a commit in the event, the build of that commit
    c1 = client.post(
        "/api/v1/deployments",
        json={**dep, "environment": "staging", "status": "completed", "commit": "c1"},
        headers=w,
    ).json()
    assert (c1["build_number"], c1["branch"]) == (1, "b1")
