"""The whole remote path with a real agent: a CI job or an on-call engineer with only a
URL and a key runs ``shipmate deploy`` and ``shipmate rollback --yes`` from a directory
with no configuration; the server creates the run, the host's ``shipmate agent`` (a
real process with no database) claims and executes it against its private nginx on
127.0.0.2, and the CLI follows it live to its end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipmate.demo.deploytable import toml_table
from shipmate.demo.nginx import find_nginx
from shipmate.domain.requests import HistoryFilter
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.queries import history
from shipmate.store.schema_agents import hosts
from tests.agents.harness import HOST, PRODUCT, AgentWorld
from tests.conftest import require_real_part

pytestmark = pytest.mark.slow

_ROOT = str(Path(__file__).resolve().parents[2])


@pytest.fixture
def world(real_ctx: Context, tmp_path: Path) -> Iterator[AgentWorld]:
    if find_nginx() is None:
        require_real_part("nginx", "nginx is not installed (apt-get install nginx-light)")
    opened = AgentWorld.open(tmp_path, real_ctx)
    try:
        yield opened
    finally:
        opened.close()


def _cli(world: AgentWorld, url: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    elsewhere = world.tmp / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPMATE_", "CI"))}
    env.update(SHIPMATE_URL=url, SHIPMATE_TOKEN=token, PYTHONPATH=_ROOT, NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "shipmate", *args],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _registered(world: AgentWorld, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with world.ctx.read() as conn:
            if conn.execute(hosts.select().where(hosts.c.name == HOST)).first() is not None:
                return
        time.sleep(0.05)
    raise AssertionError(f"the agent of {HOST} never said hello")


def test_remote_deploy_and_rollback_through_a_real_agent(world: AgentWorld) -> None:
    config = world.tmp / "server.toml"
    config.write_text(toml_table(f"products.{PRODUCT}.deploy", {**world.table(), "hosts": [HOST]}))
    server = world.start_server(config_file=config)
    token = create_key(world.ctx, "ci", "write").token
    world.start_agent(server, once=False)
    _registered(world)

    for version in ("1.0.0", "2.0.0"):
        done = _cli(
            world, server.base_url, token,
            "deploy", "--product", PRODUCT, "--env", "production", "--version", version,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "switch" in done.stdout and version in done.stdout
        assert world.served() == version

    rolled = _cli(
        world, server.base_url, token, "rollback", "--product", PRODUCT, "--env", "production",
        "--yes",
    )  # fmt: skip
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert world.served() == "1.0.0"
    page = history(world.ctx, HistoryFilter(product=PRODUCT), limit=10)
    kinds = [(d.full_version, d.kind, d.status) for d in reversed(page.items)]
    assert kinds[-1][:2] == ("1.0.0", "rollback"), kinds
    assert [k for k in kinds if k[1] == "deploy"] == [
        ("1.0.0", "deploy", "completed"),
        ("2.0.0", "deploy", "rolled_back"),
    ]
