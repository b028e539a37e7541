"""The agent routes: a key acts for its host only, writes are fenced, retries write once.

In-process (FastAPI's test client) on SQLite and PostgreSQL; the runs are made by
the journal service as the server makes them.  Refused calls change nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.demo.clock import FakeClock
from shipmate.services.agents.claims import claim_next
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.runs.attention import mark_interrupted_runs
from shipmate.services.runs.journal import LEASE_SECONDS, RunRecord, create_run, list_runs
from tests.api.auth_world import fingerprint

A, B = "web-a", "web-b"


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings(key_cache_seconds=0))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def keys(ctx: Context) -> dict[str, str]:
    return {
        A: create_key(ctx, "agent-a", "agent", host=A).token,
        B: create_key(ctx, "agent-b", "agent", host=B).token,
        "a@api": create_key(ctx, "agent-a-api", "agent", ["api"], host=A).token,
    }


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _run(ctx: Context, host: str, *, product: str = "api", env: str = "production") -> RunRecord:
    return create_run(
        ctx,
        kind="deploy",
        product=product,
        environment=env,
        version="1.0.0",
        full_version="1.0.0",
        build_number=None,
        params={"plan": {}},
        actor=None,
        owner=None,
        host=host,
    )


def _claim(client: TestClient, token: str, instance: str | None = None) -> Any:
    r = client.post(
        "/api/v1/agent/claim", json={"instance": instance or str(uuid.uuid4())}, headers=h(token)
    )
    assert r.status_code in (200, 204), r.text
    return r.json() if r.status_code == 200 else None


def _path(run_id: int | str, tail: str) -> str:
    return f"/api/v1/agent/runs/{run_id}{tail}"


def test_a_key_for_one_host_cannot_claim_or_report_another_hosts_run(
    ctx: Context, client: TestClient, keys: dict[str, str]
) -> None:
    theirs = _run(ctx, B)
    assert _claim(client, keys[A]) is None  # host A's agent never gets host B's run
    claimed = _claim(client, keys[B])
    owner = claimed["owner"]
    assert claimed["run"]["id"] == str(theirs.id)
    client.post(
        _path(theirs.id, "/steps/1/begin"),
        json={"owner": owner, "name": "inspect"},
        headers=h(keys[B]),
    )
    before = fingerprint(ctx)
    calls = [
        ("/heartbeat", {"owner": owner}),
        ("/steps/2/begin", {"owner": owner, "name": "inspect"}),
        ("/steps/1/progress", {"owner": owner, "message": "x"}),
        ("/steps/1/finish", {"owner": owner, "result": {"ok": True}}),
        ("/record", {"owner": owner, "seq": 1, "request": {"status": "started", "version": "1"}}),
        ("/finish", {"owner": owner, "end": {"status": "completed", "message": "x"}}),
        ("/release", {"owner": owner}),
    ]
    for tail, body in calls:
        r = client.post(_path(theirs.id, tail), json=body, headers=h(keys[A]))
        assert (r.status_code, r.json()["error"]["field"]) == (403, "run"), (tail, r.text)
    r = client.get(_path(theirs.id, "/current"), headers=h(keys[A]))
    assert r.status_code == 403
    assert fingerprint(ctx) == before


def test_a_key_limited_to_products_gets_only_their_runs(
    ctx: Context, client: TestClient, keys: dict[str, str]
) -> None:
    billing = _run(ctx, A, product="billing")
    assert _claim(client, keys["a@api"]) is None
    before = fingerprint(ctx)
    r = client.post(_path(billing.id, "/release"), json={"owner": "x"}, headers=h(keys["a@api"]))
    assert (r.status_code, r.json()["error"]["field"]) == (403, "product")
    assert fingerprint(ctx) == before
    assert _claim(client, keys[A])["run"]["id"] == str(billing.id)


def test_retried_reports_write_once(ctx: Context, client: TestClient, keys: dict[str, str]) -> None:
    run = _run(ctx, A)
    owner = _claim(client, keys[A])["owner"]
    begin = {"owner": owner, "name": "record_started", "title": "record", "attempt": 1}
    first = client.post(_path(run.id, "/steps/1/begin"), json=begin, headers=h(keys[A]))
    again = client.post(_path(run.id, "/steps/1/begin"), json=begin, headers=h(keys[A]))
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and again.json()["attempts"] == 1
    record = {"owner": owner, "seq": 1, "request": {"status": "started", "version": "1.0.0"}}
    deps = [
        client.post(_path(run.id, "/record"), json=record, headers=h(keys[A])).json()
        for _ in range(2)
    ]
    assert deps[0]["id"] == deps[1]["id"]
    assert deps[0]["metadata"]["run_id"] == str(run.id)
    assert (deps[0]["product"], deps[0]["environment"]) == ("api", "production")
    result = {"ok": True, "data": {"deployment_id": int(deps[0]["id"])}}
    finish = {
        "owner": owner,
        "result": result,
        "run_updates": {"deployment_id": deps[0]["id"]},
    }
    for _ in range(2):
        r = client.post(_path(run.id, "/steps/1/finish"), json=finish, headers=h(keys[A]))
        assert r.status_code == 204, r.text
    before = fingerprint(ctx)
    other = {**finish, "result": {"ok": False, "error": "x"}}
    r = client.post(_path(run.id, "/steps/1/finish"), json=other, headers=h(keys[A]))
    assert r.status_code == 409 and fingerprint(ctx) == before
    end = {"owner": owner, "end": {"status": "completed", "message": "done"}}
    for _ in range(2):
        r = client.post(_path(run.id, "/finish"), json=end, headers=h(keys[A]))
        assert (r.status_code, r.json()["status"]) == (200, "completed"), r.text
    r = client.get("/api/v1/deployments", params={"product": "api"}, headers=h(_admin(ctx)))
    assert len(r.json()["items"]) == 1


def _admin(ctx: Context) -> str:
    return create_key(ctx, f"admin-{uuid.uuid4().hex[:6]}", "admin").token


def test_an_agent_cannot_point_a_run_at_another_environments_deployment(
    ctx: Context, client: TestClient, keys: dict[str, str]
) -> None:
    other = _run(ctx, A, env="staging")
    owner = _claim(client, keys[A])["owner"]
    begin = {"owner": owner, "name": "record_started"}
    client.post(_path(other.id, "/steps/1/begin"), json=begin, headers=h(keys[A]))
    record = {"owner": owner, "seq": 1, "request": {"status": "started", "version": "1.0.0"}}
    dep = client.post(_path(other.id, "/record"), json=record, headers=h(keys[A])).json()
    client.post(
        _path(other.id, "/steps/1/finish"),
        json={"owner": owner, "result": {"ok": True}},
        headers=h(keys[A]),
    )
    mine = _run(ctx, A)
    owner = _claim(client, keys[A])["owner"]
    begin = {"owner": owner, "name": "record_started"}
    r = client.post(_path(mine.id, "/steps/1/begin"), json=begin, headers=h(keys[A]))
    assert r.status_code == 200, r.text
    before = fingerprint(ctx)
    advance = {"status": "completed", "deployment_id": dep["id"]}
    r = client.post(
        _path(mine.id, "/record"),
        json={"owner": owner, "seq": 1, "request": advance},
        headers=h(keys[A]),
    )
    assert (r.status_code, r.json()["error"]["field"]) == (403, "deployment_id")
    r = client.post(
        _path(mine.id, "/steps/1/finish"),
        json={"owner": owner, "result": {"ok": True}, "run_updates": {"deployment_id": dep["id"]}},
        headers=h(keys[A]),
    )
    assert r.status_code == 403
    assert fingerprint(ctx) == before


def test_a_restarted_agent_takes_its_run_back_at_once_others_wait_for_the_lease(
    ctx: Context, clock: FakeClock, client: TestClient, keys: dict[str, str]
) -> None:
    run = _run(ctx, A)
    me = str(uuid.uuid4())
    first = _claim(client, keys[A], me)
    assert _claim(client, keys[A]) is None  # another instance: the lease holds
    again = _claim(client, keys[A], me)  # the same instance, restarted
    assert again["run"]["id"] == str(run.id) and again["owner"] != first["owner"]
    stale = {"owner": first["owner"], "name": "inspect"}
    r = client.post(_path(run.id, "/steps/1/begin"), json=stale, headers=h(keys[A]))
    assert (r.status_code, r.json()["error"]["details"]["reason"]) == (409, "lease_lost")
    clock.advance(seconds=LEASE_SECONDS + 1)
    assert [r.id for r in list_runs(ctx, status="interrupted")] == [run.id]
    taken = _claim(client, keys[A])
    assert taken["run"]["id"] == str(run.id)
    assert list_runs(ctx, status="interrupted") == []


def test_an_agent_that_never_comes_back_leaves_its_run_interrupted(
    ctx: Context, clock: FakeClock, client: TestClient, keys: dict[str, str]
) -> None:
    run = _run(ctx, A)
    claimed = claim_next(ctx, A, str(uuid.uuid4()))
    assert claimed is not None
    admin = _admin(ctx)
    listed = client.get("/api/v1/runs", params={"status": "interrupted"}, headers=h(admin))
    assert listed.json()["items"] == []  # its lease still holds
    clock.advance(seconds=LEASE_SECONDS + 1)
    listed = client.get("/api/v1/runs", params={"status": "interrupted"}, headers=h(admin))
    assert [(r["id"], r["state"], r["host"]) for r in listed.json()["items"]] == [
        (str(run.id), "interrupted", A)
    ]
    marked = mark_interrupted_runs(ctx)
    assert [m.attention for m in marked] == [
        f"waiting for the agent of host {A}: start (or restart) shipmate agent there and it "
        f"takes the run from its journal, or 'shipmate runs abort {run.id}' gives it up"
    ]
    r = client.post(_path(run.id, "/heartbeat"), json={"owner": claimed.owner}, headers=h(keys[A]))
    assert r.json() == {"alive": True}  # nobody took it: the lease is renewed


def test_hello_registers_the_keys_host_and_state_is_kept(
    ctx: Context, client: TestClient, keys: dict[str, str]
) -> None:
    body = {"instance": str(uuid.uuid4()), "labels": {"role": "web"}, "agent_version": "1"}
    r = client.post("/api/v1/agent/hello", json=body, headers=h(keys[A]))
    assert r.status_code == 200 and r.json()["host"] == A
    r = client.post(
        "/api/v1/agent/hello", json={**body, "labels": {"bad=": "x"}}, headers=h(keys[A])
    )
    assert r.status_code == 422
    state = {"products": {"api": {"production": {"slots": {"blue": "1.0.0", "green": None}}}}}
    assert client.post("/api/v1/agent/state", json=state, headers=h(keys[A])).status_code == 204
    from shipmate.services.agents.hosts import list_hosts

    found = list_hosts(ctx)
    assert [(x.name, x.labels, x.key_name, x.state) for x in found] == [
        (A, {"role": "web"}, "agent-a", state["products"])
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scope": "agent"}, "host"),
        ({"name": "x", "scope": "read", "host": "web-1"}, "host"),
        ({"name": "x", "scope": "agent", "host": "a/b"}, "host"),
    ],
)
def test_agent_keys_need_a_host_and_only_they_have_one(
    ctx: Context, client: TestClient, body: dict[str, Any], field: str
) -> None:
    admin = _admin(ctx)
    before = fingerprint(ctx)
    r = client.post("/api/v1/keys", json=body, headers=h(admin))
    assert (r.status_code, r.json()["error"]["field"]) == (422, field)
    assert fingerprint(ctx) == before


def test_only_an_admin_creates_agent_keys_within_its_products(
    ctx: Context, client: TestClient
) -> None:
    limited = create_key(ctx, "admin-api", "admin", ["api"]).token
    writer = create_key(ctx, "writer", "write").token
    body = {"name": "agent-x", "scope": "agent", "host": "web-9"}
    before = fingerprint(ctx)
    assert client.post("/api/v1/keys", json=body, headers=h(writer)).status_code == 403
    r = client.post("/api/v1/keys", json=body, headers=h(limited))
    assert (r.status_code, r.json()["error"]["field"]) == (403, "products")
    assert fingerprint(ctx) == before
    r = client.post("/api/v1/keys", json={**body, "products": ["api"]}, headers=h(limited))
    assert r.status_code == 201 and r.json()["host"] == "web-9"
