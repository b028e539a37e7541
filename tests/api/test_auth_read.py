"""Read keys read: release-action bodies and their output need write scope."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.services.context import Context
from shipmate.services.releases import actions as releases
from shipmate.services.releases.apply import ApplyRequest, apply_release
from tests.api.auth_world import SECRET_BODY, SECRET_OUTPUT, World, seed, served


@pytest.fixture
def world(ctx: Context, tmp_path: Path) -> World:
    w = seed(ctx, tmp_path / "repo")
    releases.add_action(
        ctx,
        "api",
        releases.ActionSpec(
            version="2.0.0", phase="up", kind="shell", body=f"echo {SECRET_OUTPUT}", name="say"
        ),
    )
    apply_release(ctx, ApplyRequest(product="api", environment="qa", version="2.0.0"))
    return w


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app_ctx = served(world)
    app = create_app(app_ctx.settings, ctx=app_ctx, server=ServerSettings())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _get(client: TestClient, world: World, who: str, path: str, **params: str) -> str:
    r = client.get(path, params=params, headers={"Authorization": f"Bearer {world.tokens[who]}"})
    assert r.status_code == 200, r.text
    return json.dumps(r.json())


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/releases/actions", {"product": "api"}),
        ("/api/v1/releases/plan", {"product": "api", "environment": "production", "to": "2.0.0"}),
        ("/api/v1/releases/executions", {"product": "api"}),
        ("/api/v1/runs/{run}", {}),
    ],
)
def test_read_keys_get_no_bodies_and_no_output(
    client: TestClient, world: World, path: str, params: dict[str, str]
) -> None:
    path = path.replace("{run}", str(world.run["api"]))
    for reader in ("read", "read@api"):
        seen = _get(client, world, reader, path, **params)
        assert SECRET_BODY not in seen and SECRET_OUTPUT not in seen
        assert '"redacted": true' in seen
    for writer in ("write", "write@api", "root"):
        seen = _get(client, world, writer, path, **params)
        assert SECRET_BODY in seen or SECRET_OUTPUT in seen
        assert '"redacted": true' not in seen


def test_a_read_key_still_sees_what_exists(client: TestClient, world: World) -> None:
    items = json.loads(_get(client, world, "read", "/api/v1/releases/actions", product="api"))
    by_name = {a["name"]: a for a in items["items"]}
    assert set(by_name) == {"warm", "say"}
    assert by_name["say"]["body"] is None and len(by_name["say"]["checksum"]) > 10
    runs = json.loads(_get(client, world, "read", f"/api/v1/runs/{world.run['api']}"))
    assert runs["status"] == "failed" and runs["error"] is None
    (step,) = runs["steps"]
    assert (step["status"], step["output"], step["title"]) == (
        "failed",
        None,
        "[1/1] 1.0.0 up: warm",
    )
    executions = json.loads(
        _get(client, world, "read", "/api/v1/releases/executions", product="api")
    )["items"]
    assert [(e["name"], e["status"], e["output"]) for e in executions] == [
        ("say", "ok", None),  # newest first: qa walked 1.0.0 then 2.0.0
        ("warm", "ok", None),
    ]
