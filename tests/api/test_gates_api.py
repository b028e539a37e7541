"""Gates over HTTP: Versioner refusal bodies field by field, /api/v1 routes, overrides."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from shipmate.demo.clock import FakeClock
from shipmate.domain.requests import RecordRequest
from shipmate.services.context import Context
from shipmate.services.gates import rules as gates
from shipmate.services.queries import list_events
from shipmate.services.records.deployments import record_deployment
from tests.api.conftest import auth

EVENTS = "/versioner/deployment-events/"


def event(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product_name": "my-service",
        "version": "1.2.3",
        "environment_name": "production",
        "status": "started",
        "invoke_id": "99",
        "deployed_by": "john.doe",
        "completed_at": "2026-11-22T10:00:00Z",
    }
    body.update(over)
    return body


def completed(ctx: Context, env: str, version: str = "1.2.3") -> None:
    record_deployment(
        ctx,
        RecordRequest(product="my-service", version=version, environment=env, status="completed"),
    )


def blocked_events(ctx: Context) -> list[Any]:
    return list_events(ctx, type_prefix="gate.blocked")


# ------------------------------------------------------------ Versioner shapes


def test_versioner_409_deployment_in_progress(
    client: TestClient, tokens: dict[str, str], ctx: Context, clock: FakeClock
) -> None:
    gates.add_rule(ctx, {"name": "one-at-a-time", "kind": "concurrency", "lease": "2h"})
    w = auth(tokens["write"])
    first = client.post(EVENTS, json=event(), headers=w)
    assert first.status_code == 201
    clock.advance(minutes=3)
    r = client.post(EVENTS, json=event(invoke_id="100", version="1.2.4"), headers=w)
    assert r.status_code == 409
    body = r.json()
    assert list(body) == ["detail"]
    d = body["detail"]
    assert d["error"] == "deployment_blocked"
    assert d["code"] == "DEPLOYMENT_IN_PROGRESS"
    assert d["retry_after"] == "2026-11-22T12:00:00.000Z"
    assert "still in progress" in d["message"]
    assert d["details"]["rule_name"] == "one-at-a-time"
    assert d["details"]["deployment_id"] == first.json()["id"]
    assert d["details"]["lease_seconds"] == 7200
    assert d["details"]["blocking_deployments"] == [
        {
            "deployment_id": first.json()["id"],
            "started_at": "2026-11-22T10:00:00.000Z",
            "lease_expires_at": "2026-11-22T12:00:00.000Z",
        }
    ]
    [blocked] = blocked_events(ctx)
    assert blocked.key_name == "write-key" and blocked.actor == "john.doe"
    # The same run finishing its own deployment is not evaluated.
    done = client.post(EVENTS, json=event(status="success"), headers=w)
    assert (done.status_code, done.json()["status"]) == (201, "completed")


def test_versioner_423_freeze_with_retry_after(
    client: TestClient, tokens: dict[str, str], ctx: Context
) -> None:
    gates.add_rule(
        ctx,
        {
            "name": "sunday",
            "kind": "freeze",
            "cron": "0 0 * * sun",
            "duration": "1d",
            "timezone": "Europe/Berlin",
            "reason": "no deploys on Sunday",
        },
    )
    before = client.get("/api/v1/deployments", headers=auth(tokens["read"])).json()["items"]
    r = client.post(EVENTS, json=event(skip_preflight_checks=True), headers=auth(tokens["write"]))
    assert r.status_code == 423  # skip_preflight_checks is deprecated and ignored
    d = r.json()["detail"]
    assert d["error"] == "deployment_blocked"
    assert d["code"] == "NO_DEPLOY_WINDOW"
    # Sunday 2026-11-22 00:00 CET until Monday 00:00 CET.
    assert d["retry_after"] == "2026-11-22T23:00:00.000Z"
    assert d["details"] == {
        "rule_name": "sunday",
        "window_name": "sunday",
        "window_start": "2026-11-21T23:00:00.000Z",
        "window_end": "2026-11-22T23:00:00.000Z",
        "timezone": "Europe/Berlin",
        "reason": "no deploys on Sunday",
        "cron": "0 0 * * sun",
        "duration_seconds": 86400,
    }
    assert "no deploys on Sunday" in d["message"]
    after = client.get("/api/v1/deployments", headers=auth(tokens["read"])).json()["items"]
    assert after == before == []


def test_versioner_428_flow_soak_and_approval(
    client: TestClient, tokens: dict[str, str], ctx: Context, clock: FakeClock
) -> None:
    gates.add_rule(
        ctx,
        {
            "name": "staging-first",
            "kind": "flow",
            "required_environments": ["staging"],
            "soak_seconds": 3600,
            "environments": ["production"],
        },
    )
    gates.add_rule(ctx, {"name": "sign-off", "kind": "approval", "environments": ["production"]})
    w = auth(tokens["write"])

    r = client.post(EVENTS, json=event(), headers=w)
    assert r.status_code == 428
    d = r.json()["detail"]
    assert (d["error"], d["code"]) == ("deployment_blocked", "FLOW_VIOLATION")
    assert "retry_after" not in d
    assert d["details"] == {
        "rule_name": "staging-first",
        "required_environments": ["staging"],
        "missing_environments": ["staging"],
    }

    completed(ctx, "staging")  # at 10:00
    clock.advance(minutes=30)
    r = client.post(EVENTS, json=event(), headers=w)
    assert r.status_code == 428
    d = r.json()["detail"]
    assert d["code"] == "INSUFFICIENT_SOAK_TIME"
    assert d["retry_after"] == "2026-11-22T11:00:00.000Z"
    assert d["details"] == {
        "rule_name": "staging-first",
        "environment": "staging",
        "completed_at": "2026-11-22T10:00:00.000Z",
        "soak_seconds": 3600,
        "soak_until": "2026-11-22T11:00:00.000Z",
        "required_environments": ["staging"],
    }

    clock.advance(minutes=30)
    r = client.post(EVENTS, json=event(), headers=w)
    assert r.status_code == 428
    d = r.json()["detail"]
    assert d["code"] == "APPROVAL_REQUIRED"
    assert "retry_after" not in d
    assert d["details"] == {
        "rule_name": "sign-off",
        "required": 1,
        "approvals": 0,
        "approved_by": [],
        "self_approval_ignored": False,
    }
    # The deploying key's own approval does not count (whoever the event names as
    # deployer), an approval by the admin key does.
    own = client.post(
        "/api/v1/approvals",
        json={"product": "my-service", "version": "1.2.3", "environment": "production"},
        headers=w,
    )
    assert (own.status_code, own.json()["approver"]) == (201, "write-key")
    r = client.post(EVENTS, json=event(), headers=w)
    assert r.json()["detail"]["details"]["self_approval_ignored"] is True
    ok = client.post(
        "/api/v1/approvals",
        json={"product": "my-service", "version": "1.2.3", "environment": "production"},
        headers=auth(tokens["admin"]),
    )
    assert (ok.status_code, ok.json()["approver"]) == (201, "admin-key")
    r = client.post(EVENTS, json=event(), headers=w)
    assert (r.status_code, r.json()["status"]) == (201, "started")
    assert len(blocked_events(ctx)) == 4


def test_versioner_report_only_results_in_extra_metadata(
    client: TestClient, tokens: dict[str, str], ctx: Context
) -> None:
    gates.add_rule(
        ctx,
        {
            "name": "staging-first",
            "kind": "flow",
            "required_environments": ["staging"],
            "mode": "report_only",
        },
    )
    gates.add_rule(ctx, {"name": "one", "kind": "concurrency", "mode": "report_only"})
    gates.add_rule(ctx, {"name": "off", "kind": "approval", "mode": "disabled"})
    r = client.post(
        EVENTS, json=event(extra_metadata={"notes": "x"}), headers=auth(tokens["write"])
    )
    assert r.status_code == 201
    meta = r.json()["extra_metadata"]
    assert meta["notes"] == "x"
    flow, one = meta["preflight_status"]["rules_evaluated"]
    assert flow["rule_name"] == "staging-first"
    assert flow["status"] == "report_only"
    assert flow["evaluation_result"] == "failed"
    assert flow["error_message"].startswith("gate 'staging-first': my-service 1.2.3 has not")
    assert one == {
        "rule_name": "one",
        "status": "report_only",
        "evaluation_result": "passed",
        "error_message": None,
    }
    assert blocked_events(ctx) == []


# ----------------------------------------------------------------- /api/v1


def test_v1_refusal_shape_and_override(
    client: TestClient, tokens: dict[str, str], ctx: Context
) -> None:
    gates.add_rule(
        ctx,
        {
            "name": "today",
            "kind": "freeze",
            "start": "2026-11-22T00:00:00Z",
            "end": "2026-11-23T00:00:00Z",
        },
    )
    body = {"product": "api", "environment": "production", "version": "1.0.0", "status": "started"}
    r = client.post("/api/v1/deployments", json=body, headers=auth(tokens["write"]))
    assert r.status_code == 423
    err = r.json()["error"]
    assert err["code"] == "gate_blocked"
    assert err["details"]["gate_code"] == "NO_DEPLOY_WINDOW"
    assert err["details"]["rule_name"] == "today"
    assert err["details"]["retry_after"] == "2026-11-23T00:00:00.000Z"
    assert err["details"]["http_status"] == 423
    assert err["details"]["versioner_detail"]["code"] == "NO_DEPLOY_WINDOW"

    override = {**body, "override_gates": True, "override_reason": "security fix"}
    r = client.post("/api/v1/deployments", json=override, headers=auth(tokens["write"]))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
    no_reason = {**body, "override_gates": True}
    r = client.post("/api/v1/deployments", json=no_reason, headers=auth(tokens["admin"]))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "override_reason"
    r = client.post("/api/v1/deployments", json=override, headers=auth(tokens["admin"]))
    assert r.status_code == 201
    dep = r.json()
    assert dep["metadata"]["gate_override"]["reason"] == "security fix"
    assert dep["metadata"]["gate_override"]["key_name"] == "admin-key"
    assert dep["metadata"]["gate_override"]["rules"][0]["rule_name"] == "today"
    audit = client.get(
        "/api/v1/events", params={"type": "gate."}, headers=auth(tokens["admin"])
    ).json()["items"]
    # The 403 and the 422 were refused before any gate was evaluated.
    assert [e["type"] for e in audit] == ["gate.overridden", "gate.blocked", "gate.rule_added"]
    assert audit[0]["deployment_id"] == dep["id"]
    assert audit[0]["data"]["reason"] == "security fix"


def test_v1_status_event_pending_to_started_is_gated(
    client: TestClient, tokens: dict[str, str], ctx: Context
) -> None:
    w = auth(tokens["write"])
    base = {"product": "api", "environment": "production", "version": "1.0.0"}
    queued = client.post("/api/v1/deployments", json={**base, "status": "pending"}, headers=w)
    client.post(
        "/api/v1/deployments",
        json={**base, "version": "0.9.0", "status": "started", "ci_run_id": "7"},
        headers=w,
    )
    gates.add_rule(ctx, {"name": "one", "kind": "concurrency"})
    path = f"/api/v1/deployments/{queued.json()['id']}/events"
    r = client.post(path, json={"status": "started"}, headers=w)
    assert r.status_code == 409
    assert r.json()["error"]["details"]["refused_deployment_id"] == queued.json()["id"]
    r = client.post(
        path,
        json={"status": "started", "override_gates": True, "override_reason": "go"},
        headers=auth(tokens["admin"]),
    )
    assert (r.status_code, r.json()["status"]) == (200, "started")


def test_rules_crud(client: TestClient, tokens: dict[str, str], ctx: Context) -> None:
    rule = {"name": "one", "kind": "concurrency", "lease": "15m", "environments": ["prod*"]}
    r = client.post("/api/v1/gates/rules", json=rule, headers=auth(tokens["write"]))
    assert r.status_code == 403
    r = client.post("/api/v1/gates/rules", json=rule, headers=auth(tokens["admin"]))
    assert r.status_code == 201
    created = r.json()
    assert created["name"] == "one" and created["lease_seconds"] == 900
    assert (created["source"], created["read_only"], created["created_by"]) == (
        "database",
        False,
        "admin-key",
    )
    r = client.post("/api/v1/gates/rules", json=rule, headers=auth(tokens["admin"]))
    assert (r.status_code, r.json()["error"]["field"]) == (409, "name")
    bad = {"name": "f", "kind": "freeze", "cron": "0 0 * * funday", "duration": "1h"}
    r = client.post("/api/v1/gates/rules", json=bad, headers=auth(tokens["admin"]))
    assert (r.status_code, r.json()["error"]["field"]) == (422, "cron")

    listed = client.get("/api/v1/gates/rules", headers=auth(tokens["read"])).json()["items"]
    assert [x["name"] for x in listed] == ["one"]
    one = client.get("/api/v1/gates/rules/one", headers=auth(tokens["read"])).json()
    assert one["environments"] == ["prod*"]
    r = client.patch(
        "/api/v1/gates/rules/one", json={"mode": "report-only"}, headers=auth(tokens["admin"])
    )
    assert (r.status_code, r.json()["mode"]) == (200, "report_only")
    r = client.patch("/api/v1/gates/rules/one", json={"mode": "x"}, headers=auth(tokens["admin"]))
    assert (r.status_code, r.json()["error"]["field"]) == (422, "mode")
    r = client.put(
        "/api/v1/gates/rules/one",
        json={"kind": "concurrency", "lease_seconds": 60},
        headers=auth(tokens["admin"]),
    )
    assert (r.status_code, r.json()["lease_seconds"], r.json()["environments"]) == (200, 60, [])
    r = client.delete("/api/v1/gates/rules/one", headers=auth(tokens["write"]))
    assert r.status_code == 403
    r = client.delete("/api/v1/gates/rules/one", headers=auth(tokens["admin"]))
    assert (r.status_code, r.json()["removed"]) == (200, True)
    r = client.get("/api/v1/gates/rules/one", headers=auth(tokens["read"]))
    assert r.status_code == 404


def test_config_rules_are_read_only_over_the_api(
    ctx: Context, tokens: dict[str, str], server_settings: Any
) -> None:
    from dataclasses import replace

    from shipmate.api.app import create_app

    settings = replace(
        ctx.settings,
        config_file="shipmate.toml",
        sections={"gates": [{"name": "cfg", "kind": "concurrency"}]},
    )
    cfg = Context(settings=settings, engine=ctx.engine, clock=ctx.clock)
    with TestClient(create_app(settings, ctx=cfg, server=server_settings)) as c:
        items = c.get("/api/v1/gates/rules", headers=auth(tokens["read"])).json()["items"]
        assert [(x["name"], x["source"], x["read_only"]) for x in items] == [
            ("cfg", "config", True)
        ]
        r = c.delete("/api/v1/gates/rules/cfg", headers=auth(tokens["admin"]))
        assert r.status_code == 409
        assert "read-only" in r.json()["error"]["message"]
        assert "shipmate.toml" in r.json()["error"]["message"]


def test_approvals_and_check(client: TestClient, tokens: dict[str, str], ctx: Context) -> None:
    completed(ctx, "staging")
    gates.add_rule(ctx, {"name": "two", "kind": "approval", "required": 2})
    a = {"product": "my-service", "version": "1.2.3", "environment": "production"}
    r = client.post("/api/v1/approvals", json=a, headers=auth(tokens["write"]))
    assert r.status_code == 201
    approval = r.json()
    assert (approval["approver"], approval["key_name"], approval["created"]) == (
        "write-key",
        "write-key",
        True,
    )
    assert approval["approved_at"] == "2026-11-22T10:00:00.000Z"
    again = client.post("/api/v1/approvals", json=a, headers=auth(tokens["write"]))
    assert (again.status_code, again.json()["id"]) == (200, approval["id"])
    other = client.post(
        "/api/v1/approvals", json={**a, "approver": "mallory"}, headers=auth(tokens["write"])
    )
    assert (other.status_code, other.json()["error"]["field"]) == (403, "approver")
    r = client.post("/api/v1/approvals", json=a, headers=auth(tokens["read"]))
    assert r.status_code == 403
    r = client.post(
        "/api/v1/approvals", json={**a, "version": "9.9.9"}, headers=auth(tokens["write"])
    )
    assert (r.status_code, r.json()["error"]["field"]) == (404, "version")
    listed = client.get("/api/v1/approvals", params=a, headers=auth(tokens["read"])).json()
    assert [x["approver"] for x in listed["items"]] == ["write-key"]

    check = {**a, "deployer": "carol"}
    r = client.post("/api/v1/gates/check", json=check, headers=auth(tokens["read"]))
    assert r.status_code == 200
    result = r.json()
    assert result["allowed"] is False
    assert result["blocking"]["code"] == "APPROVAL_REQUIRED"
    assert result["blocking"]["details"]["approvals"] == 1
    assert result["results"][0]["source"] == "database"
    mallory = client.post(
        "/api/v1/approvals", json={**a, "approver": "dave"}, headers=auth(tokens["admin"])
    )
    assert (mallory.status_code, mallory.json()["error"]["field"]) == (403, "approver")
    client.post("/api/v1/approvals", json=a, headers=auth(tokens["admin"]))
    result = client.post("/api/v1/gates/check", json=check, headers=auth(tokens["read"])).json()
    assert (result["allowed"], result["blocking"]) == (True, None)
    # A dry run records nothing.
    assert (
        client.get("/api/v1/deployments", headers=auth(tokens["read"])).json()["items"][0][
            "environment"
        ]
        == "staging"
    )
    r = client.post(
        "/api/v1/gates/check",
        json={**check, "environment": "bad env"},
        headers=auth(tokens["read"]),
    )
    assert (r.status_code, r.json()["error"]["field"]) == (422, "environment")


def test_unlock(client: TestClient, tokens: dict[str, str], ctx: Context) -> None:
    gates.add_rule(ctx, {"name": "one", "kind": "concurrency"})
    w = auth(tokens["write"])
    body = {"product": "api", "environment": "production", "version": "1.0.0", "status": "started"}
    stuck = client.post("/api/v1/deployments", json={**body, "ci_run_id": "1"}, headers=w).json()
    r = client.post("/api/v1/deployments", json={**body, "ci_run_id": "2"}, headers=w)
    assert r.status_code == 409
    path = f"/api/v1/deployments/{stuck['id']}/unlock"
    assert client.post(path, json={"reason": "dead"}, headers=w).status_code == 403
    r = client.post(path, json={"reason": " "}, headers=auth(tokens["admin"]))
    assert (r.status_code, r.json()["error"]["field"]) == (422, "reason")
    r = client.post(path, json={"reason": "runner died"}, headers=auth(tokens["admin"]))
    assert r.status_code == 200
    assert r.json()["status"] == "aborted"
    assert r.json()["metadata"]["unlocked"]["key_name"] == "admin-key"
    r = client.post(path, json={"reason": "again"}, headers=auth(tokens["admin"]))
    assert r.status_code == 409
    r = client.post(
        "/api/v1/deployments/999/unlock", json={"reason": "x"}, headers=auth(tokens["admin"])
    )
    assert r.status_code == 404
    r = client.post("/api/v1/deployments", json={**body, "ci_run_id": "2"}, headers=w)
    assert r.status_code == 201
    shown = client.get(f"/api/v1/deployments/{stuck['id']}", headers=auth(tokens["read"])).json()
    assert [e["type"] for e in shown["events"]] == [
        "deployment.started",
        "deployment.aborted",
        "gate.unlocked",
    ]


@pytest.mark.parametrize("scope", ["read", "write"])
def test_rule_writes_need_admin(client: TestClient, tokens: dict[str, str], scope: str) -> None:
    h = auth(tokens[scope])
    assert (
        client.patch("/api/v1/gates/rules/x", json={"mode": "enabled"}, headers=h).status_code
        == 403
    )
    assert (
        client.put("/api/v1/gates/rules/x", json={"kind": "concurrency"}, headers=h).status_code
        == 403
    )
