"""``record`` and ``version next`` in GitHub Actions (step outputs, job summary, error
annotations) and GitLab CI (the job's environment is the default ``--env``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_remote import remote, server  # noqa: F401 (fixtures)


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    files = {"output": tmp_path / "gh_output", "summary": tmp_path / "gh_summary"}
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(files["output"]))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(files["summary"]))
    monkeypatch.setenv("GITHUB_SHA", "3f2c9a1e8b7d")
    return files


def test_version_next_writes_outputs_and_a_summary(cli, github) -> None:  # type: ignore[no-untyped-def]
    assert cli("version", "next", "--product", "api", "--version", "v1.4.0")[:2] == (
        0,
        "1.4.0+build.1\n",
    )
    assert github["output"].read_text() == (
        "version=1.4.0\nbuild_number=1\nfull_version=1.4.0+build.1\n"
    )
    summary = github["summary"].read_text()
    assert summary.startswith("### shipmate\\: api 1\\.4\\.0\\+build\\.1 built\n")
    assert "| Commit | 3f2c9a1e8b7d |" in summary


def test_record_writes_the_deployment_id_and_a_summary_with_a_link(
    cli, github, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    Path("shipmate.toml").write_text('[notifications]\nbase_url = "https://ship.example.com/"\n')
    cli("version", "next", "--product", "api", "--version", "2.0.0")
    github["summary"].unlink()
    code, out, err = cli("record", "--env", "production", "--status", "started")
    assert (code, err) == (0, "")
    dep_id = out.split()[0]
    assert github["output"].read_text().splitlines()[-3:] == [
        f"deployment_id={dep_id}",
        "full_version=2.0.0+build.1",
        "status=started",
    ]
    summary = github["summary"].read_text()
    for row in (
        "| Product | api |",
        "| Version | 2\\.0\\.0\\+build\\.1 |",
        "| Environment | production |",
        "| Status | started |",
        "| Commit | 3f2c9a1e8b7d |",
        f"| Deployment | [\\#{dep_id}](https://ship.example.com/deployments/{dep_id}) |",
    ):
        assert row in summary


def test_without_a_server_url_the_summary_has_no_link(cli, github) -> None:  # type: ignore[no-untyped-def]
    cli("record", "--product", "api", "--env", "prod", "--status", "started", "--version", "1.0")
    assert "Deployment" not in github["summary"].read_text()


def test_a_hostile_commit_cannot_add_markup_to_the_summary(cli, github) -> None:  # type: ignore[no-untyped-def]
    hostile = "<img src=x>[pwn](https://evil.example)|x"
    code, _, err = cli(
        "record", "--product", "www.evil.example", "--env", "prod", "--status", "started",
        "--version", "1.0", "--commit", hostile,
    )  # fmt: skip
    assert code == 0, err
    summary = github["summary"].read_text()
    unescaped = summary.replace("\\<", "").replace("\\]\\(", "")
    assert "<img" not in unescaped and "](https://evil" not in unescaped
    assert "www.evil.example" not in summary  # no autolink: the dots are escaped
    assert "\\<img src\\=x\\>\\[pwn\\]\\(https\\:\\/\\/evil\\.example\\)\\|x" in summary


def test_a_failure_is_one_annotation_a_hostile_value_cannot_extend(cli, github) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(
        "record", "--product", "api", "--env", "prod", "--status", "started", "--version", "1.0",
        "--metadata-file", "none\n::warning::pwned 100%",
    )  # fmt: skip
    assert code == 2
    assert err.startswith("shipmate: error [metadata]: --metadata-file none\n::warning::pwned")
    assert out == (
        "::error title=shipmate::error [metadata]: --metadata-file "
        "none%0A::warning::pwned 100%25: No such file or directory\n"
    )
    assert not github["summary"].exists()


def test_no_annotation_outside_github_actions(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("record", "--product", "api", "--env", "bad env", "--status", "started")
    assert (code, out) == (2, "")


def test_gitlab_environment_is_the_default_env(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.setenv("CI_ENVIRONMENT_NAME", "review-42")
    code, out, err = cli(
        "record", "--product", "api", "--status", "started", "--version", "1.0", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["environment"] == "review-42"
    code, out, _ = cli(
        "record", "--product", "api", "--env", "staging", "--status", "started", "--version", "1.0"
    )
    assert out.split()[3] == "staging", "--env wins"


def test_without_env_outside_gitlab_the_error_names_the_flag(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CI_ENVIRONMENT_NAME", "review-42")  # not GitLab: ignored
    code, _, err = cli("record", "--product", "api", "--status", "started", "--version", "1.0")
    assert code == 2
    assert err.startswith("shipmate: error [env]: --env is required")


def test_without_a_base_url_the_link_goes_to_the_public_url(cli, github) -> None:  # type: ignore[no-untyped-def]
    Path("shipmate.toml").write_text('[server]\npublic_url = "https://deploy.example.com"\n')
    code, out, err = cli(
        "record", "--product", "api", "--env", "prod", "--status", "started", "--version", "1.0"
    )
    assert code == 0, err
    dep_id = out.split()[0]
    assert f"(https://deploy.example.com/deployments/{dep_id})" in github["summary"].read_text()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_in_remote_mode_the_link_goes_to_the_server_and_the_prefix_comes_off(  # type: ignore[no-untyped-def]
    remote,  # noqa: F811 (the fixture imported above)
    server,  # noqa: F811
    github,
) -> None:
    code, out, err = remote(
        "record", "--product", "api", "--env", "prod", "--status", "started", "--version", "v1.2.0"
    )
    assert code == 0, err
    dep_id, _, full_version = out.split()[:3]
    assert full_version == "1.2.0"
    assert f"({server.base_url}/deployments/{dep_id})" in github["summary"].read_text()
    assert f"deployment_id={dep_id}\n" in github["output"].read_text()
