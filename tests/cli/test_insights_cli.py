"""``shipmate dora`` and ``shipmate changelog``, locally and against a real server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.demo.clock import FakeClock
from shipmate.domain.inputs.fields import format_time
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from tests.services.test_changelog_service import T0, GitRepo, deploy, with_repository
from tests.services.test_dora_service import END, START, rollback_chain
from tests.web.liveserver import LiveServer

Run = Callable[..., tuple[int, str, str]]


PERIOD = ("--since", format_time(START) or "", "--until", format_time(END) or "")


def test_dora_text_and_json(cli: Run, ctx: Context, clock: FakeClock) -> None:
    rollback_chain(ctx, clock)
    code, out, err = cli("dora", "--product", "api", *PERIOD)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "DORA metrics: api in production"
    assert any(
        line.startswith("Change failure rate") and "40.0% (2 of 5 that went live)" in line
        for line in lines
    )
    assert any(line.startswith("Lead time for changes") and "median 3h" in line for line in lines)
    assert any("Failed deployment recovery" in line and "median 30m" in line for line in lines)
    code, out, _ = cli("dora", *PERIOD, "--json")
    body = json.loads(out)
    assert code == 0 and [s["stream"] for s in body["streams"]] == [
        "api@production",
        "web@production",
    ]
    code, out, _ = cli("dora", *PERIOD)
    assert "STREAM" in out and "web@production" in out
    code, out, _ = cli("dora", "--product", "web", *PERIOD)  # its one deploy failed before traffic
    assert any(
        line.startswith("Change failure rate")
        and "nothing went live, 1 stopped before traffic" in line
        for line in out.splitlines()
    )
    code, _, err = cli("dora", "--days", "7", "--since", format_time(START) or "")
    assert code == 2 and "[days]" in err
    code, _, err = cli("dora", "--product", "nope")
    assert code == 1 and "[product]" in err
    code, _, err = cli("dora", "--days", "0")
    assert code == 2 and "[days]" in err


@pytest.fixture
def repo(tmp_path: Path, ctx: Context, clock: FakeClock) -> GitRepo:
    repo = GitRepo(tmp_path / "checkout")
    first = repo.commit("feat: first", T0)
    repo.commit("fix: second", T0 + timedelta(hours=1))
    third = repo.commit("docs: third", T0 + timedelta(hours=2))
    deploy(ctx, clock, version="1.0.0", commit=first, at=T0 + timedelta(hours=1))
    deploy(ctx, clock, version="1.1.0", commit=third, at=T0 + timedelta(hours=3))
    return repo


def test_changelog_markdown_json_and_config(cli: Run, repo: GitRepo, tmp_path: Path) -> None:
    code, out, err = cli(
        "changelog", "--product", "api", "--env", "production", "--repo", str(repo.path)
    )
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "## api 1.0.0 → 1.1.0"
    assert "### Bug fixes" in out and "- second (`" in out
    code, out, _ = cli(
        "changelog",
        "--product",
        "api",
        "--env",
        "production",
        "--repo",
        str(repo.path),
        "--format",
        "json",
    )
    assert code == 0 and json.loads(out)["commits"] == 2
    same = cli(
        "changelog", "--product", "api", "--env", "production", "--repo", str(repo.path), "--json"
    )
    assert same == (0, out, "")
    code, _, err = cli("changelog", "--product", "api", "--env", "production")
    assert code == 1 and "[repository]" in err and "[products.api]" in err
    (tmp_path / "work" / "shipmate.toml").write_text('[products.api]\nrepository = "../checkout"\n')
    code, out, _ = cli(
        "changelog", "--product", "api", "--env", "production", "--from", "1.0.0", "--to", "1.1.0"
    )
    assert code == 0 and "### Documentation" in out
    code, _, err = cli("changelog", "--product", "api", "--env", "production", "--from", "nope")
    assert code == 1 and "[from]" in err
    code, _, err = cli("changelog", "--env", "production")
    assert code == 2 and "[product]" in err


@pytest.fixture
def remote(
    ctx: Context,
    repo: GitRepo,
    monkeypatch: pytest.MonkeyPatch,
    cli: Run,
) -> Iterator[Run]:
    token = create_key(ctx, "ci", "read").token
    local = with_repository(ctx, "api", repo.path)
    app = create_app(local.settings, ctx=local, server=ServerSettings())
    with LiveServer(app) as server:
        monkeypatch.setenv("SHIPMATE_URL", server.url)
        monkeypatch.setenv("SHIPMATE_TOKEN", token)
        monkeypatch.delenv("SHIPMATE_DATABASE_URL")
        monkeypatch.setenv("SHIPMATE_RETRY_SECONDS", "0")
        yield cli


def test_remote_mode_uses_the_api(remote: Run, repo: GitRepo, ctx: Context) -> None:
    code, out, err = remote("changelog", "--product", "api", "--env", "production")
    assert (code, err) == (0, "")  # the server reads its configured repository
    assert out.startswith("## api 1.0.0 → 1.1.0")
    # with --repo the server gives the two ends and this machine reads git
    code, out, _ = remote(
        "changelog",
        "--product",
        "api",
        "--env",
        "production",
        "--repo",
        str(repo.path),
        "--format",
        "json",
    )
    assert code == 0 and json.loads(out)["commits"] == 2
    code, out, _ = remote(
        "dora",
        "--product",
        "api",
        "--since",
        format_time(T0) or "",
        "--until",
        format_time(T0 + timedelta(days=2)) or "",
        "--json",
    )
    assert code == 0 and json.loads(out)["deployment_frequency"]["deployments"] == 2
    code, _, err = remote("dora", "--repo", str(repo.path))
    assert code == 2 and "[repo]" in err
    code, _, err = remote("changelog", "--product", "api", "--env", "production", "--to", "zzz")
    assert code == 1 and "[to]" in err
