"""Commits, branches, repositories and CI runs are links on the deployment and history
pages; ``[dashboard.links]`` templates override the derived shapes; hostile values
stay text."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.domain.requests import RecordRequest
from shipmate.errors import ConfigError
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.records.deployments import record_deployment

SHA = "0123456789abcdef0123456789abcdef01234567"


def client_for(ctx: Context, sections: dict[str, Any] | None = None) -> tuple[TestClient, dict]:
    if sections is not None:
        ctx = Context(
            settings=replace(ctx.settings, sections=sections), engine=ctx.engine, clock=ctx.clock
        )
    token = create_key(ctx, "reader", "read").token
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings())
    return TestClient(app), {"Authorization": f"Bearer {token}"}


def record(ctx: Context, version: str = "1.0.0", **fields: Any) -> int:
    request = RecordRequest(
        product="shop", environment="production", version=version, status="completed", **fields
    )
    return record_deployment(ctx, request).id


def hrefs(html: str) -> dict[str, str]:
    """Link text → href, for the links that leave the dashboard."""
    page = BeautifulSoup(html, "html.parser")
    return {a.get_text(strip=True): a["href"] for a in page.select("a[href^='http']")}


def test_deployment_and_history_link_to_the_forge(ctx: Context) -> None:
    dep = record(
        ctx,
        repository="git@github.com:acme/shop.git",
        commit_sha=SHA,
        branch="release/1.0",
        ci_platform="github-actions",
        ci_run_id="77",
        ci_run_url="https://github.com/acme/shop/actions/runs/77",
    )
    client, auth = client_for(ctx)
    with client:
        page = client.get(f"/deployments/{dep}", headers=auth).text
        links = hrefs(page)
        assert links[SHA] == f"https://github.com/acme/shop/commit/{SHA}"
        assert links["release/1.0"] == "https://github.com/acme/shop/tree/release%2F1.0"
        assert links["git@github.com:acme/shop.git"] == "https://github.com/acme/shop"
        assert links["github-actions run 77"] == "https://github.com/acme/shop/actions/runs/77"
        assert "<dt>Source system</dt>" in page and "Recorded by" not in page
        assert "<dt>CI run</dt>" in page
        history = client.get("/history", headers=auth).text
        heads = [
            th.get_text(strip=True)
            for th in BeautifulSoup(history, "html.parser").select("thead th")
        ]
        assert heads[:2] == ["#", "Status"] and "Deployed by" in heads and "By" not in heads
        listed = hrefs(history)
        assert listed[SHA[:8]] == f"https://github.com/acme/shop/commit/{SHA}"
        assert listed["release/1.0"] == "https://github.com/acme/shop/tree/release%2F1.0"


def test_templates_in_config_override_the_shapes(ctx: Context) -> None:
    dep = record(ctx, repository="acme/shop", commit_sha=SHA, branch="main")
    links = {"commit": "https://git.example/{repository}/commit/{commit}"}
    client, auth = client_for(ctx, {"dashboard": {"links": links}})
    with client:
        found = hrefs(client.get(f"/deployments/{dep}", headers=auth).text)
    assert found == {SHA: f"https://git.example/acme/shop/commit/{SHA}"}


def test_hostile_values_never_become_links(ctx: Context) -> None:
    dep = record(
        ctx,
        repository='javascript:alert("x")//github.com/a/b',
        commit_sha="\"><script>alert('c')</script>",
        branch="javascript:alert(1)",
        ci_run_url="javascript:alert(1)",
    )
    quoted = record(
        ctx, "1.0.1", repository="https://github.com/a\"b/c'd", commit_sha='x"onclick="y'
    )
    client, auth = client_for(ctx)
    with client:
        page = client.get(f"/deployments/{dep}", headers=auth).text
        assert hrefs(page) == {}
        assert "<script>alert" not in page
        found = hrefs(client.get(f"/deployments/{quoted}", headers=auth).text)
        assert found['x"onclick="y'] == "https://github.com/a%22b/c%27d/commit/x%22onclick%3D%22y"
        for href in found.values():
            assert href.startswith("https://") and not set("\"' <>") & set(href)


def test_a_bad_links_table_stops_the_server_from_starting(ctx: Context) -> None:
    # the server's own configuration is wrong (not a request): refused when the app is
    # made, naming the key, instead of an error page on every page that links
    bad = {"dashboard": {"links": {"commit": "javascript:{commit}"}}}
    settings = replace(ctx.settings, sections=bad)
    with pytest.raises(ConfigError, match=r"dashboard\.links\.commit"):
        create_app(settings, ctx=ctx, server=ServerSettings())
