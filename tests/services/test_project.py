"""Version lookup and local git metadata, against real files and a real git repository."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from shipmate.domain.ci import CiInfo
from shipmate.engine.git import GitOutcome, run_git
from shipmate.errors import InvalidInputError, NotFoundError
from shipmate.services import project
from shipmate.services.project import collect_ci_info, find_project_version, local_git_info
from tests.conftest import require_real_part

# Read at import, before the autouse fixture in conftest clears CI from the environment.
_IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_REAL_GIT = shutil.which("git")


@pytest.fixture
def git_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Real git, isolated from the machine's identity and config."""
    if _REAL_GIT is None:
        require_real_part("git", "not installed")
    for key in ("NAME", "EMAIL"):
        monkeypatch.setenv(f"GIT_AUTHOR_{key}", "Test Author" if key == "NAME" else "a@example.com")
        monkeypatch.setenv(
            f"GIT_COMMITTER_{key}", "Test Author" if key == "NAME" else "a@example.com"
        )
    empty_config = tmp_path / "empty.gitconfig"
    empty_config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty_config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip()


def commit(repo: Path, message: str) -> str:
    (repo / "log.txt").write_text((repo / "log.txt").read_text() + message + "\n")
    git(repo, "add", "log.txt")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(git_env: None, tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "log.txt").write_text("")
    commit(path, "first")
    return path


@pytest.fixture
def plain_dir(git_env: None, tmp_path: Path) -> Path:
    path = tmp_path / "plain"
    path.mkdir()
    return path


# --- find_project_version: each source --------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("pyproject.toml", '[project]\nname = "a"\nversion = "1.0.1"\n', "1.0.1"),
        ("pyproject.toml", '[tool.poetry]\nname = "a"\nversion = "1.0.2"\n', "1.0.2"),
        ("package.json", '{"name": "a", "version": "1.0.3"}\n', "1.0.3"),
        ("deno.json", '{\n  // bloqr\n  "version": "0.11.3",\n}\n', "0.11.3"),
        ("deno.jsonc", '{ /* c */ "version": "1.0.5" }\n', "1.0.5"),
        ("Cargo.toml", '[package]\nname = "a"\nversion = "1.0.6"\n', "1.0.6"),
        ("VERSION", "\n1.0.7\n", "1.0.7"),
    ],
)
def test_each_file_source(plain_dir: Path, name: str, content: str, expected: str) -> None:
    (plain_dir / name).write_text(content)
    assert find_project_version(plain_dir, [name]) == (expected, name)


def test_file_in_a_subdirectory(plain_dir: Path) -> None:
    (plain_dir / "web").mkdir()
    (plain_dir / "web" / "package.json").write_text('{"version": "4.5.6"}')
    assert find_project_version(plain_dir, ["web/package.json"]) == ("4.5.6", "web/package.json")


def test_git_source_uses_nearest_tag(repo: Path) -> None:
    git(repo, "tag", "v1.1.0")
    commit(repo, "second")
    git(repo, "tag", "-a", "v1.2.0", "-m", "release 1.2.0")
    commit(repo, "third")
    assert find_project_version(repo, ["git"]) == ("1.2.0", "git")


def test_git_source_tag_with_prefix(repo: Path) -> None:
    git(repo, "tag", "release-3.4.5")
    assert find_project_version(repo, ["git"]) == ("3.4.5", "git")


