"""No key creates a key above itself, and every key (and gate rule) can be managed by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.errors import InvalidInputError, PermissionDeniedError
from shipmate.services.auth.keys import Principal, Scope, create_key, list_keys, revoke_key
from shipmate.services.context import Context
from shipmate.services.gates import rules as gates
from shipmate.store.schema import api_keys
from shipmate.store.schema_gates import gate_rules
from tests.api.auth_world import fingerprint


@pytest.fixture
def keys(ctx: Context) -> dict[str, str]:
    return {
        "root": create_key(ctx, "root", "admin").token,
        "admin@api": create_key(ctx, "admin-api", "admin", ["api"]).token,
        "admin@billing": create_key(ctx, "admin-billing", "admin", ["billing"]).token,
        "write@api": create_key(ctx, "write-api", "write", ["api"]).token,
        "read": create_key(ctx, "reader", "read").token,
    }


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scope": "admin"}, "products"),  # unrestricted admin
        ({"name": "x", "scope": "read"}, "products"),  # unrestricted anything
        ({"name": "x", "scope": "write", "products": ["billing"]}, "products"),
        ({"name": "x", "scope": "admin", "products": ["api", "billing"]}, "products"),
    ],
)
def test_a_limited_admin_cannot_create_a_key_beyond_its_products(
    client: TestClient, keys: dict[str, str], ctx: Context, body: dict[str, Any], field: str
) -> None:
    before = fingerprint(ctx)
    r = client.post("/api/v1/keys", json=body, headers=h(keys["admin@api"]))
    assert (r.status_code, r.json()["error"]["field"]) == (403, field)
    assert fingerprint(ctx) == before


def test_a_new_key_is_within_its_creator(
    client: TestClient, keys: dict[str, str], ctx: Context
) -> None:
    ok = client.post(
        "/api/v1/keys",
        json={"name": "ci-api", "scope": "admin", "products": ["api", "api"]},
        headers=h(keys["admin@api"]),
    )
    assert ok.status_code == 201
    assert (ok.json()["scope"], ok.json()["products"], ok.json()["created_by"]) == (
        "admin",
        ["api"],
        "admin-api",
    )
    made = ok.json()["token"]
    assert client.get("/api/v1/keys", headers=h(made)).status_code == 200
    # The root key may make anything.
    r = client.post(
        "/api/v1/keys", json={"name": "another-root", "scope": "admin"}, headers=h(keys["root"])
    )
    assert r.status_code == 201


def test_the_rule_in_the_service_too() -> None:
    limited = Principal(name="w", scope=Scope.WRITE, products=("api",))
    assert limited.reaches(Scope.READ, ["api"]) and limited.reaches(Scope.WRITE, ["api"])
    assert not limited.reaches(Scope.ADMIN, ["api"])
    assert not limited.reaches(Scope.READ, [])
    assert not limited.reaches(Scope.READ, ["api", "billing"])
    root = Principal(name="r", scope=Scope.ADMIN)
    assert root.reaches(Scope.ADMIN, [])


def test_a_write_key_asking_the_service_cannot_create_an_admin(ctx: Context) -> None:
    writer = Principal(name="w", scope=Scope.WRITE)
    with pytest.raises(PermissionDeniedError) as err:
        create_key(ctx, "x", "admin", creator=writer)
    assert err.value.field == "scope"
    assert list_keys(ctx) == []


def test_a_limited_admin_lists_and_revokes_only_keys_within_its_reach(
    client: TestClient, keys: dict[str, str], ctx: Context
) -> None:
    listed = client.get("/api/v1/keys", headers=h(keys["admin@api"])).json()["items"]
    assert [k["name"] for k in listed] == ["admin-api", "write-api"]
    before = fingerprint(ctx)
    for other in ("root", "admin-billing", "reader"):
        r = client.delete(f"/api/v1/keys/{other}", headers=h(keys["admin@api"]))
        assert (r.status_code, r.json()["error"]["field"]) == (404, "name")
    assert fingerprint(ctx) == before
    assert client.get("/api/v1/keys", headers=h(keys["root"])).status_code == 200
    r = client.delete("/api/v1/keys/write-api", headers=h(keys["admin@api"]))
    assert (r.status_code, r.json()["active"]) == (200, False)
    assert client.get("/api/v1/products", headers=h(keys["write@api"])).status_code == 401
    # The root key sees and revokes every key.
    everyone = client.get("/api/v1/keys", headers=h(keys["root"])).json()["items"]
    assert len(everyone) == 5
    assert client.delete("/api/v1/keys/admin-billing", headers=h(keys["root"])).status_code == 200


# -- names: one path segment; older names with "/" still reachable --------------------


def test_new_key_names_cannot_hold_a_slash(ctx: Context) -> None:
    for bad in ("team/ci", "..", "a\\b"):
        with pytest.raises(InvalidInputError) as err:
            create_key(ctx, bad, "read")
        assert err.value.field == "name"
    assert list_keys(ctx) == []


def _legacy_key(ctx: Context, name: str) -> str:
    """A key an older version let through, with a name holding '/'."""
    made = create_key(ctx, "placeholder", "write")
    with ctx.write() as conn:
        conn.execute(api_keys.update().where(api_keys.c.name == "placeholder").values(name=name))
    return made.token


@pytest.mark.parametrize("path", ["team%2Fci", "team/ci"])
def test_a_key_named_with_a_slash_can_be_revoked_through_the_api(
    client: TestClient, keys: dict[str, str], ctx: Context, path: str
) -> None:
    token = _legacy_key(ctx, "team/ci")
    assert client.get("/api/v1/products", headers=h(token)).status_code == 200
    r = client.delete(f"/api/v1/keys/{path}", headers=h(keys["root"]))
    assert (r.status_code, r.json()["name"], r.json()["active"]) == (200, "team/ci", False)
    assert client.get("/api/v1/products", headers=h(token)).status_code == 401
    assert client.delete("/api/v1/keys/team/cd", headers=h(keys["root"])).status_code == 404


def test_new_gate_rule_names_cannot_hold_a_slash(ctx: Context) -> None:
    with pytest.raises(InvalidInputError) as err:
        gates.add_rule(ctx, {"name": "team/ci", "kind": "concurrency"})
    assert err.value.field == "name"
    gates.add_rule(ctx, {"name": "team ci", "kind": "concurrency"})  # spaces still fine
    with pytest.raises(InvalidInputError):
        gates.replace_rule(ctx, "team ci", {"name": "team/ci", "kind": "concurrency"})
    assert [r.rule.name for r in gates.list_rules(ctx)] == ["team ci"]


@pytest.mark.parametrize("path", ["team%2Fci", "team/ci"])
def test_a_gate_rule_named_with_a_slash_can_be_managed_through_the_api(
    client: TestClient, keys: dict[str, str], ctx: Context, path: str
) -> None:
    gates.add_rule(ctx, {"name": "placeholder", "kind": "concurrency"})
    with ctx.write() as conn:  # as an older version stored it
        conn.execute(
            gate_rules.update()
            .where(gate_rules.c.name == "placeholder")
            .values(
                name="team/ci",
                name_key="team/ci",
                definition={"name": "team/ci", "kind": "concurrency"},
            )
        )
    root = h(keys["root"])
    base = f"/api/v1/gates/rules/{path}"
    assert client.get(base, headers=root).json()["name"] == "team/ci"
    patched = client.patch(base, json={"mode": "report_only"}, headers=root)
    assert (patched.status_code, patched.json()["mode"]) == (200, "report_only")
    put = client.put(base, json={"kind": "concurrency", "mode": "disabled"}, headers=root)
    assert (put.status_code, put.json()["name"], put.json()["mode"]) == (200, "team/ci", "disabled")
    gone = client.delete(base, headers=root)
    assert (gone.status_code, gone.json()["removed"]) == (200, True)
    assert gates.list_rules(ctx) == []


def test_revoking_twice_changes_nothing_the_second_time(ctx: Context) -> None:
    create_key(ctx, "ci", "write")
    first = revoke_key(ctx, "ci")
    before = fingerprint(ctx)
    again = revoke_key(ctx, "ci")
    assert again.revoked_at == first.revoked_at
    assert fingerprint(ctx) == before
