"""``shipmate deploy`` and ``rollback`` in remote mode, as real processes against a real
server, with SQLAlchemy refused in the CLI.  The server creates the run; an
in-process stand-in for the host's agent (tests/runs/remote_world.py) claims it and
drives it on the same database; the CLI follows it to its end."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
from sqlalchemy import select

from shipmate.config import Settings
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context, open_context
from shipmate.services.deploys.deploy import RunOutcome
from shipmate.services.runs.driver import DriveResult
from shipmate.services.runs.remote import RemoteRunRequest, create_remote_run
from shipmate.store.schema_runs import runs
from tests.cli.remote_world import _database
from tests.cli.test_remote_without_database import _shipmate
from tests.conftest import _LEAKY_NAMES, _LEAKY_PREFIXES
from tests.runs.conftest import fake_table, make_fakes
from tests.runs.remote_world import drive_as_agent, register_host, with_deploy_table
from tests.support.server import ServerProcess

TABLE = fake_table(hosts=["web-1"])


@dataclass
class Site:
    ctx: Context
    server_url: str
    token: str
    work: Path
    tmp: Path

    def env(self) -> dict[str, str]:
        return {
            "SHIPMATE_URL": self.server_url,
            "SHIPMATE_TOKEN": self.token,
            "SHIPMATE_RETRY_SECONDS": "5",
        }


def _toml(table: dict[str, Any]) -> str:
    lines = ["[products.api.deploy]"]
    nested = {k: v for k, v in table.items() if isinstance(v, dict)}
    for key, value in table.items():
        if key not in nested:
            lines.append(f"{key} = {json.dumps(value)}")
    for key, value in nested.items():
        lines.append(f"[products.api.deploy.{key}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in value.items())
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("remote-runs")
    work = folder / "elsewhere"
    work.mkdir()
    url = _database(request.param, request, folder)
    config = folder / "server.toml"
    config.write_text(_toml(TABLE), encoding="utf-8")
    ctx = open_context(Settings(database_url=url, data_dir=str(folder / "data")))
    with_deploy_table(ctx, TABLE)
    register_host(ctx, "web-1", {"role": "web"})
    token = create_key(ctx, "ci", "write").token
    try:
        with ServerProcess(url, config_file=config, log_path=folder / "server.log") as server:
            yield Site(ctx, server.base_url, token, work, folder)
    finally:
        ctx.close()


def _clean_env() -> None:
    for name in list(os.environ):
        if name.startswith(_LEAKY_PREFIXES) or name in _LEAKY_NAMES:
            del os.environ[name]


def _waiting_run(ctx: Context, environment: str, timeout: float = 60.0) -> int:
    """The id of the run the server created for web-1 in ``environment`` (polled)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with ctx.read() as conn:
            found = conn.execute(
                select(runs.c.id).where(
                    runs.c.environment == environment,
                    runs.c.host == "web-1",
                    runs.c.status == "running",
                    runs.c.owner.is_(None),
                )
            ).scalar()
        if found is not None:
            return int(found)
        time.sleep(0.05)
    raise AssertionError(f"no run for web-1 in {environment} appeared")


def _run_cli(
    site: Site, argv: tuple[str, ...], environment: str, health: dict[str, list[bool]]
) -> tuple[CompletedProcess[str], DriveResult]:
    """Run the CLI; drive the run it makes the server create, as the agent would."""
    _clean_env()
    done: list[CompletedProcess[str]] = []
    cli = threading.Thread(
        target=lambda: done.append(_shipmate("sqlalchemy,alembic", argv, site.env(), site.work))
    )
    cli.start()
    try:
        run_id = _waiting_run(site.ctx, environment)
        fakes = make_fakes(site.tmp / environment, health=health)
        result = drive_as_agent(site.ctx, run_id, fakes.parts)
    finally:
        cli.join(timeout=180)
    assert done, "the CLI did not finish"
    return done[0], result


def test_deploy_follows_the_agent_run_to_its_end(site: Site) -> None:
    argv = ("deploy", "--product", "api", "--env", "production", "--version", "2.0.0")
    done, result = _run_cli(site, argv, "production", {})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith(f"Deploying api 2.0.0 in production (run {result.run.id})\n")
    assert "waiting for the agent on web-1" in out
    assert "record the deploy of 2.0.0 to production as started (gates are checked): ok" in out
    assert "switch traffic to slot" in out
    assert "deployed api 2.0.0 in production on web-1: 2.0.0 serves traffic in slot" in out
    assert f"(run {result.run.id}, deployment {result.run.deployment_id})" in out
    # Every step the agent ran was shown once as started and once as finished.
    for step in result.run.steps:
        assert out.count(f"[{step.seq}] {step.title} ...") == 1, step.title
        assert out.count(f"[{step.seq}] {step.title}: ok") == 1, step.title


