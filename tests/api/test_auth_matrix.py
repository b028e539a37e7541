"""Authorization as a matrix: every operation of the app's own OpenAPI document, for
every kind of key, on its own product and on another one.

The operations come from ``create_app(...).openapi()``, so a new route is in the
matrix by default: a route missing from :data:`ROUTES` fails
:func:`test_route_authorization` for it (and :func:`test_the_table_is_the_app`).
Each entry says what the route needs:

``public``  anyone, without a key
``read`` / ``write`` / ``admin``  that scope or higher
``root``  an admin key that is not limited to products
``agent``  an agent key only (and nothing else may call it); an agent key is
           refused (403) by every route but those and the public ones

and whether it acts on one product (``per_product``): a key limited to products
then gets it only for its own products.  Every allowed call must succeed (2xx);
every refused one answers 401 (no key), 403 (scope) or 403/404 (product) and
leaves every table as it was.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.config import Settings
from shipmate.domain.runs.model import AWAIT_ROLLOUT, Step
from shipmate.services.agents import hosts as agent_hosts
from shipmate.services.agents.claims import claim_next
from shipmate.services.auth.keys import create_key
from shipmate.services.catalog import changes as catalog_changes
from shipmate.services.context import Context
from shipmate.services.gates import rules as gates
from shipmate.services.runs.journal import begin_step, create_run
from tests.api.auth_world import (
    AGENT_HOST,
    OWN,
    PRODUCTS,
    WHO,
    Who,
    World,
    fingerprint,
    record,
    seed,
    served,
)

SERVER = ServerSettings()
RANK = {"agent": -1, "read": 0, "write": 1, "admin": 2, "root": 2}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None


#: Builds the request for product ``p``; ``n`` is unique per call (fresh names).
#: It may prepare what the call acts on (a rule to remove, a key to revoke).
Make = Callable[[World, str, int], Call]


@dataclass(frozen=True)
class Route:
    need: str
    make: Make
    per_product: bool = True
    #: Answers besides 2xx an allowed caller may get (refusals that come after the
    #: authorization, the same for every allowed key).
    also_ok: frozenset[int] = frozenset()


def _q(p: str, **more: Any) -> dict[str, Any]:
    return {"product": p, **more}


def _rule(w: World, p: str, n: int) -> str:
    name = f"r{n}"
    gates.add_rule(
        w.ctx,
        {"name": name, "kind": "concurrency", "products": [p], "environments": ["nowhere"]},
    )
    return name


def _key(w: World, p: str, n: int) -> str:
    return create_key(w.ctx, f"victim{n}", "read", [p]).key.name


def _started(w: World, p: str, n: int) -> int:
    return record(w.ctx, p, f"started-{n}", "started")


def _completed(w: World, p: str, n: int) -> int:
    return record(w.ctx, p, f"done-{n}", "completed")


def _archived(w: World, p: str) -> str:
    catalog_changes.apply_change(w.ctx, "product", "archive", p)
    return p


def _product(w: World, n: int) -> str:
    catalog_changes.apply_change(w.ctx, "product", "declare", f"fresh{n}")
    return f"fresh{n}"


def _env(w: World, n: int, *, archived: bool = False) -> str:
    name = f"place{n}".replace("-", "x")
    catalog_changes.apply_change(w.ctx, "environment", "declare", name)
    if archived:
        catalog_changes.apply_change(w.ctx, "environment", "archive", name)
    return name


def _agent_run(w: World, n: int, *, begun: bool = False) -> tuple[int, str]:
    """A run of the agent key's host, claimed (and its step 1 begun): (id, owner)."""
    create_run(
        w.ctx,
        kind="deploy",
        product=OWN,
        environment=f"agent{n}",
        version="1.0.0",
        full_version="1.0.0",
        build_number=None,
        params={},
        actor=None,
        owner=None,
        host=AGENT_HOST,
    )
    claimed = claim_next(w.ctx, AGENT_HOST, str(uuid.uuid4()), products=(OWN,))
    assert claimed is not None
    if begun:
        begin_step(w.ctx, claimed.run.id, claimed.owner, 1, Step("record_started", "record"))
    return claimed.run.id, claimed.owner


def _agent_call(w: World, n: int, tail: str, body: dict[str, Any], *, begun: bool = False) -> Call:
    run_id, owner = _agent_run(w, n, begun=begun)
    return Call("POST", f"{AG}/runs/{run_id}{tail}", json={"owner": owner, **body})


