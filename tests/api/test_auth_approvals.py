"""Approvals are counted by who is authenticated, never by a name in the body."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.domain.requests import RecordRequest
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.gates import approvals
from shipmate.services.gates import rules as gates
from shipmate.services.records.deployments import record_deployment
from shipmate.store.schema import deployments

A = {"product": "api", "version": "1.0.0", "environment": "production"}


@pytest.fixture
def tokens(ctx: Context) -> dict[str, str]:
    record_deployment(
        ctx, RecordRequest(product="api", environment="staging", version="1.0.0", status="success")
    )
    gates.add_rule(ctx, {"name": "sign-off", "kind": "approval", "environments": ["production"]})
    return {
        name: create_key(ctx, name, scope).token
        for name, scope in (("ci", "write"), ("bob", "write"), ("lead", "admin"))
    }


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(
        create_app(ctx.settings, ctx=ctx, server=ServerSettings()), raise_server_exceptions=False
    ) as c:
        yield c


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _deploy(client: TestClient, token: str, via: str, deployed_by: str) -> Any:
    if via == "v1":
        body = {**A, "status": "started", "deployed_by": deployed_by}
        return client.post("/api/v1/deployments", json=body, headers=h(token))
    return client.post(
        "/versioner/deployment-events/",
        json={
            "product_name": "api",
            "version": "1.0.0",
            "environment_name": "production",
            "status": "started",
            "deployed_by": deployed_by,
        },
        headers=h(token),
    )


def _in_production(ctx: Context) -> int:
    with ctx.read() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(deployments).where(deployments.c.id > 1)
            ).scalar_one()
        )


@pytest.mark.parametrize("via", ["v1", "versioner"])
def test_a_key_cannot_approve_its_own_release_and_deploy_it_as_someone_else(
    client: TestClient, tokens: dict[str, str], ctx: Context, via: str
) -> None:
    own = client.post("/api/v1/approvals", json=A, headers=h(tokens["ci"]))
    assert (own.status_code, own.json()["approver"]) == (201, "ci")
    r = _deploy(client, tokens["ci"], via, deployed_by="bob")
    assert r.status_code == 428
    body = r.json()
    if via == "versioner":
        details = body["detail"]["details"]
    else:
        assert body["error"]["details"]["deployer"] == "ci"  # the key, not "bob"
        details = body["error"]["details"]["rule_details"]
    assert (details["approvals"], details["self_approval_ignored"]) == (0, True)
    assert _in_production(ctx) == 0
    # Somebody else's approval counts, whatever name the deployment carries.
    assert client.post("/api/v1/approvals", json=A, headers=h(tokens["bob"])).status_code == 201
    r = _deploy(client, tokens["ci"], via, deployed_by="bob")
    assert r.status_code == 201, r.text
    assert _in_production(ctx) == 1


def test_no_key_approves_as_another_identity(
    client: TestClient, tokens: dict[str, str], ctx: Context
) -> None:
    for who in ("ci", "lead"):  # an admin key neither
        r = client.post(
            "/api/v1/approvals", json={**A, "approver": "alice"}, headers=h(tokens[who])
        )
        assert (r.status_code, r.json()["error"]["field"]) == (403, "approver")
    assert approvals.list_approvals(ctx, "api", "1.0.0", "production") == []
    same = client.post("/api/v1/approvals", json={**A, "approver": " CI "}, headers=h(tokens["ci"]))
    assert (same.status_code, same.json()["approver"]) == (201, "ci")


def test_the_dry_run_deployer_defaults_to_the_key(
    client: TestClient, tokens: dict[str, str]
) -> None:
    client.post("/api/v1/approvals", json=A, headers=h(tokens["ci"]))
    own = client.post("/api/v1/gates/check", json=A, headers=h(tokens["ci"])).json()
    assert (own["deployer"], own["allowed"]) == ("ci", False)
    other = client.post("/api/v1/gates/check", json=A, headers=h(tokens["bob"])).json()
    assert (other["deployer"], other["allowed"]) == ("bob", True)
