"""``POST /api/v1/runs`` for an environment served by several hosts: a rollout.

The coordinating run and the hosts' runs as the server creates them, the lock, a
retried request, and ``runs abort`` of a host whose agent never came (its host
counts as failed: the rollout stops).  Agents driving rollouts for real are in
tests/fleet/test_agent_rollouts.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.errors import ConflictError
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.runs.attention import mark_interrupted_runs
from shipmate.services.runs.control import resume_run
from shipmate.services.runs.journal import get_run
from shipmate.services.runs.live import live_runs
from tests.runs.conftest import fake_table
from tests.runs.remote_world import register_host, with_deploy_table
from tests.runs.test_remote_runs_api import counts, post


@pytest.fixture
def world(ctx: Context) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with_deploy_table(ctx, fake_table(hosts="role=web", environments={"production": {"batch": 1}}))
    for name in ("web-1", "web-2", "web-3"):
        register_host(ctx, name, {"role": "web"})
    token = create_key(ctx, "ci", "write").token
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings())
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def _children(ctx: Context, parent: dict[str, Any]) -> dict[str, Any]:
    ids = parent["params"]["rollout"]["children"]
    return {host: get_run(ctx, int(run_id)) for host, run_id in ids.items()}


def test_several_hosts_get_a_coordinating_run_and_one_run_per_host(
    ctx: Context, world: tuple[TestClient, dict[str, str]]
) -> None:
    client, headers = world
    mark = live_runs.host_mark("web-1")
    key = {**headers, "Idempotency-Key": "rollout-1"}
    answer = client.post(
        "/api/v1/runs",
        json={"kind": "deploy", "product": "api", "environment": "production", "version": "2"},
        headers=key,
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["hosts"] == ["web-1", "web-2", "web-3"]
    parent = get_run(ctx, int(body["run"]["id"]))
    assert (parent.agent_host, parent.parent_id, parent.owner, parent.status) == (
        None,
        None,
        None,
        "running",
    )
    rollout = parent.params["rollout"]
    assert (rollout["strategy"], rollout["batch"], rollout["verdicts"]) == ("rolling", 1, {})
    children = {h: get_run(ctx, int(i)) for h, i in rollout["children"].items()}
    assert {h: c.status for h, c in children.items()} == {
        "web-1": "running",
        "web-2": "queued",
        "web-3": "queued",
    }
    for host, child in children.items():
        assert (child.agent_host, child.parent_id, child.owner) == (host, parent.id, None)
        assert child.params["plan"]["awaits_rollout"] is True
        assert child.params["host"] == host
    assert live_runs.host_mark("web-1") > mark
    assert counts(ctx) == (4, 0)
    # The coordinating run holds the environment: another deploy is refused.
    again = post(client, headers, version="3")
    assert again.status_code == 409, again.text
    # A retried request answers the same rollout and creates nothing.
    retried = client.post(
        "/api/v1/runs",
        json={"kind": "deploy", "product": "api", "environment": "production", "version": "2"},
        headers=key,
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["run"]["id"] == body["run"]["id"]
    assert retried.json()["hosts"] == ["web-1", "web-2", "web-3"]
    assert counts(ctx) == (4, 0)
    # Nothing drives the coordinating run: the server never marks it, nobody resumes it.
    marked = {run.id for run in mark_interrupted_runs(ctx)}
    assert parent.id not in marked and children["web-1"].id in marked
    with pytest.raises(ConflictError, match="coordinates a rollout"):
        resume_run(ctx, parent.id)


def test_aborting_a_hosts_run_fails_the_rollout_and_skips_the_others(
    ctx: Context, world: tuple[TestClient, dict[str, str]]
) -> None:
    client, headers = world
    body = post(client, headers, version="2").json()
    parent_id = int(body["run"]["id"])
    children = get_run(ctx, parent_id).params["rollout"]["children"]
    answer = client.post(
        f"/api/v1/runs/{children['web-1']}/abort",
        json={"reason": "web-1 is gone"},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    parent = get_run(ctx, parent_id)
    assert parent.status == "failed"
    assert parent.error is not None and parent.error.startswith("failed on web-1:")
    assert "not started: web-2, web-3" in parent.error
    assert parent.params["rollout"]["states"] == {
        "web-1": "failed_before_switch",
        "web-2": "skipped",
        "web-3": "skipped",
    }
    for host in ("web-2", "web-3"):
        skipped = get_run(ctx, int(children[host]))
        assert (skipped.status, list(skipped.steps)) == ("skipped", [])
    assert counts(ctx) == (4, 0)  # nothing was recorded: no host got that far
    # The environment and every host are free again (the new rollout takes their locks).
    assert post(client, headers, version="3").status_code == 201