def _awaiting(w: World, n: int) -> Call:
    """A claimed run of the agent's host waiting at its await_rollout step."""
    run_id, owner = _agent_run(w, n)
    begin_step(w.ctx, run_id, owner, 1, Step(AWAIT_ROLLOUT, "wait for the rollout's verdict"))
    return Call("POST", f"{AG}/runs/{run_id}/await", json={"owner": owner, "wait": 0})


def _remote_run(w: World, p: str, n: int) -> Call:
    """A dry run of a remote deploy (every check, nothing created) to the agent's host."""
    agent_hosts.hello(w.ctx, AGENT_HOST, key_name="agent-at-api", labels={}, agent_version="0")
    body = {"kind": "deploy", "product": p, "environment": f"far{n}", "version": "0.5.0"}
    return Call("POST", f"{V1}/runs", json={**body, "dry_run": True})


def _waiting_run(w: World, p: str, n: int) -> Call:
    """A run whose host's agent never came: abortable."""
    run = create_run(
        w.ctx,
        kind="deploy",
        product=p,
        environment=f"gone{n}",
        version="1.0.0",
        full_version="1.0.0",
        build_number=None,
        params={},
        actor=None,
        owner=None,
        host=AGENT_HOST,
    )
    return Call("POST", f"{V1}/runs/{run.id}/abort", json={"reason": "the host never returned"})


def _state(w: World) -> Call:
    """A state report (the host said hello first)."""
    agent_hosts.hello(w.ctx, AGENT_HOST, key_name="agent-at-api", labels={}, agent_version="0")
    return Call("POST", f"{AG}/state", json={"products": {}})


