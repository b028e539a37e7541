"""HEAD works wherever GET does, on every dashboard and API route (uptime monitors
send it): the same status and headers as GET, and an empty body."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.testclient import TestClient

from tests.web.conftest import login
from tests.web.seed import Seeded

#: Sample values for the routes' path parameters (others get ``x``: a 404 is compared too).
SAMPLES = {
    "name": "storefront",
    "product": "storefront",
    "deployment_id": "1",
    "run_id": "1",
}
_PARAM = re.compile(r"\{([a-z_]+)(?::[a-z]+)?\}")
#: Headers that differ between any two requests (a fresh session or CSRF cookie).
_PER_REQUEST = {"set-cookie", "date"}


def get_paths(routes: Iterable[Any], prefix: str = "") -> Iterator[str]:
    """Every GET route's path template, included routers walked."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from get_paths(inner.routes, prefix + route.include_context.prefix)
        elif "GET" in (getattr(route, "methods", None) or ()):
            yield prefix + route.path


def concrete(template: str) -> str:
    path = _PARAM.sub(lambda m: SAMPLES.get(m.group(1), "x"), template)
    return path.replace("/static/x", "/static/style.css")


def comparable(headers: Any) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in _PER_REQUEST}


def test_head_answers_like_get_on_every_get_route(
    web: TestClient, seeded: Seeded, tokens: dict[str, str]
) -> None:
    templates = sorted(set(get_paths(web.app.routes)))  # type: ignore[attr-defined]
    assert {"/", "/history", "/api/v1/current", "/healthz", "/static/{name}"} <= set(templates)
    auth = {"Authorization": f"Bearer {tokens['admin']}"}
    for client_kind in ("bearer", "session"):
        if client_kind == "session":
            login(web, tokens["admin"])
            auth = {}
        for template in templates:
            path = concrete(template)
            got = web.get(path, headers=auth)
            head = web.head(path, headers=auth)
            assert head.status_code != 405, path
            assert head.status_code == got.status_code, path
            assert comparable(head.headers) == comparable(got.headers), path
            assert head.content == b"", path
    assert web.head("/?format=json").headers["content-type"].startswith("application/json")


def test_head_where_no_get_exists_answers_as_get_does(web: TestClient) -> None:
    # POST-only: GET says 405 with Allow, and so does HEAD
    got, head = web.get("/api/v1/gates/check"), web.head("/api/v1/gates/check")
    assert head.status_code == got.status_code == 405
    assert head.headers.get("allow") == got.headers.get("allow")
