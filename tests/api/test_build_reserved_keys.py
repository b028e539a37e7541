"""A build's metadata may not hold the keys shipmate derives for builds, on every
build write path (Versioner build events, ``POST /api/v1/builds``, ``shipmate
version next``); a refused write allocates no number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shipmate.cli import main
from shipmate.domain.inputs.reservedkeys import RESERVED_BUILD_METADATA_KEYS
from shipmate.services.context import Context
from shipmate.store.schema import build_counters, builds
from tests.api.conftest import auth

BUILD = {
    "product_name": "my-service",
    "version": "1.2.3",
    "status": "completed",
    "invoke_id": "4711",
    "build_number": "88",
    "built_by_email": "ci@example.com",
}


def allocated(ctx: Context) -> tuple[int, int]:
    """(builds, numbers allocated)."""
    with ctx.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(builds)).scalar_one(),
            conn.execute(
                select(func.coalesce(func.sum(build_counters.c.last_build_number), 0))
            ).scalar_one(),
        )


@pytest.mark.parametrize("key", sorted(RESERVED_BUILD_METADATA_KEYS))
def test_versioner_build_event_refuses_reserved_metadata(
    client: TestClient, tokens: dict[str, str], ctx: Context, key: str
) -> None:
    resp = client.post(
        "/versioner/build-events/",
        json={**BUILD, "extra_metadata": {key: "forged"}},
        headers=auth(tokens["write"]),
    )
    assert resp.status_code == 422
    error = resp.json()["detail"][0]
    assert error["loc"] == ["body", "extra_metadata", key]
    assert key in error["msg"] and "reserved" in error["msg"]
    assert allocated(ctx) == (0, 0)


def test_versioner_build_event_keeps_what_shipmate_derives(
    client: TestClient, tokens: dict[str, str]
) -> None:
    """The derived keys are written from the event's fields; the client's own keys,
    deployment-only ones included (they mean nothing on a build), are kept."""
    resp = client.post(
        "/versioner/build-events/",
        json={**BUILD, "extra_metadata": {"ticket": "OPS-1", "gate_override": "n/a"}},
        headers=auth(tokens["write"]),
    )
    assert resp.status_code == 201
    assert resp.json()["extra_metadata"] == {
        "ticket": "OPS-1",
        "gate_override": "n/a",
        "client_build_number": "88",
        "built_by_email": "ci@example.com",
    }


def test_v1_build_refuses_reserved_metadata(
    client: TestClient, tokens: dict[str, str], ctx: Context
) -> None:
    w = auth(tokens["write"])
    body = {"product": "api", "version": "1.0.0", "metadata": {"client_build_number": "7"}}
    resp = client.post("/api/v1/builds", json=body, headers=w)
    assert resp.status_code == 422
    assert resp.json()["error"]["field"] == "metadata.client_build_number"
    assert allocated(ctx) == (0, 0)  # no number burnt
    fine = client.post("/api/v1/builds", json={**body, "metadata": {"ticket": "OPS-1"}}, headers=w)
    assert fine.status_code == 201 and fine.json()["build_number"] == 1


def test_cli_version_next_refuses_reserved_metadata(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ctx: Context,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHIPMATE_DATABASE_URL", database_url)
    code = main(
        [
            "version",
            "next",
            "--product",
            "api",
            "--version",
            "1.0.0",
            "--metadata",
            json.dumps({"built_by_name": "someone else"}),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(
        "shipmate: error [metadata.built_by_name]: metadata key 'built_by_name' is reserved"
    )
    assert allocated(ctx) == (0, 0)