def test_git_describe_fallback(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When ``describe --abbrev=0`` fails, plain ``describe --tags`` is parsed instead."""
    git(repo, "tag", "v2.3.4")
    commit(repo, "after the tag")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "git"
    log = tmp_path / "git-calls.log"
    shim.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        'for a in "$@"; do\n'
        '  if [ "$a" = "--abbrev=0" ]; then echo "fatal: simulated failure" >&2; exit 128; fi\n'
        "done\n"
        f'exec "{_REAL_GIT}" "$@"\n'
    )
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert find_project_version(repo, ["git"]) == ("2.3.4", "git")
    # The folder is given to git as -C (it is started with posix_spawn, which has no cwd).
    assert log.read_text().splitlines() == [
        f"-C {repo} describe --tags --abbrev=0",
        f"-C {repo} describe --tags",
    ]


# --- find_project_version: order and failures -------------------------------------


def test_first_source_that_yields_wins(repo: Path) -> None:
    git(repo, "tag", "v9.0.0")
    (repo / "package.json").write_text('{"version": "2.0.0"}')
    (repo / "VERSION").write_text("3.0.0\n")
    assert find_project_version(repo, ["VERSION", "package.json", "git"]) == ("3.0.0", "VERSION")
    assert find_project_version(repo, ["package.json", "VERSION", "git"]) == (
        "2.0.0",
        "package.json",
    )
    assert find_project_version(repo, ["git", "VERSION"]) == ("9.0.0", "git")


def test_missing_files_and_files_without_version_are_skipped(repo: Path) -> None:
    git(repo, "tag", "v0.5.0")
    (repo / "pyproject.toml").write_text('[project]\nname = "a"\ndynamic = ["version"]\n')
    (repo / "package.json").write_text('{"name": "no-version"}')
    sources = ["pyproject.toml", "package.json", "Cargo.toml", "git"]
    assert find_project_version(repo, sources) == ("0.5.0", "git")


def test_not_found_lists_what_was_tried(plain_dir: Path) -> None:
    (plain_dir / "package.json").write_text('{"name": "x"}')
    with pytest.raises(NotFoundError) as err:
        find_project_version(plain_dir, ["VERSION", "package.json", "git"])
    exc = err.value
    assert exc.field == "version"
    tried = exc.details["tried"]
    assert tried[:2] == ["VERSION (not found)", "package.json (states no version)"]
    assert tried[2].startswith("git (not a git repository")  # git's own words follow
    assert len(tried) == 3
    assert "--version" in exc.message
    assert "VERSION (not found)" in exc.message


def test_not_found_in_repo_without_tags(repo: Path) -> None:
    with pytest.raises(NotFoundError) as err:
        find_project_version(repo, ["git"])
    assert err.value.details["tried"] == ["git (No names found, cannot describe anything.)"]


def test_tag_that_is_not_a_version(repo: Path) -> None:
    git(repo, "tag", "latest")
    with pytest.raises(NotFoundError) as err:
        find_project_version(repo, ["git"])
    assert err.value.details["tried"] == ["git (tag 'latest' holds no version)"]


def test_git_not_installed(
    plain_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_bin = tmp_path / "nobin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    with pytest.raises(NotFoundError) as err:
        find_project_version(plain_dir, ["git"])
    assert err.value.details["tried"] == ["git (git is not installed)"]
    assert local_git_info(plain_dir) == CiInfo()


def test_malformed_file_stops_the_search(plain_dir: Path) -> None:
    (plain_dir / "package.json").write_text('{"version": "1.0.0",')
    (plain_dir / "VERSION").write_text("2.0.0\n")
    with pytest.raises(InvalidInputError) as err:
        find_project_version(plain_dir, ["package.json", "VERSION"])
    assert err.value.field == "package.json"
    assert "not valid JSON" in err.value.message


def test_file_that_is_not_utf8(plain_dir: Path) -> None:
    (plain_dir / "VERSION").write_bytes(b"\xff\xfe1\x00.\x00")
    with pytest.raises(InvalidInputError) as err:
        find_project_version(plain_dir, ["VERSION"])
    assert err.value.field == "VERSION"
    assert "not UTF-8" in err.value.message


def test_unknown_source_is_refused_before_anything_is_read(plain_dir: Path) -> None:
    (plain_dir / "VERSION").write_text("1.0.0\n")
    with pytest.raises(InvalidInputError) as err:
        find_project_version(plain_dir, ["VERSION", "pom.xml"])
    assert err.value.field == "version_sources"
    assert "'pom.xml'" in err.value.message


# --- local_git_info ---------------------------------------------------------------


def test_local_git_info_reads_the_checkout(repo: Path) -> None:
    head = commit(repo, "second")
    git(repo, "config", "user.name", "Grace Hopper")
    git(repo, "remote", "add", "origin", "https://deployer:hunter2@git.example.com/team/app.git")
    assert local_git_info(repo) == CiInfo(
        platform=None,
        commit_sha=head,
        branch="main",
        actor="Grace Hopper",
        repository="https://git.example.com/team/app.git",
    )


def test_local_git_info_from_a_subdirectory_and_other_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature/x")
    git(repo, "remote", "add", "origin", "git@github.com:team/app.git")
    (repo / "src").mkdir()
    info = local_git_info(repo / "src")
    assert info.branch == "feature/x"
    assert info.repository == "git@github.com:team/app.git"
    assert info.actor is None  # no user.name anywhere: the global config is empty


def test_local_git_info_detached_head(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    commit(repo, "second")
    git(repo, "checkout", "-q", "--detach", first)
    info = local_git_info(repo)
    assert info.commit_sha == first
    assert info.branch is None


def test_local_git_info_unborn_branch(git_env: None, tmp_path: Path) -> None:
    path = tmp_path / "fresh"
    path.mkdir()
    git(path, "init", "-q", "-b", "trunk")
    assert local_git_info(path) == CiInfo(branch="trunk")


def test_local_git_info_outside_a_repository(plain_dir: Path, tmp_path: Path) -> None:
    assert local_git_info(plain_dir) == CiInfo()
    assert local_git_info(tmp_path / "does-not-exist") == CiInfo()


# --- collect_ci_info --------------------------------------------------------------


def test_collect_ci_info_ci_wins_and_git_fills_gaps(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://github.com/team/app.git")
    local_head = git(repo, "rev-parse", "HEAD")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SHA": "f" * 40,
        "GITHUB_REF": "refs/tags/v1.0.0",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_RUN_ID": "77",
        "USER": "runner",
    }
    info = collect_ci_info(env, repo)
    assert info.platform == "github-actions"
    assert info.commit_sha == "f" * 40 != local_head
    assert info.actor == "octocat"
    assert info.branch == "main"  # the tag build names no branch; the checkout does
    assert info.repository == "https://github.com/team/app.git"
    assert info.run_id == "77"


def test_collect_ci_info_actor_falls_back_to_user_then_logname(repo: Path) -> None:
    assert collect_ci_info({"USER": "alice", "LOGNAME": "bob"}, repo).actor == "alice"
    assert collect_ci_info({"USER": " ", "LOGNAME": "bob"}, repo).actor == "bob"
    assert collect_ci_info({}, repo).actor is None
    git(repo, "config", "user.name", "Repo User")
    assert collect_ci_info({"USER": "alice"}, repo).actor == "Repo User"


def test_collect_ci_info_without_ci_or_git(plain_dir: Path) -> None:
    assert collect_ci_info({"LOGNAME": "carol"}, plain_dir) == CiInfo(actor="carol")


# --- how many times git runs ------------------------------------------------------


class GitCalls:
    """The real ``run_git``, counting the calls the project module makes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.args: list[tuple[str, ...]] = []
        monkeypatch.setattr(project, "run_git", self)

    def __call__(self, *args: str, timeout: float, cwd: Path | None = None) -> GitOutcome:
        self.args.append(args)
        return run_git(*args, timeout=timeout, cwd=cwd)


def test_local_git_info_asks_git_twice(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git(repo, "config", "user.name", "Grace Hopper")
    git(repo, "remote", "add", "origin", "https://github.com/team/app.git")
    calls = GitCalls(monkeypatch)
    info = local_git_info(repo)
    assert (info.branch, info.actor) == ("main", "Grace Hopper")
    assert len(calls.args) == 2, calls.args


def test_local_git_info_outside_a_checkout_asks_git_once(
    plain_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = GitCalls(monkeypatch)
    assert local_git_info(plain_dir) == CiInfo()
    assert len(calls.args) == 1, calls.args


def test_the_origin_url_is_what_git_remote_get_url_says(repo: Path) -> None:
    """Its first URL, rewritten by the longest matching ``insteadOf``."""
    git(repo, "remote", "add", "origin", "gh:team/app.git")
    git(repo, "config", "--add", "remote.origin.url", "https://second.example.com/app.git")
    git(repo, "config", "url.https://github.com/.insteadOf", "gh:")
    git(repo, "config", "url.https://mirror.example.com/.insteadOf", "gh:team/")
    git(repo, "config", "user.name", "First")
    git(repo, "config", "--add", "user.name", "Last")
    info = local_git_info(repo)
    assert info.repository == git(repo, "remote", "get-url", "origin")
    assert info.repository == "https://mirror.example.com/app.git"
    assert info.actor == git(repo, "config", "user.name") == "Last"


def test_collect_ci_info_runs_no_git_when_ci_names_everything(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each field the checkout would give is named by the CI variables, which win."""
    calls = GitCalls(monkeypatch)
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SHA": "f" * 40,
        "GITHUB_REF": "refs/heads/release",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "team/app",
    }
    info = collect_ci_info(env, repo)
    assert (info.commit_sha, info.branch, info.actor) == ("f" * 40, "release", "octocat")
    assert info.repository is not None
    assert calls.args == []
    # One field left to the checkout, and git runs.
    del env["GITHUB_ACTOR"]
    assert collect_ci_info(env, repo).actor is None  # the repository has no user.name
    assert calls.args
