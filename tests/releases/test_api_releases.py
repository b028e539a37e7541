"""The releases API: scopes, the plan, sync, bad input as 4xx naming the field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from tests.releases.scenario import add_versions

API = "/api/v1/releases"


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings(default_product="api"))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def keys(ctx: Context) -> dict[str, dict[str, str]]:
    def header(name: str, scope: str, products: list[str] | None = None) -> dict[str, str]:
        token = create_key(ctx, name, scope, products or []).token
        return {"Authorization": f"Bearer {token}"}

    return {
        "read": header("reader", "read"),
        "write": header("writer", "write"),
        "admin": header("admin", "admin"),
        "web-admin": header("web-admin", "admin", ["web"]),
    }


ACTION = {
    "product": "api",
    "version": "1.0.0",
    "phase": "up",
    "kind": "sql",
    "body": "CREATE TABLE a (id INTEGER);",
    "name": "001.sql",
    "database_ref": "APP_DB_URL",
}


def test_registering_needs_admin_and_the_product(client: TestClient, keys) -> None:  # type: ignore[no-untyped-def]
    assert client.post(f"{API}/actions", json=ACTION, headers=keys["write"]).status_code == 403
    assert client.post(f"{API}/actions", json=ACTION, headers=keys["web-admin"]).status_code == 403
    created = client.post(f"{API}/actions", json=ACTION, headers=keys["admin"])
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["change"] == "created"
    assert (body["action"]["order"], body["action"]["source"]) == (10, "api")
    again = client.post(f"{API}/actions", json=ACTION, headers=keys["admin"])
    assert again.json()["change"] == "unchanged"
    listed = client.get(f"{API}/actions", params={"product": "api"}, headers=keys["read"])
    assert [a["name"] for a in listed.json()["items"]] == ["001.sql"]


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"phase": "sideways"}, 422, "phase"),
        ({"database_ref": "postgresql://u:pw@h/db"}, 422, "database_ref"),
        ({"body": "SELECT 1;\x00"}, 422, "body"),
        ({"version": "1 .0"}, 422, "version"),
    ],
)
def test_bad_actions_are_422_naming_the_field(  # type: ignore[no-untyped-def]
    client: TestClient, keys, change: dict[str, str], status: int, field: str
) -> None:
    response = client.post(f"{API}/actions", json={**ACTION, **change}, headers=keys["admin"])
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field
    assert "pw@" not in response.text


def test_plan_position_and_lineage(ctx: Context, client: TestClient, keys) -> None:  # type: ignore[no-untyped-def]
    add_versions(ctx)
    response = client.get(
        f"{API}/plan",
        params={"product": "api", "environment": "staging", "to": "1.1.0"},
        headers=keys["read"],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["plan"]["versions"] == ["1.0.0", "1.1.0"]
    assert body["lines"][0].startswith("product api in staging: none (fresh environment")
    missing = client.get(
        f"{API}/plan",
        params={"product": "api", "environment": "staging", "to": "7.0.0"},
        headers=keys["read"],
    )
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "target"
    position = client.get(
        f"{API}/position", params={"product": "api", "environment": "staging"}, headers=keys["read"]
    )
    assert position.json() == {"product": "api", "environment": "staging", "version": None}
    put = client.put(
        f"{API}/predecessor",
        json={"product": "api", "version": "1.2.0", "predecessor": "1.0.0"},
        headers=keys["admin"],
    )
    assert put.status_code == 200 and put.json()["predecessor_known"] is True
    lineage = client.get(f"{API}/lineage", params={"product": "api"}, headers=keys["read"])
    assert lineage.json()["versions"] == ["1.0.0", "1.2.0", "1.1.0", "1.3.0"]
    strict = client.get(
        f"{API}/lineage", params={"product": "api", "strict": "true"}, headers=keys["read"]
    )
    assert strict.status_code == 409
    assert strict.json()["error"]["field"] == "predecessor"


def test_sync_over_the_api(client: TestClient, keys) -> None:  # type: ignore[no-untyped-def]
    payload = {
        "product": "api",
        "versions": [
            {
                "version": "2.0.0",
                "predecessor": None,
                "actions": [
                    {"phase": "up", "order": 10, "kind": "shell", "name": "a.sh", "body": "echo a"}
                ],
            }
        ],
    }
    first = client.post(f"{API}/sync", json=payload, headers=keys["admin"])
    assert first.status_code == 200, first.text
    assert first.json()["versions"][0]["added"] == ["a.sh"]
    second = client.post(f"{API}/sync", json=payload, headers=keys["admin"])
    assert second.json()["changed"] is False
    bad = dict(payload)
    bad["versions"] = [
        {
            **payload["versions"][0],
            "actions": [{**payload["versions"][0]["actions"][0], "kind": "perl"}],
        }
    ]  # type: ignore[index, dict-item]
    refused = client.post(f"{API}/sync", json=bad, headers=keys["admin"])
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "versions[0].actions[0].kind"


def test_executions_listing(client: TestClient, keys) -> None:  # type: ignore[no-untyped-def]
    client.post(f"{API}/actions", json=ACTION, headers=keys["admin"])
    response = client.get(
        f"{API}/executions", params={"product": "api", "before": "x"}, headers=keys["read"]
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "before"
    ok = client.get(f"{API}/executions", params={"product": "api"}, headers=keys["read"])
    assert ok.json() == {"items": [], "next_before": None}