V1 = "/api/v1"
AG = "/api/v1/agent"
INSTANCE = str(uuid.uuid4())
AGENT_ROUTES: dict[str, Route] = {
    "POST /api/v1/agent/hello": Route(
        "agent",
        lambda w, p, n: Call("POST", f"{AG}/hello", json={"instance": INSTANCE}),
        per_product=False,
    ),
    "POST /api/v1/agent/claim": Route(
        "agent",
        lambda w, p, n: Call("POST", f"{AG}/claim", json={"instance": str(uuid.uuid4())}),
        per_product=False,
    ),
    "POST /api/v1/agent/state": Route(
        "agent",
        lambda w, p, n: _state(w),
        per_product=False,
    ),
    "POST /api/v1/agent/runs/{run_id}/heartbeat": Route(
        "agent", lambda w, p, n: _agent_call(w, n, "/heartbeat", {}), per_product=False
    ),
    "POST /api/v1/agent/runs/{run_id}/release": Route(
        "agent", lambda w, p, n: _agent_call(w, n, "/release", {}), per_product=False
    ),
    "GET /api/v1/agent/runs/{run_id}/current": Route(
        "agent",
        lambda w, p, n: Call("GET", f"{AG}/runs/{_agent_run(w, n)[0]}/current"),
        per_product=False,
    ),
    "POST /api/v1/agent/runs/{run_id}/steps/{seq}/begin": Route(
        "agent",
        lambda w, p, n: _agent_call(w, n, "/steps/1/begin", {"name": "inspect"}),
        per_product=False,
    ),
    "POST /api/v1/agent/runs/{run_id}/steps/{seq}/progress": Route(
        "agent",
        lambda w, p, n: _agent_call(w, n, "/steps/1/progress", {"message": "x"}, begun=True),
        per_product=False,
    ),
    "POST /api/v1/agent/runs/{run_id}/steps/{seq}/finish": Route(
        "agent",
        lambda w, p, n: _agent_call(w, n, "/steps/1/finish", {"result": {"ok": True}}, begun=True),
        per_product=False,
    ),
    "POST /api/v1/agent/runs/{run_id}/record": Route(
        "agent",
        lambda w, p, n: _agent_call(
            w,
            n,
            "/record",
            {"seq": 1, "request": {"status": "started", "version": "1.0.0"}},
            begun=True,
        ),
        per_product=False,
    ),
    "POST /api/v1/agent/runs/{run_id}/await": Route(
        "agent", lambda w, p, n: _awaiting(w, n), per_product=False
    ),
    "POST /api/v1/agent/runs/{run_id}/finish": Route(
        "agent",
        lambda w, p, n: _agent_call(
            w, n, "/finish", {"end": {"status": "completed", "message": "done"}}
        ),
        per_product=False,
    ),
}
ROUTES: dict[str, Route] = {
    # health
    "GET /healthz": Route("public", lambda w, p, n: Call("GET", "/healthz"), per_product=False),
    "GET /readyz": Route("public", lambda w, p, n: Call("GET", "/readyz"), per_product=False),
    # catalog
    "GET /api/v1/products": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/products"), per_product=False
    ),
    "GET /api/v1/products/{product}/versions": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/products/{p}/versions")
    ),
    "GET /api/v1/environments": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/environments"), per_product=False
    ),
    "PUT /api/v1/environments/{name}": Route(
        "root",
        lambda w, p, n: Call("PUT", f"{V1}/environments/env{n}", json={"kind": "staging"}),
        per_product=False,
    ),
    "POST /api/v1/products": Route(
        "admin", lambda w, p, n: Call("POST", f"{V1}/products", json={"name": p})
    ),
    # Renaming a product to its own name is a no-op that still needs the rights.
    "POST /api/v1/products/{product}/rename": Route(
        "admin", lambda w, p, n: Call("POST", f"{V1}/products/{p}/rename", json={"name": p})
    ),
    # A merge needs both products: here a new one into api, so only an admin not
    # limited to products (a key limited to both: tests/api/test_catalog_api.py).
    "POST /api/v1/products/{product}/merge": Route(
        "root",
        lambda w, p, n: Call("POST", f"{V1}/products/{_product(w, n)}/merge", json={"into": OWN}),
        per_product=False,
    ),
    "POST /api/v1/products/{product}/archive": Route(
        "admin", lambda w, p, n: Call("POST", f"{V1}/products/{p}/archive")
    ),
    "POST /api/v1/products/{product}/unarchive": Route(
        "admin", lambda w, p, n: Call("POST", f"{V1}/products/{_archived(w, p)}/unarchive")
    ),
    "POST /api/v1/environments/{name}/rename": Route(
        "root",
        lambda w, p, n: Call(
            "POST", f"{V1}/environments/{_env(w, n)}/rename", json={"name": f"renamed{n}"}
        ),
        per_product=False,
    ),
    "POST /api/v1/environments/{name}/merge": Route(
        "root",
        lambda w, p, n: Call(
            "POST", f"{V1}/environments/{_env(w, n)}/merge", json={"into": _env(w, -n)}
        ),
        per_product=False,
    ),
    "POST /api/v1/environments/{name}/archive": Route(
        "root",
        lambda w, p, n: Call("POST", f"{V1}/environments/{_env(w, n)}/archive"),
        per_product=False,
    ),
    "POST /api/v1/environments/{name}/unarchive": Route(
        "root",
        lambda w, p, n: Call("POST", f"{V1}/environments/{_env(w, n, archived=True)}/unarchive"),
        per_product=False,
    ),
    # records
    "POST /api/v1/builds": Route(
        "write",
        lambda w, p, n: Call("POST", f"{V1}/builds", json={"product": p, "version": "1.0.0"}),
    ),
    "POST /api/v1/deployments": Route(
        "write",
        lambda w, p, n: Call(
            "POST",
            f"{V1}/deployments",
            json={"product": p, "environment": f"e{n}", "version": "1.0.0", "status": "started"},
        ),
    ),
    "GET /api/v1/deployments": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/deployments", params=_q(p))
    ),
    "POST /api/v1/deployments/{deployment_id}/events": Route(
        "write",
        lambda w, p, n: Call(
            "POST", f"{V1}/deployments/{_started(w, p, n)}/events", json={"status": "completed"}
        ),
    ),
    "POST /api/v1/deployments/{deployment_id}/rollback-mark": Route(
        "write",
        lambda w, p, n: Call(
            "POST", f"{V1}/deployments/{_completed(w, p, n)}/rollback-mark", json={"reason": "x"}
        ),
    ),
    "GET /api/v1/deployments/{deployment_id}": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/deployments/{w.deployment[p]}")
    ),
    "GET /api/v1/current": Route("read", lambda w, p, n: Call("GET", f"{V1}/current", _q(p))),
    "GET /api/v1/stats": Route("read", lambda w, p, n: Call("GET", f"{V1}/stats", _q(p))),
    "GET /api/v1/events": Route("admin", lambda w, p, n: Call("GET", f"{V1}/events", _q(p))),
    # keys
    "GET /api/v1/keys": Route(
        "admin", lambda w, p, n: Call("GET", f"{V1}/keys"), per_product=False
    ),
    "POST /api/v1/keys": Route(
        "admin",
        lambda w, p, n: Call(
            "POST", f"{V1}/keys", json={"name": f"new{n}", "scope": "read", "products": [p]}
        ),
    ),
    "DELETE /api/v1/keys/{name}": Route(
        "admin", lambda w, p, n: Call("DELETE", f"{V1}/keys/{_key(w, p, n)}")
    ),
    # bloqr
    "GET /api/version": Route("read", lambda w, p, n: Call("GET", "/api/version", _q(p))),
    "GET /api/deployments": Route("read", lambda w, p, n: Call("GET", "/api/deployments", _q(p))),
    "GET /api/deployments/stats": Route(
        "read", lambda w, p, n: Call("GET", "/api/deployments/stats", _q(p))
    ),
    # Versioner
    "POST /versioner/build-events/": Route(
        "write",
        lambda w, p, n: Call(
            "POST",
            "/versioner/build-events/",
            json={"product_name": p, "version": "1.0.0", "status": "completed"},
        ),
    ),
    "POST /versioner/deployment-events/": Route(
        "write",
        lambda w, p, n: Call(
            "POST",
            "/versioner/deployment-events/",
            json={
                "product_name": p,
                "version": "1.0.0",
                "environment_name": f"v{n}",
                "status": "completed",
            },
        ),
    ),
    # draining
    "GET /api/v1/version-states": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/version-states", _q(p))
    ),
    "POST /api/v1/drain/check": Route(
        "admin", lambda w, p, n: Call("POST", f"{V1}/drain/check", _q(p))
    ),
    # gates
    "GET /api/v1/gates/rules": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/gates/rules"), per_product=False
    ),
    "POST /api/v1/gates/rules": Route(
        "admin",
        lambda w, p, n: Call(
            "POST",
            f"{V1}/gates/rules",
            json={"name": f"new{n}", "kind": "concurrency", "products": [p], "environments": ["x"]},
        ),
    ),
    "GET /api/v1/gates/rules/{name}": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/gates/rules/{p}-rule")
    ),
    "PUT /api/v1/gates/rules/{name}": Route(
        "admin",
        lambda w, p, n: Call(
            "PUT",
            f"{V1}/gates/rules/{_rule(w, p, n)}",
            json={"kind": "concurrency", "products": [p], "environments": ["elsewhere"]},
        ),
    ),
    "PATCH /api/v1/gates/rules/{name}": Route(
        "admin",
        lambda w, p, n: Call(
            "PATCH", f"{V1}/gates/rules/{_rule(w, p, n)}", json={"mode": "report_only"}
        ),
    ),
    "DELETE /api/v1/gates/rules/{name}": Route(
        "admin", lambda w, p, n: Call("DELETE", f"{V1}/gates/rules/{_rule(w, p, n)}")
    ),
    "POST /api/v1/gates/check": Route(
        "read",
        lambda w, p, n: Call(
            "POST",
            f"{V1}/gates/check",
            json={"product": p, "version": "1.0.0", "environment": "production"},
        ),
    ),
    "POST /api/v1/approvals": Route(
        "write",
        lambda w, p, n: Call(
            "POST",
            f"{V1}/approvals",
            json={"product": p, "version": "1.0.0", "environment": f"a{n}"},
        ),
    ),
    "GET /api/v1/approvals": Route(
        "read",
        lambda w, p, n: Call(
            "GET", f"{V1}/approvals", _q(p, version="1.0.0", environment="production")
        ),
    ),
    "POST /api/v1/deployments/{deployment_id}/unlock": Route(
        "admin",
        lambda w, p, n: Call(
            "POST", f"{V1}/deployments/{_started(w, p, n)}/unlock", json={"reason": "stuck"}
        ),
    ),
    # insights
    "GET /api/v1/dora": Route("read", lambda w, p, n: Call("GET", f"{V1}/dora", _q(p))),
    "GET /api/v1/changelog": Route(
        "read",
        lambda w, p, n: Call(
            "GET", f"{V1}/changelog", _q(p, environment="staging", commits="false")
        ),
    ),
    "GET /api/v1/deployments/{deployment_id}/changelog": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/deployments/{w.deployment[p]}/changelog")
    ),
    # notifications
    "GET /api/v1/notifications/rules": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/notifications/rules"), per_product=False
    ),
    "GET /api/v1/notifications/deliveries": Route(
        "admin", lambda w, p, n: Call("GET", f"{V1}/notifications/deliveries", _q(p))
    ),
    "POST /api/v1/notifications/test": Route(
        "admin",
        lambda w, p, n: Call("POST", f"{V1}/notifications/test", json={"rule": f"{p}-hook"}),
    ),
    # release actions
    "GET /api/v1/releases/actions": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/releases/actions", _q(p))
    ),
    "POST /api/v1/releases/actions": Route(
        "admin",
        lambda w, p, n: Call(
            "POST",
            f"{V1}/releases/actions",
            json={
                "product": p,
                "version": "2.0.0",
                "phase": "down",
                "kind": "shell",
                "body": f"echo {n}",
                "name": f"a{n}",
            },
        ),
    ),
    "POST /api/v1/releases/sync": Route(
        "admin",
        lambda w, p, n: Call(
            "POST", f"{V1}/releases/sync", json={"product": p, "versions": [{"version": "2.0.0"}]}
        ),
    ),
    "PUT /api/v1/releases/predecessor": Route(
        "admin",
        lambda w, p, n: Call(
            "PUT",
            f"{V1}/releases/predecessor",
            json={"product": p, "version": "1.0.0", "predecessor": None},
        ),
    ),
    "GET /api/v1/releases/lineage": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/releases/lineage", _q(p))
    ),
    "GET /api/v1/releases/plan": Route(
        "read",
        lambda w, p, n: Call(
            "GET", f"{V1}/releases/plan", _q(p, environment="production", to="1.0.0")
        ),
    ),
    "GET /api/v1/releases/position": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/releases/position", _q(p, environment="x"))
    ),
    "GET /api/v1/releases/executions": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/releases/executions", _q(p))
    ),
    # runs
    "GET /api/v1/runs": Route("read", lambda w, p, n: Call("GET", f"{V1}/runs", _q(p))),
    "GET /api/v1/runs/{run_id}": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/runs/{w.run[p]}")
    ),
    "GET /api/v1/runs/{run_id}/follow": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/runs/{w.run[p]}/follow", {"wait": 0})
    ),
    # Both products have release actions, which an agent cannot run yet: an allowed
    # caller's dry run is refused with 422 after authorization, naming the steps.
    "POST /api/v1/runs": Route("write", _remote_run, also_ok=frozenset({422})),
    "POST /api/v1/runs/{run_id}/abort": Route("write", _waiting_run),
    "GET /api/v1/hosts": Route(
        "read", lambda w, p, n: Call("GET", f"{V1}/hosts"), per_product=False
    ),
    **AGENT_ROUTES,
}