def test_a_failed_health_check_exits_like_a_local_run(site: Site) -> None:
    argv = ("deploy", "--product", "api", "--env", "staging", "--version", "3.0.0")
    done, result = _run_cli(site, argv, "staging", {"3.0.0": [False]})
    local = RunOutcome(result.run, result.end).error()
    assert local is not None
    assert done.returncode == local.exit_code, done.stderr
    assert "health check 3.0.0 in slot blue: FAILED" in done.stdout
    assert local.message in done.stderr


def _deployed_twice(site: Site, environment: str) -> Any:
    """1.0.0 then 2.0.0 deployed in ``environment`` (each test its own: tests of this
    module may run in any order, on different workers); the fakes that serve them."""
    fakes = make_fakes(site.tmp / environment)
    for version in ("1.0.0", "2.0.0"):
        made = create_remote_run(
            site.ctx, RemoteRunRequest("deploy", "api", environment, version=version)
        )
        assert made.run is not None
        assert drive_as_agent(site.ctx, made.run.id, fakes.parts).end is not None
    return fakes


def test_rollback_yes_from_another_directory(site: Site) -> None:
    _deployed_twice(site, "qa")
    argv = ("rollback", "--product", "api", "--env", "qa", "--yes")
    done, result = _run_cli(site, argv, "qa", {})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "api in qa: recent deployments" in out
    assert "Roll back from 2.0.0 to 1.0.0 (the previous completed version)" in out
    assert f"Rolling back api to 1.0.0 in qa (run {result.run.id})" in out
    assert "rolled back to api 1.0.0 in qa on web-1" in out
    assert result.run.kind == "rollback" and result.run.status == "completed"


def test_without_yes_and_a_terminal_nothing_is_rolled_back(site: Site) -> None:
    _deployed_twice(site, "qa-asked")
    _clean_env()
    argv = ("rollback", "--product", "api", "--env", "qa-asked", "--to", "1.0.0")
    done = _shipmate("sqlalchemy,alembic", argv, site.env(), site.work)
    assert done.returncode == 2 and "pass --yes" in done.stderr
    with site.ctx.read() as conn:
        waiting = conn.execute(
            select(runs.c.id).where(runs.c.status == "running", runs.c.environment == "qa-asked")
        ).all()
    assert waiting == []


def test_resume_refuses_with_guidance(site: Site) -> None:
    _clean_env()
    done = _shipmate("sqlalchemy,alembic", ("runs", "resume"), site.env(), site.work)
    assert done.returncode == 2 and "agent" in done.stderr and "runs abort" in done.stderr


def test_a_run_no_agent_took_shows_as_waiting_and_can_be_aborted(site: Site) -> None:
    made = create_remote_run(site.ctx, RemoteRunRequest("deploy", "api", "dev", version="1.0.0"))
    assert made.run is not None
    _clean_env()
    shown = _shipmate("sqlalchemy,alembic", ("runs", "list"), site.env(), site.work)
    assert shown.returncode == 0, shown.stderr
    line = next(x for x in shown.stdout.splitlines() if x.startswith(f"{made.run.id} "))
    assert " waiting " in line
    one = _shipmate("sqlalchemy,alembic", ("runs", "show", str(made.run.id)), site.env(), site.work)
    assert "status:      waiting" in one.stdout and "runs resume" not in one.stdout
    aborted = _shipmate(
        "sqlalchemy,alembic", ("runs", "abort", str(made.run.id)), site.env(), site.work
    )
    assert aborted.returncode == 0, aborted.stderr
    with site.ctx.read() as conn:
        status = conn.execute(select(runs.c.status).where(runs.c.id == made.run.id)).scalar()
    assert status == "aborted"


def test_runs_hosts_and_versions_read_the_server(site: Site) -> None:
    fakes = _deployed_twice(site, "qa-read")
    back = create_remote_run(site.ctx, RemoteRunRequest("rollback", "api", "qa-read"))
    assert back.run is not None
    assert drive_as_agent(site.ctx, back.run.id, fakes.parts).end is not None
    _clean_env()
    with site.ctx.read() as conn:
        first = conn.execute(
            select(runs.c.id).where(runs.c.environment == "qa-read").order_by(runs.c.id).limit(1)
        ).scalar_one()
    for argv, words in (
        (("runs", "list", "--product", "api", "--env", "qa-read"), "rollback"),
        (("runs", "show", str(first)), f"Run {first}: deploy of api"),
        (("hosts",), "web-1"),
        (("versions", "--product", "api"), "qa-read"),
    ):
        done = _shipmate("sqlalchemy,alembic", argv, site.env(), site.work)
        assert done.returncode == 0, (argv, done.stderr)
        assert words in done.stdout, (argv, done.stdout)
