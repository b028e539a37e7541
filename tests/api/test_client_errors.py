"""Errors real clients can show: the Versioner clients' 409 reading, build refusals,
and metadata keys shipmate keeps for itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shipmate.cli import main
from shipmate.services.context import Context
from shipmate.store.schema import deployments
from tests.api.conftest import auth
from tests.api.test_versioner import deployment


def count(ctx: Context) -> int:
    with ctx.read() as conn:
        return int(conn.execute(select(func.count()).select_from(deployments)).scalar_one())


def test_commit_conflict_on_deployment_events_says_why(
    client: TestClient, tokens: dict[str, str], ctx: Context
) -> None:
    w = auth(tokens["write"])
    build = {"product_name": "my-service", "version": "1.2.3", "status": "completed"}
    client.post("/versioner/build-events/", json={**build, "scm_sha": "aaa111"}, headers=w)
    before = count(ctx)
    resp = client.post(
        "/versioner/deployment-events/", json=deployment(scm_sha="bbb222"), headers=w
    )
    assert resp.status_code == 409
    detail = resp.json()["detail"]
    # What both Versioner clients read from a 409: detail.code, detail.message, details.
    assert detail["code"] == "VERSION_COMMIT_CONFLICT"
    assert detail["error"] == "version_commit_conflict"
    assert "aaa111" in detail["message"] and "bbb222" in detail["message"]
    assert (detail["recorded_commit"], detail["reported_commit"]) == ("aaa111", "bbb222")
    assert detail["details"]["recorded_commit"] == "aaa111"
    assert count(ctx) == before


def test_build_refusal_carries_a_top_level_message(
    client: TestClient, tokens: dict[str, str]
) -> None:
    w = auth(tokens["write"])
    body = {"product_name": "my-service", "version": "1.2.3", "status": "completed"}
    client.post("/versioner/build-events/", json={**body, "scm_sha": "aaa111"}, headers=w)
    resp = client.post("/versioner/build-events/", json={**body, "scm_sha": "bbb222"}, headers=w)
    assert resp.status_code == 409
    data = resp.json()
    assert isinstance(data["detail"], str)  # the Go CLI prints detail as a string
    assert data["message"] == data["detail"] and "aaa111" in data["message"]


@pytest.mark.parametrize(
    "key", ["preflight_status", "gate_override", "unlocked", "client_build_number"]
)
def test_versioner_refuses_reserved_metadata(
    client: TestClient, tokens: dict[str, str], ctx: Context, key: str
) -> None:
    resp = client.post(
        "/versioner/deployment-events/",
        json=deployment(status="completed", extra_metadata={key: {"forged": True}}),
        headers=auth(tokens["write"]),
    )
    assert resp.status_code == 422
    error = resp.json()["detail"][0]
    assert error["loc"] == ["body", "extra_metadata", key]
    assert key in error["msg"] and "reserved" in error["msg"]
    assert count(ctx) == 0


def test_v1_refuses_reserved_metadata_on_every_write(
    client: TestClient, tokens: dict[str, str], ctx: Context
) -> None:
    w = auth(tokens["write"])
    body = {"product": "api", "environment": "production", "version": "1.0.0"}
    forged = {"gate_override": {"reason": "none", "by": "nobody"}}
    resp = client.post(
        "/api/v1/deployments", json={**body, "status": "started", "metadata": forged}, headers=w
    )
    assert resp.status_code == 422
    assert resp.json()["error"]["field"] == "metadata.gate_override"
    assert "gate_override" in resp.json()["error"]["message"]
    assert count(ctx) == 0
    dep = client.post("/api/v1/deployments", json={**body, "status": "started"}, headers=w).json()
    advance = client.post(
        f"/api/v1/deployments/{dep['id']}/events",
        json={"status": "completed", "metadata": {"preflight_status": {}}},
        headers=w,
    )
    assert advance.status_code == 422
    assert advance.json()["error"]["field"] == "metadata.preflight_status"
    shown = client.get(f"/api/v1/deployments/{dep['id']}", headers=auth(tokens["read"])).json()
    assert shown["status"] == "started" and shown["metadata"] == {}
    # bloqr's derived keys are shipmate's too
    bloqr_key = client.post(
        "/api/v1/deployments",
        json={**body, "status": "completed", "metadata": {"workflow_run_id": "1"}},
        headers=w,
    )
    assert bloqr_key.status_code == 422
    # other keys pass
    fine = client.post(
        "/api/v1/deployments",
        json={**body, "status": "completed", "metadata": {"ticket": "OPS-1"}},
        headers=w,
    )
    assert fine.status_code == 201


def test_cli_record_refuses_reserved_metadata(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHIPMATE_DATABASE_URL", database_url)
    code = main(
        [
            "record",
            "--product",
            "api",
            "--env",
            "dev",
            "--version",
            "1.0.0",
            "--status",
            "completed",
            "--no-detect",
            "--metadata",
            json.dumps({"unlocked": True}),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(
        "shipmate: error [metadata.unlocked]: metadata key 'unlocked' is reserved"
    )