def operations() -> list[str]:
    """``METHOD /path`` of every operation in the app's own OpenAPI document."""
    document = create_app(Settings(), server=SERVER).openapi()
    return sorted(
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch", "head", "options")
    )


OPERATIONS = operations()


def allowed(route: Route, who: Who, product: str) -> bool:
    if route.need == "public":
        return True
    if route.need == "agent" or who.scope == "agent":
        return route.need == who.scope
    if who.scope is None or RANK[who.scope] < RANK[route.need]:
        return False
    if route.need == "root" and who.products:
        return False
    return not (route.per_product and who.products and product not in who.products)


def refusals(route: Route, who: Who) -> set[int]:
    if who.scope is None:
        return {401}
    if RANK[who.scope] < RANK[route.need] or route.need in ("root", "agent"):
        return {403}
    return {403, 404}  # another product's thing: refused, or not there for this key


@pytest.fixture
def world(ctx: Context, tmp_path: Path) -> World:
    return seed(ctx, tmp_path / "repo")


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app_ctx = served(world)
    with TestClient(
        create_app(app_ctx.settings, ctx=app_ctx, server=SERVER), raise_server_exceptions=False
    ) as c:
        yield c


_unique = itertools.count(1)


def test_the_table_is_the_app() -> None:
    missing = sorted(set(OPERATIONS) - set(ROUTES))
    stale = sorted(set(ROUTES) - set(OPERATIONS))
    assert (missing, stale) == ([], []), "every route needs an expectation, and only routes"


@pytest.mark.parametrize("operation", OPERATIONS)
def test_route_authorization(operation: str, world: World, client: TestClient) -> None:
    route = ROUTES.get(operation)
    assert route is not None, f"{operation} has no row in ROUTES: say who may call it"
    products = PRODUCTS if route.per_product else (OWN,)
    wrong: list[str] = []
    for who in WHO:
        for product in products:
            call = route.make(world, product, next(_unique))
            ok = allowed(route, who, product)
            before = None if ok else fingerprint(world.ctx)
            headers = {"Authorization": f"Bearer {world.tokens[who.name]}"} if who.scope else {}
            r = client.request(
                call.method, call.path, params=call.params, json=call.json, headers=headers
            )
            cell = f"{who.name} on {product}: {r.status_code} {r.text[:300]}"
            if ok and not (200 <= r.status_code < 300 or r.status_code in route.also_ok):
                wrong.append(f"{cell} (expected success)")
            elif not ok:
                if r.status_code not in refusals(route, who):
                    wrong.append(f"{cell} (expected {sorted(refusals(route, who))})")
                elif fingerprint(world.ctx) != before:
                    wrong.append(f"{cell} (refused, but the database changed)")
    assert wrong == []
