"""``POST /api/v1/runs`` and following a run: runs the server creates for a host's
agent, driven here by the in-process stand-in (tests/runs/remote_world.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.domain.requests import RecordRequest
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.deploys.deploy import RunOutcome
from shipmate.services.gates.rules import add_rule
from shipmate.services.records.deployments import record_deployment
from shipmate.services.runs.journal import get_run
from shipmate.services.runs.live import live_runs
from shipmate.store.schema import deployments
from shipmate.store.schema_runs import runs
from tests.runs.conftest import Fakes, fake_table, make_fakes
from tests.runs.remote_world import drive_as_agent, register_host, with_deploy_table

PREFIX = "products.api.deploy"


@pytest.fixture
def world(ctx: Context, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with_deploy_table(ctx, fake_table(hosts=["web-1"]))
    register_host(ctx, "web-1", {"role": "web"})
    register_host(ctx, "web-2", {"role": "web"})
    token = create_key(ctx, "ci", "write").token
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings())
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def counts(ctx: Context) -> tuple[int, int]:
    with ctx.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(runs)).scalar_one(),
            conn.execute(select(func.count()).select_from(deployments)).scalar_one(),
        )


def post(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    body.setdefault("kind", "deploy")
    body.setdefault("product", "api")
    body.setdefault("environment", "production")
    return client.post("/api/v1/runs", json=body, headers=headers)


def agent_parts(tmp_path: Path, **health: list[bool]) -> Fakes:
    return make_fakes(tmp_path, health=health)


def test_a_deploy_creates_one_unclaimed_run_for_the_host(
    ctx: Context, world: tuple[TestClient, dict[str, str]]
) -> None:
    client, headers = world
    mark = live_runs.host_mark("web-1")
    answer = post(client, headers, version="2.0.0", deployed_by="alice", branch="main")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["hosts"] == ["web-1"] and body["dry_run"] is False
    run = get_run(ctx, int(body["run"]["id"]))
    assert (run.agent_host, run.owner, run.lease_until, run.status) == (
        "web-1",
        None,
        None,
        "running",
    )
    assert run.actor == "alice" and run.params["record"]["branch"] == "main"
    assert "hosts" not in run.params["deploy"]["raw"]
    assert live_runs.host_mark("web-1") > mark
    assert counts(ctx) == (1, 0)  # the agent records the deployment, not the server


def test_the_host_override_is_what_the_run_stores(
    ctx: Context, world: tuple[TestClient, dict[str, str]]
) -> None:
    client, headers = world
    table = fake_table(hosts=["web-1"], host_overrides={"web-1": {"keep_warm": 7}})
    with_deploy_table(ctx, table)
    run_id = int(post(client, headers, version="2.0.0").json()["run"]["id"])
    assert get_run(ctx, run_id).params["deploy"]["raw"]["keep_warm"] == 7


@pytest.mark.parametrize(
    ("table", "field", "words"),
    [
        (
            fake_table(hosts=["web-1"], host_overrides={"web-1": {"health": {"interval": -1}}}),
            f"{PREFIX}.host_overrides.web-1.health.interval",
            "host web-1: ",
        ),
        (fake_table(hosts=["web-1", "web-9"]), f"{PREFIX}.hosts", "web-9"),
        (fake_table(), f"{PREFIX}.hosts", "no hosts serve production"),
        (fake_table(hosts="role=db"), f"{PREFIX}.hosts", "matches no registered host"),
        (fake_table(hosts=["web-1"], keep_warm="long"), f"{PREFIX}.keep_warm", "a number"),
    ],
)
def test_a_bad_configuration_is_refused_naming_the_key(
    ctx: Context,
    world: tuple[TestClient, dict[str, str]],
    table: dict[str, Any],
    field: str,
    words: str,
) -> None:
    client, headers = world
    with_deploy_table(ctx, table)
    answer = post(client, headers, version="2.0.0")
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "config_error" and error["field"] == field
    assert words in error["message"]
    assert counts(ctx) == (0, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "not a version"}, "version"),
        ({}, "version"),
        ({"kind": "explode", "version": "1.0.0"}, "kind"),
        ({"version": "1.0.0", "to": "0.9.0"}, "to"),
        ({"environment": "no such env!", "version": "1.0.0"}, "environment"),
        ({"version": "1.0.0", "colour": "red"}, "colour"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(
    ctx: Context, world: tuple[TestClient, dict[str, str]], body: dict[str, Any], field: str
) -> None:
    client, headers = world
    answer = post(client, headers, **body)
    assert answer.status_code == 422, answer.text
    assert field in (answer.json()["error"].get("field") or "")
    assert counts(ctx) == (0, 0)


def test_a_gate_refuses_before_anything_is_created(
    ctx: Context, world: tuple[TestClient, dict[str, str]]
) -> None:
    client, headers = world
    add_rule(ctx, {"name": "one-at-a-time", "kind": "concurrency"}, actor="admin")
    record_deployment(
        ctx,
        RecordRequest(product="api", environment="production", version="1.0.0", status="started"),
    )
    answer = post(client, headers, version="2.0.0")
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "gate_blocked"
    assert error["details"]["gate_code"] == "DEPLOYMENT_IN_PROGRESS"
    assert counts(ctx) == (0, 1)
    dry = post(client, headers, version="2.0.0", dry_run=True)
    assert dry.status_code == 409 and counts(ctx) == (0, 1)


def test_a_retried_post_returns_the_same_run(
    ctx: Context, world: tuple[TestClient, dict[str, str]]
) -> None:
    client, headers = world
    keyed = headers | {"Idempotency-Key": "deploy-42"}
    first = post(client, keyed, version="2.0.0")
    again = post(client, keyed, version="2.0.0")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["run"]["id"] == again.json()["run"]["id"]
    assert counts(ctx) == (1, 0)
    other = post(client, keyed, version="3.0.0")
    assert other.status_code == 409 and "idempotency key" in other.json()["error"]["message"]
    # Without the key the environment's lock refuses a second run.
    assert post(client, headers, version="2.0.0").status_code == 409


def test_product_limits_apply(ctx: Context, world: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = world
    web_only = create_key(ctx, "web-ci", "write", ["web"]).token
    reader = create_key(ctx, "viewer", "read").token
    for token in (web_only, reader):
        answer = post(client, {"Authorization": f"Bearer {token}"}, version="2.0.0")
        assert answer.status_code == 403, answer.text
    assert counts(ctx) == (0, 0)


def test_a_run_driven_by_the_agent_is_followed_to_its_end(
    ctx: Context, world: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    client, headers = world
    run_id = post(client, headers, version="2.0.0").json()["run"]["id"]
    waiting = client.get(f"/api/v1/runs/{run_id}/follow", headers=headers).json()
    assert waiting["done"] is False and waiting["run"]["steps"] == []
    fakes = agent_parts(tmp_path)
    result = drive_as_agent(ctx, int(run_id), fakes.parts)
    assert result.end is not None and result.end.status == "completed"
    done = client.get(
        f"/api/v1/runs/{run_id}/follow",
        params={"seen": waiting["token"], "wait": 5},
        headers=headers,
    ).json()
    assert done["done"] is True and done["outcome"]["error"] is None
    assert done["outcome"]["end"]["status"] == "completed"
    assert done["run"]["steps"][0]["name"] == "record_started"
    later = client.get(
        f"/api/v1/runs/{run_id}/follow", params={"after_seq": 3}, headers=headers
    ).json()
    assert min(int(s["seq"]) for s in later["run"]["steps"]) == 3


def test_a_failed_health_check_ends_with_the_local_error(
    ctx: Context, world: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    client, headers = world
    run_id = post(client, headers, version="2.0.0").json()["run"]["id"]
    fakes = make_fakes(tmp_path, health={"2.0.0": [False]})
    result = drive_as_agent(ctx, int(run_id), fakes.parts)
    local = RunOutcome(result.run, result.end).error()
    assert local is not None
    done = client.get(f"/api/v1/runs/{run_id}/follow", headers=headers).json()
    error = done["outcome"]["error"]
    assert error["code"] == local.code and error["exit_code"] == local.exit_code
    assert error["message"] == local.message


def test_follow_wakes_promptly_on_progress(
    ctx: Context, world: tuple[TestClient, dict[str, str]]
) -> None:
    client, headers = world
    run_id = post(client, headers, version="2.0.0").json()["run"]["id"]
    first = client.get(f"/api/v1/runs/{run_id}/follow", headers=headers).json()
    # Progress lines live in the server process (another test's run may have had this id).
    after = max((line["number"] for line in first["progress"]), default=0)
    answers: list[Any] = []

    def follow() -> None:
        params = {"seen": first["token"], "wait": 30, "after_line": after}
        answers.append(client.get(f"/api/v1/runs/{run_id}/follow", params=params, headers=headers))

    follower = threading.Thread(target=follow)
    follower.start()
    live_runs.publish(int(run_id), 1, "attempt 1: connection refused")
    follower.join(timeout=60)
    assert not follower.is_alive()
    lines = answers[0].json()["progress"]
    assert [line["message"] for line in lines] == ["attempt 1: connection refused"]


def test_abort_gives_up_a_run_its_host_never_took(
    ctx: Context, world: tuple[TestClient, dict[str, str]]
) -> None:
    client, headers = world
    run_id = post(client, headers, version="2.0.0").json()["run"]["id"]
    answer = client.post(
        f"/api/v1/runs/{run_id}/abort", json={"reason": "web-1 is gone"}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "aborted"
    assert "web-1 is gone" in answer.json()["error"]
    done = client.get(f"/api/v1/runs/{run_id}/follow", headers=headers).json()
    assert done["done"] and done["outcome"]["error"]["code"] == "deploy_failed"
    assert client.post(f"/api/v1/runs/{run_id}/abort", headers=headers).status_code == 409
    # The environment is free again.
    assert post(client, headers, version="2.0.0").status_code == 201


def test_rollback_targets_the_previous_good_version(
    ctx: Context, world: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    client, headers = world
    fakes = agent_parts(tmp_path)
    for version in ("1.0.0", "2.0.0"):
        run_id = post(client, headers, version=version).json()["run"]["id"]
        assert drive_as_agent(ctx, int(run_id), fakes.parts).end is not None
    nothing_before = counts(ctx)
    dry = post(client, headers, kind="rollback", dry_run=True)
    assert dry.status_code == 200, dry.text
    shown = dry.json()["rollback"]
    assert (shown["current"]["full_version"], shown["target"]["full_version"]) == (
        "2.0.0",
        "1.0.0",
    )
    assert counts(ctx) == nothing_before
    stale = post(client, headers, kind="rollback", current_id=int(shown["target"]["id"]))
    assert stale.status_code == 409 and counts(ctx) == nothing_before
    answer = post(client, headers, kind="rollback", current_id=int(shown["current"]["id"]))
    assert answer.status_code == 201, answer.text
    run = answer.json()["run"]
    assert (run["kind"], run["full_version"], run["host"]) == ("rollback", "1.0.0", "web-1")
    result = drive_as_agent(ctx, int(run["id"]), fakes.parts)
    assert result.end is not None and result.end.status == "completed"


def test_hosts_lists_labels_and_the_run_in_progress(
    ctx: Context, world: tuple[TestClient, dict[str, str]]
) -> None:
    client, headers = world
    run_id = post(client, headers, version="2.0.0").json()["run"]["id"]
    items = client.get("/api/v1/hosts", headers=headers).json()["items"]
    assert [h["name"] for h in items] == ["web-1", "web-2"]
    web1 = items[0]
    assert web1["labels"] == {"role": "web"} and web1["stale"] is False
    assert [r["id"] for r in web1["runs"]] == [run_id]
    assert web1["runs"][0]["state"] == "waiting for the agent"


def test_a_key_limited_to_products_sees_only_their_runs_on_hosts(
    ctx: Context, world: tuple[TestClient, dict[str, str]]
) -> None:
    client, headers = world
    post(client, headers, version="2.0.0")
    web_only = create_key(ctx, "web-reader", "read", ["web"]).token
    items = client.get("/api/v1/hosts", headers={"Authorization": f"Bearer {web_only}"}).json()
    assert [h["name"] for h in items["items"]] == ["web-1", "web-2"]
    assert all(h["runs"] == [] for h in items["items"])
