"""An admin key limited to products administers those products only; read keys read only
theirs: the audit log, gate and notification rules, deliveries, and what a rule may name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.services.context import Context
from shipmate.services.gates import rules as gates
from tests.api.auth_world import World, fingerprint, seed, served


@pytest.fixture
def world(ctx: Context, tmp_path: Path) -> World:
    w = seed(ctx, tmp_path / "repo")
    gates.add_rule(
        ctx,
        {
            "name": "shared-rule",
            "kind": "concurrency",
            "products": ["api", "billing"],
            "environments": ["nowhere"],
        },
    )
    gates.add_rule(
        ctx,
        {"name": "pattern-rule", "kind": "concurrency", "products": ["a*"], "environments": ["x"]},
    )
    return w


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app_ctx = served(world)
    app = create_app(app_ctx.settings, ctx=app_ctx, server=ServerSettings())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def as_(world: World, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[who]}"}


def test_the_audit_log_of_a_limited_admin_is_its_products(client: TestClient, world: World) -> None:
    mine = client.get("/api/v1/events", headers=as_(world, "admin@api")).json()["items"]
    assert mine and {e["product"] for e in mine} == {"api"}
    everything = client.get("/api/v1/events", headers=as_(world, "root")).json()["items"]
    assert {e["product"] for e in everything} == {"api", "billing", None}
    other = client.get("/api/v1/events?product=billing", headers=as_(world, "admin@api"))
    assert (other.status_code, other.json()["error"]["field"]) == (403, "product")


def test_environment_kinds_need_an_unrestricted_admin(client: TestClient, world: World) -> None:
    before = fingerprint(world.ctx)
    r = client.put(
        "/api/v1/environments/staging", json={"kind": "production"}, headers=as_(world, "admin@api")
    )
    assert (r.status_code, r.json()["error"]["field"]) == (403, "product")
    assert fingerprint(world.ctx) == before
    ok = client.put(
        "/api/v1/environments/staging", json={"kind": "production"}, headers=as_(world, "root")
    )
    assert (ok.status_code, ok.json()["kind"]) == (200, "production")


def _names(items: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {r["name"]: r["products"] for r in items}


def test_limited_keys_see_only_the_gate_rules_of_their_products(
    client: TestClient, world: World
) -> None:
    for who in ("read@api", "write@api", "admin@api"):
        items = client.get("/api/v1/gates/rules", headers=as_(world, who)).json()["items"]
        assert _names(items) == {
            "api-rule": ["api"],
            "global-rule": [],
            "shared-rule": ["api"],  # billing is not shown to it
            "pattern-rule": ["a*"],
        }
        r = client.get("/api/v1/gates/rules/billing-rule", headers=as_(world, who))
        assert (r.status_code, r.json()["error"]["field"]) == (404, "name")
        shared = client.get("/api/v1/gates/rules/shared-rule", headers=as_(world, who)).json()
        assert shared["products"] == ["api"]
    everything = client.get("/api/v1/gates/rules", headers=as_(world, "read")).json()["items"]
    assert _names(everything)["shared-rule"] == ["api", "billing"]
    assert "billing-rule" in _names(everything)


@pytest.mark.parametrize(
    "definition",
    [
        {"name": "freeze-all", "kind": "concurrency"},  # every product
        {"name": "freeze-a", "kind": "concurrency", "products": ["a*"]},  # a pattern
        {"name": "freeze-b", "kind": "concurrency", "products": ["billing"]},
        {"name": "freeze-ab", "kind": "concurrency", "products": ["api", "billing"]},
    ],
)
def test_a_limited_admin_cannot_add_a_rule_beyond_its_products(
    client: TestClient, world: World, definition: dict[str, Any]
) -> None:
    before = fingerprint(world.ctx)
    r = client.post("/api/v1/gates/rules", json=definition, headers=as_(world, "admin@api"))
    assert (r.status_code, r.json()["error"]["field"]) == (403, "products")
    assert fingerprint(world.ctx) == before


def test_a_limited_admin_changes_only_rules_of_its_own_products(
    client: TestClient, world: World
) -> None:
    admin = as_(world, "admin@api")
    before = fingerprint(world.ctx)
    widen = {"kind": "concurrency", "products": ["api", "billing"], "environments": ["nowhere"]}
    assert client.put("/api/v1/gates/rules/api-rule", json=widen, headers=admin).status_code == 403
    for name in ("shared-rule", "global-rule", "pattern-rule"):  # visible, not its own
        assert client.delete(f"/api/v1/gates/rules/{name}", headers=admin).status_code == 403
        patch = client.patch(
            f"/api/v1/gates/rules/{name}", json={"mode": "disabled"}, headers=admin
        )
        assert patch.status_code == 403
    # Another product's rule is not there for it at all.
    assert client.delete("/api/v1/gates/rules/billing-rule", headers=admin).status_code == 404
    assert fingerprint(world.ctx) == before
    ok = client.patch("/api/v1/gates/rules/api-rule", json={"mode": "disabled"}, headers=admin)
    assert (ok.status_code, ok.json()["mode"]) == (200, "disabled")


def test_the_guard_runs_inside_the_change(world: World) -> None:
    """The service checks the rule it is about to change, not one read earlier."""
    from shipmate.errors import PermissionDeniedError
    from shipmate.services.auth.access import rule_guard
    from shipmate.services.auth.keys import Principal, Scope

    guard = rule_guard(Principal(name="a", scope=Scope.ADMIN, products=("api",)))
    assert guard is not None
    gates.replace_rule(
        world.ctx,
        "api-rule",
        {"kind": "concurrency", "products": ["api", "billing"], "environments": ["nowhere"]},
    )  # an unrestricted admin widened it meanwhile
    with pytest.raises(PermissionDeniedError):
        gates.remove_rule(world.ctx, "api-rule", guard=guard)
    assert "api-rule" in [r.rule.name for r in gates.list_rules(world.ctx)]


def test_limited_keys_see_only_the_notification_rules_of_their_products(
    client: TestClient, world: World
) -> None:
    for who in ("read@api", "admin@api"):
        r = client.get("/api/v1/notifications/rules", headers=as_(world, who))
        assert _names(r.json()["items"]) == {"api-hook": ["api"], "global-hook": []}
    everything = client.get("/api/v1/notifications/rules", headers=as_(world, "read")).json()
    assert set(_names(everything["items"])) == {"api-hook", "billing-hook", "global-hook"}


def test_a_limited_admin_tests_only_its_own_notification_rules(
    client: TestClient, world: World
) -> None:
    admin = as_(world, "admin@api")
    mine = client.post("/api/v1/notifications/test", json={"rule": "api-hook"}, headers=admin)
    assert (mine.status_code, mine.json()["rule"]) == (200, "api-hook")
    shared = client.post("/api/v1/notifications/test", json={"rule": "global-hook"}, headers=admin)
    assert (shared.status_code, shared.json()["error"]["field"]) == (403, "products")
    for hidden in ("billing-hook", "nope"):
        r = client.post("/api/v1/notifications/test", json={"rule": hidden}, headers=admin)
        assert (r.status_code, r.json()["error"]["field"]) == (404, "rule")
        assert "global-hook" not in r.json()["error"]["message"]  # no list of the rules
    root = client.post(
        "/api/v1/notifications/test", json={"rule": "billing-hook"}, headers=as_(world, "root")
    )
    assert root.status_code == 200


def test_a_limited_admin_reads_only_its_products_deliveries(
    client: TestClient, world: World
) -> None:
    admin = as_(world, "admin@api")
    assert client.get("/api/v1/notifications/deliveries", headers=admin).status_code == 200
    other = client.get("/api/v1/notifications/deliveries?product=billing", headers=admin)
    assert (other.status_code, other.json()["error"]["field"]) == (403, "product")
