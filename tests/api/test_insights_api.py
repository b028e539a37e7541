"""``/api/v1/dora`` and ``/api/v1/changelog`` over a real app and database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.demo.clock import FakeClock
from shipmate.domain.inputs.fields import format_time
from shipmate.services.changelog.assembly import changelog
from shipmate.services.context import Context
from shipmate.services.dora import dora_report
from tests.api.conftest import auth
from tests.services.test_changelog_service import T0, GitRepo, deploy, with_repository
from tests.services.test_dora_service import END, START, rollback_chain


def test_dora_matches_the_service(
    client: TestClient, ctx: Context, clock: FakeClock, tokens: dict[str, str]
) -> None:
    rollback_chain(ctx, clock)
    clock.set(END)
    query = {"product": "api", "since": format_time(START), "until": format_time(END)}
    answer = client.get("/api/v1/dora", params=query, headers=auth(tokens["read"]))
    assert answer.status_code == 200
    body = answer.json()
    assert body == dora_report(ctx, product="api", since=START, until=END).to_dict()
    assert body["change_failure_rate"]["rate"] == 0.4
    every = client.get("/api/v1/dora", params={"days": 30}, headers=auth(tokens["read"])).json()
    assert [s["stream"] for s in every["streams"]] == ["api@production", "web@production"]
    assert every["period"]["days"] == 30


def test_dora_access_and_bad_input(
    client: TestClient, ctx: Context, clock: FakeClock, tokens: dict[str, str]
) -> None:
    rollback_chain(ctx, clock)
    assert client.get("/api/v1/dora").status_code == 401
    bad = client.get("/api/v1/dora", params={"days": 0}, headers=auth(tokens["read"]))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "days"
    missing = client.get("/api/v1/dora", params={"product": "nope"}, headers=auth(tokens["read"]))
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "product"
    both = client.get(
        "/api/v1/dora",
        params={"days": 3, "since": format_time(START)},
        headers=auth(tokens["read"]),
    )
    assert both.status_code == 422 and both.json()["error"]["field"] == "days"
    when = client.get("/api/v1/dora", params={"since": "yesterday"}, headers=auth(tokens["read"]))
    assert when.status_code == 422 and when.json()["error"]["field"] == "since"
    limited = tokens["api-only"]
    other = client.get("/api/v1/dora", params={"product": "web"}, headers=auth(limited))
    assert other.status_code == 403
    own = client.get("/api/v1/dora", params={"days": 60}, headers=auth(limited)).json()
    assert own["product"] == "api" and [s["product"] for s in own["streams"]] == ["api"]


@pytest.fixture
def repo_client(
    ctx: Context, clock: FakeClock, tmp_path: Path, server_settings: ServerSettings
) -> Iterator[tuple[TestClient, GitRepo, Context]]:
    repo = GitRepo(tmp_path / "checkout")
    first = repo.commit("feat: first", T0)
    repo.commit("fix(ui): <script>alert(1)</script>", T0 + timedelta(hours=1))
    second = repo.commit("feat: second", T0 + timedelta(hours=2))
    deploy(ctx, clock, version="1.0.0", commit=first, at=T0 + timedelta(hours=1))
    deploy(ctx, clock, version="1.1.0", commit=second, at=T0 + timedelta(hours=3))
    local = with_repository(ctx, "api", repo.path)
    app = create_app(local.settings, ctx=local, server=server_settings)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, repo, local


def test_changelog_json_markdown_and_range(
    repo_client: tuple[TestClient, GitRepo, Context], tokens: dict[str, str]
) -> None:
    client, _, local = repo_client
    read = auth(tokens["read"])
    params = {"product": "api", "environment": "production"}
    answer = client.get("/api/v1/changelog", params=params, headers=read)
    assert answer.status_code == 200
    body = answer.json()
    assert body == changelog(local, "api", "production").to_dict()
    assert body["commits"] == 2 and body["title"] == "api 1.0.0 → 1.1.0"
    assert [g["type"] for g in body["groups"]] == ["feat", "fix"]
    text = client.get("/api/v1/changelog", params={**params, "format": "markdown"}, headers=read)
    assert text.headers["content-type"].startswith("text/markdown")
    assert text.text.startswith("## api 1.0.0 → 1.1.0")
    ends = client.get("/api/v1/changelog", params={**params, "commits": "false"}, headers=read)
    assert ends.json()["from"]["full_version"] == "1.0.0"
    assert "groups" not in ends.json()
    dep_id = body["to"]["deployment_id"]
    one = client.get(f"/api/v1/deployments/{dep_id}/changelog", headers=read)
    assert one.status_code == 200 and one.json()["commits"] == 2
    explicit = client.get(
        "/api/v1/changelog", params={"product": "api", "from": "1.0.0", "to": "1.1.0"}, headers=read
    )
    assert explicit.json()["commits"] == 2


def test_changelog_errors(
    repo_client: tuple[TestClient, GitRepo, Context],
    client: TestClient,
    tokens: dict[str, str],
) -> None:
    with_repo, _, _ = repo_client
    read = auth(tokens["read"])
    params = {"product": "api", "environment": "production"}
    none = client.get("/api/v1/changelog", params=params, headers=read)  # no repository here
    assert none.status_code == 404 and none.json()["error"]["field"] == "repository"
    unknown = with_repo.get("/api/v1/changelog", params={**params, "from": "zzz"}, headers=read)
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "from"
    no_product = with_repo.get("/api/v1/changelog", headers=read)
    assert no_product.status_code == 422 and no_product.json()["error"]["field"] == "product"
    no_env = with_repo.get("/api/v1/changelog", params={"product": "api"}, headers=read)
    assert no_env.status_code == 422 and no_env.json()["error"]["field"] == "environment"
    assert with_repo.get("/api/v1/changelog", params=params).status_code == 401
    web_only = with_repo.get(
        "/api/v1/changelog", params={"product": "web"}, headers=auth(tokens["api-only"])
    )
    assert web_only.status_code == 403
    bad_id = with_repo.get("/api/v1/deployments/x1/changelog", headers=read)
    assert bad_id.status_code == 422 and bad_id.json()["error"]["field"] == "id"
    first = with_repo.get("/api/v1/deployments/1/changelog", headers=read)
    assert first.status_code == 404 and first.json()["error"]["field"] == "from"
