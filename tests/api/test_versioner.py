"""Versioner's wire protocol, checked field by field against reference/versioner-api.md."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from shipmate.demo.clock import FakeClock
from tests.api.conftest import auth

ZONED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def deployment(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "product_name": "my-service",
        "version": "1.2.3",
        "environment_name": "production",
        "status": "started",
        "source_system": "github",
        "build_number": "57",
        "scm_sha": "abc123def456",
        "scm_branch": "main",
        "scm_repository": "acme/my-service",
        "deploy_url": "https://github.com/acme/my-service/actions/runs/99",
        "invoke_id": "99",
        "deployed_by": "john.doe",
        "deployed_by_email": "john@example.com",
        "extra_metadata": {"deployment_notes": "hotfix"},
        "completed_at": "2026-11-22T10:00:00Z",  # the Action sends this even on started
    }
    body.update(over)
    return body


def test_started_then_completed_is_one_deployment(
    client: TestClient, tokens: dict[str, str], clock: FakeClock
) -> None:
    w = auth(tokens["write"])
    first = client.post("/versioner/deployment-events/", json=deployment(), headers=w)
    assert first.status_code == 201
    a = first.json()
    for key in ("id", "product_id", "version_id", "environment_id", "status"):
        assert isinstance(a[key], str), key
    assert (a["product_name"], a["version"], a["environment_name"], a["deployed_by"]) == (
        "my-service",
        "1.2.3",
        "production",
        "john.doe",
    )
    assert a["status"] == "started"
    assert ZONED.match(a["deployed_at"])
    assert a["completed_at"] is None  # the started event's completed_at completed nothing
    clock.advance(minutes=2)
    done = client.post(
        "/versioner/deployment-events/",
        json=deployment(status="SUCCESS", completed_at="2026-11-22T10:02:00+00:00"),
        headers=w,
    ).json()
    assert done["id"] == a["id"]
    assert done["status"] == "completed"
    assert ZONED.match(done["completed_at"])
    assert done["extra_metadata"]["client_build_number"] == "57"
    assert done["extra_metadata"]["deployed_by_email"] == "john@example.com"
    shown = client.get(f"/api/v1/deployments/{a['id']}", headers=auth(tokens["read"])).json()
    assert shown["duration_ms"] == 120_000
    assert shown["ci_run_url"] == "https://github.com/acme/my-service/actions/runs/99"
    assert shown["source_system"] == "github"


@pytest.mark.parametrize("path", ["/versioner//deployment-events/", "/versioner/deployment-events"])
def test_path_variants(client: TestClient, tokens: dict[str, str], path: str) -> None:
    resp = client.post(path, json=deployment(status="completed"), headers=auth(tokens["write"]))
    assert resp.status_code == 201, resp.text


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("queued", "pending"),
        ("scheduled", "pending"),
        ("in_progress", "started"),
        ("init", "started"),
        ("building", "started"),
        ("deploying", "started"),
        ("success", "completed"),
        ("complete", "completed"),
        ("finished", "completed"),
        ("built", "completed"),
        ("deployed", "completed"),
        ("fail", "failed"),
        ("failure", "failed"),
        ("error", "failed"),
        ("abort", "aborted"),
        ("cancelled", "aborted"),
        ("cancel", "aborted"),
        ("skipped", "aborted"),
        ("Deployed", "completed"),
    ],
)
def test_status_aliases(
    client: TestClient, tokens: dict[str, str], alias: str, canonical: str
) -> None:
    resp = client.post(
        "/versioner/deployment-events/",
        json=deployment(status=alias, invoke_id=None),
        headers=auth(tokens["write"]),
    )
    assert resp.status_code == 201 and resp.json()["status"] == canonical


def test_build_events_and_alias(client: TestClient, tokens: dict[str, str]) -> None:
    w = auth(tokens["write"])
    body = {
        "product_name": "my-service",
        "version": "1.2.3",
        "status": "building",
        "invoke_id": "7",
        "scm_sha": "aaa",
    }
    started = client.post("/versioner/build-events/", json=body, headers=w)
    assert started.status_code == 201
    b = started.json()
    for key in ("id", "product_id", "version_id", "status"):
        assert isinstance(b[key], str), key
    assert b["status"] == "started" and ZONED.match(b["started_at"]) and b["completed_at"] is None
    done = client.post(
        "/versioner/version-events/", json={**body, "status": "built"}, headers=w
    ).json()
    assert (
        done["id"] == b["id"]
        and done["status"] == "completed"
        and ZONED.match(done["completed_at"])
    )
    conflict = client.post(
        "/versioner/build-events/", json={**body, "scm_sha": "bbb", "invoke_id": "8"}, headers=w
    )
    assert conflict.status_code == 409
    assert isinstance(conflict.json()["detail"], str) and "aaa" in conflict.json()["detail"]


def test_error_shapes(client: TestClient, tokens: dict[str, str]) -> None:
    no_key = client.post("/versioner/deployment-events/", json=deployment())
    assert no_key.status_code == 401
    assert no_key.json() == {"detail": "Invalid authentication credentials"}
    bad_key = client.post(
        "/versioner/deployment-events/", json=deployment(), headers=auth("whatever")
    )
    assert bad_key.json() == {"detail": "Invalid authentication credentials"}
    read_only = client.post(
        "/versioner/deployment-events/", json=deployment(), headers=auth(tokens["read"])
    )
    assert read_only.status_code == 403 and isinstance(read_only.json()["detail"], str)
    unknown = client.post(
        "/versioner/deployment-events/",
        json=deployment(status="exploded"),
        headers=auth(tokens["write"]),
    )
    assert unknown.status_code == 422
    detail = unknown.json()["detail"]
    assert isinstance(detail, list) and detail[0]["loc"] == ["body", "status"]
    assert set(detail[0]) == {"loc", "msg", "type"}
    missing = client.post(
        "/versioner/deployment-events/",
        json={"product_name": "x", "version": "1"},
        headers=auth(tokens["write"]),
    )
    assert missing.status_code == 422
    locs = [e["loc"] for e in missing.json()["detail"]]
    assert ["body", "environment_name"] in locs and ["body", "status"] in locs
    long_sha = client.post(
        "/versioner/deployment-events/",
        json=deployment(scm_sha="a" * 41),
        headers=auth(tokens["write"]),
    )
    assert long_sha.status_code == 422
    naive = client.post(
        "/versioner/deployment-events/",
        json=deployment(status="completed", completed_at="2026-11-22 10:00:00"),
        headers=auth(tokens["write"]),
    )
    assert naive.status_code == 422 and naive.json()["detail"][0]["loc"] == ["body", "completed_at"]


def test_product_limited_key(client: TestClient, tokens: dict[str, str]) -> None:
    resp = client.post(
        "/versioner/deployment-events/", json=deployment(), headers=auth(tokens["api-only"])
    )
    assert resp.status_code == 403
    assert "my-service" in resp.json()["detail"]
