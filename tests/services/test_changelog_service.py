"""Changelogs between deployed commits, against a throwaway git repository built here."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipmate.config import Settings
from shipmate.demo.clock import FakeClock
from shipmate.domain.requests import RecordRequest
from shipmate.errors import ConfigError, InvalidInputError, NotFoundError
from shipmate.services.changelog.assembly import changelog, deployment_changelog, read_changelog
from shipmate.services.changelog.commit_range import ChangelogRange, changelog_range
from shipmate.services.changelog.repository import repository_for
from shipmate.services.context import Context
from shipmate.services.records.deployments import record_deployment
from tests.conftest import require_real_part

T0 = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


class GitRepo:
    """A throwaway repository whose commits have the times the test gives them."""

    def __init__(self, path: Path) -> None:
        if shutil.which("git") is None:
            require_real_part("git", "git is not installed (apt-get install git)")
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, when: datetime | None = None) -> str:
        env = {
            **os.environ,
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Ada Lovelace",
            "GIT_AUTHOR_EMAIL": "ada@example.com",
            "GIT_COMMITTER_NAME": "Ada Lovelace",
            "GIT_COMMITTER_EMAIL": "ada@example.com",
        }
        if when is not None:
            stamp = when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = stamp
        out = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True
        )
        return out.stdout.strip()

    def commit(self, subject: str, when: datetime, body: str = "") -> str:
        args = ["commit", "-q", "--allow-empty", "-m", subject]
        if body:
            args += ["-m", body]
        self.git(*args, when=when)
        return self.git("rev-parse", "HEAD")


def deploy(
    ctx: Context,
    clock: FakeClock,
    *,
    version: str,
    commit: str | None,
    at: datetime,
    status: str = "completed",
    product: str = "api",
    environment: str = "production",
    kind: str = "deploy",
    reverts_id: int | None = None,
    commit_time: datetime | None = None,
) -> int:
    clock.set(at)
    dep = record_deployment(
        ctx,
        RecordRequest(
            product=product,
            environment=environment,
            version=version,
            status=status,
            commit_sha=commit,
            commit_time=commit_time,
            kind=kind,
            reverts_id=reverts_id,
            started_at=at - timedelta(minutes=5),
            completed_at=at,
        ),
    )
    return dep.id


def with_repository(ctx: Context, product: str, path: Path | str) -> Context:
    sections = {"products": {product: {"repository": str(path)}}}
    return Context(
        settings=replace(ctx.settings, sections=sections), engine=ctx.engine, clock=ctx.clock
    )


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "checkout")


@pytest.fixture
def story(ctx: Context, clock: FakeClock, repo: GitRepo) -> dict[str, object]:
    """1.0.0 then 1.1.0 in production, with five commits between them."""
    c = [repo.commit("chore: initial import", T0)]
    c.append(repo.commit("feat(api): list orders", T0 + timedelta(hours=1)))
    c.append(
        repo.commit(
            "fix: refuse negative totals",
            T0 + timedelta(hours=2),
            body="Totals below zero were stored.\n\nBREAKING CHANGE: totals are now checked",
        )
    )
    c.append(repo.commit("docs: explain paging", T0 + timedelta(hours=3)))
    c.append(repo.commit("Merge-free tidy up", T0 + timedelta(hours=4)))
    c.append(repo.commit("feat!: drop v0 endpoints", T0 + timedelta(hours=5)))
    first = deploy(ctx, clock, version="1.0.0", commit=c[0], at=T0 + timedelta(hours=1))
    second = deploy(ctx, clock, version="1.1.0", commit=c[5], at=T0 + timedelta(hours=6))
    return {"commits": c, "first": first, "second": second}


def test_default_range_is_previous_to_current_deployment(
    ctx: Context, repo: GitRepo, story: dict[str, object]
) -> None:
    rng = changelog_range(ctx, "api", "production")
    assert rng.start is not None
    assert (rng.start.full_version, rng.end.full_version) == ("1.0.0", "1.1.0")
    assert (rng.start.deployment_id, rng.end.deployment_id) == (story["first"], story["second"])

    log = changelog(with_repository(ctx, "api", repo.path), "api", "production")
    assert log.title == "api 1.0.0 → 1.1.0"
    assert log.commits == 5  # c1..c5, not the initial commit
    assert log.direction == "forward" and not log.truncated
    assert [g.type for g in log.groups] == ["feat", "fix", "docs", "other"]
    feats = [e.description for e in log.groups[0].entries]
    assert feats == ["drop v0 endpoints", "list orders"]  # newest first
    body = log.to_dict()
    assert body["breaking"] == 2 and body["commits"] == 5
    assert body["from"]["full_version"] == "1.0.0" and body["to"]["deployment_id"] == str(
        story["second"]
    )
    markdown = log.markdown()
    assert markdown.startswith("## api 1.0.0 → 1.1.0")
    assert "### Breaking changes" in markdown
    assert "- totals are now checked" in markdown
    assert "- **api:** list orders" in markdown


def test_explicit_versions_and_commits(
    ctx: Context, repo: GitRepo, story: dict[str, object]
) -> None:
    commits = story["commits"]
    assert isinstance(commits, list)
    local = with_repository(ctx, "api", repo.path)
    by_commit = changelog(local, "api", None, from_ref=commits[2], to_ref=commits[4])
    assert [e.commit.sha for g in by_commit.groups for e in g.entries] == [commits[3], commits[4]]
    mixed = changelog(local, "api", "production", from_ref="1.0.0", to_ref=commits[1][:10])
    assert mixed.commits == 1 and mixed.range.start is not None
    assert mixed.range.start.version == "1.0.0"
    # a tag is a git revision too
    repo.git("tag", "v9", commits[3])
    tagged = changelog(local, "api", None, from_ref="v9", to_ref="1.1.0")
    assert tagged.commits == 2


def test_to_alone_previews_against_the_current_deployment(
    ctx: Context, repo: GitRepo, story: dict[str, object]
) -> None:
    newer = repo.commit("perf: cache totals", T0 + timedelta(hours=7))
    log = changelog(with_repository(ctx, "api", repo.path), "api", "production", to_ref=newer)
    assert log.range.start is not None and log.range.start.full_version == "1.1.0"
    assert [g.type for g in log.groups] == ["perf"]


def test_deployment_changelog_and_rollback_direction(
    ctx: Context, clock: FakeClock, repo: GitRepo, story: dict[str, object]
) -> None:
    commits = story["commits"]
    assert isinstance(commits, list)
    local = with_repository(ctx, "api", repo.path)
    second = story["second"]
    assert isinstance(second, int)
    shipped = deployment_changelog(local, second)
    assert shipped.commits == 5
    back = deploy(
        ctx,
        clock,
        version="1.0.0",
        commit=commits[0],
        at=T0 + timedelta(hours=8),
        kind="rollback",
        reverts_id=second,
    )
    undone = deployment_changelog(local, back)
    assert undone.direction == "backward" and undone.commits == 5
    assert undone.title == "api 1.1.0 → 1.0.0 (rolls back)"
    assert "taken away" in undone.markdown()
    first = story["first"]
    assert isinstance(first, int)
    with pytest.raises(NotFoundError) as err:
        deployment_changelog(local, first)
    assert err.value.field == "from"


def test_clear_errors(
    ctx: Context, clock: FakeClock, repo: GitRepo, story: dict[str, object], tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError) as err:
        changelog(ctx, "api", "production")
    assert err.value.field == "repository" and "[products.api]" in err.value.message
    local = with_repository(ctx, "api", repo.path)
    with pytest.raises(NotFoundError) as err:
        changelog(local, "api", "production", from_ref="no-such-thing")
    assert err.value.field == "from" and "no-such-thing" in err.value.message
    with pytest.raises(NotFoundError) as err:
        changelog(local, "api", "production", to_ref="0" * 40)
    assert err.value.field == "to"
    # a deployed commit the repository does not have
    deploy(ctx, clock, version="1.2.0", commit="f" * 40, at=T0 + timedelta(hours=9))
    with pytest.raises(NotFoundError) as err:
        changelog(local, "api", "production")
    assert err.value.field == "to" and "f" * 40 in err.value.message
    assert "1.2.0" in err.value.message
    with pytest.raises(NotFoundError) as err:
        changelog(local, "nope", "production")
    assert err.value.field == "product"
    with pytest.raises(NotFoundError) as err:
        changelog(local, "api", "mars")
    assert err.value.field == "environment"
    with pytest.raises(InvalidInputError) as bad:
        changelog(local, "api", None)
    assert bad.value.field == "environment"
    with pytest.raises(InvalidInputError) as bad:
        changelog(local, "api", "production", from_ref="--output=/tmp/x")
    assert bad.value.field == "from"
    with pytest.raises(NotFoundError) as err:
        changelog_range(ctx, "api", "staging")
    assert err.value.field == "environment"


def test_deployment_without_commit(ctx: Context, clock: FakeClock, repo: GitRepo) -> None:
    deploy(ctx, clock, version="3.0.0", commit=None, at=T0)
    with pytest.raises(NotFoundError) as err:
        changelog(with_repository(ctx, "api", repo.path), "api", "production")
    assert err.value.field == "to" and "recorded no commit" in err.value.message


def test_repository_settings(tmp_path: Path, repo: GitRepo) -> None:
    config = tmp_path / "shipmate.toml"
    relative = Settings(
        config_file=str(config), sections={"products": {"api": {"repository": "checkout"}}}
    )
    found = repository_for(relative, "api")
    assert found is not None and found.path == repo.path.resolve()
    assert repository_for(relative, "web") is None
    assert repository_for(Settings(), "api") is None
    override = repository_for(Settings(), "api", repo=str(repo.path))
    assert override is not None and override.path == repo.path.resolve()
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ConfigError) as cfg:
        repository_for(Settings(sections={"products": {"api": {"repository": str(plain)}}}), "api")
    assert cfg.value.field == "products.api.repository"
    with pytest.raises(ConfigError) as cfg:
        repository_for(Settings(sections={"products": {"api": {"repository": 7}}}), "api")
    assert cfg.value.field == "products.api.repository"
    with pytest.raises(InvalidInputError) as bad:
        repository_for(Settings(), "api", repo=str(tmp_path / "missing"))
    assert bad.value.field == "repo"


def test_range_round_trips_through_json(
    ctx: Context, repo: GitRepo, story: dict[str, object]
) -> None:
    rng = changelog_range(ctx, "api", "production")
    again = ChangelogRange.from_dict(rng.to_dict())
    assert again == rng
    local = repository_for(Settings(), "api", repo=str(repo.path))
    assert local is not None
    assert read_changelog(again, local).commits == 5


def test_truncation(ctx: Context, repo: GitRepo, story: dict[str, object]) -> None:
    local = repository_for(Settings(), "api", repo=str(repo.path))
    assert local is not None
    log = read_changelog(changelog_range(ctx, "api", "production"), local, limit=3)
    assert log.commits == 3 and log.truncated
    assert "Only the newest" in log.markdown()
