"""Two servers on one PostgreSQL, four agents for two hosts: each run is claimed once.

Real ``shipmate serve`` and ``shipmate agent`` processes; the agents of each host
talk to different servers.  The runs deploy an app that exits at once, so each
ends ``failed`` at its start step after a few steps: what matters is that every
run was claimed and driven by exactly one agent of its own host.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import pytest

from shipmate.config import Settings
from shipmate.demo.deploytable import exiting_app_table
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.runs.journal import get_run
from shipmate.store.engine import make_engine
from tests.agents.harness import AgentWorld
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow

RUNS_PER_HOST = 6
HOSTS = ("web-1", "web-2")


def test_each_run_is_claimed_by_exactly_one_agent(pg_url: str, tmp_path: Path) -> None:
    ctx = Context(settings=Settings(database_url=pg_url), engine=make_engine(pg_url))
    servers = [
        ServerProcess(pg_url, log_path=tmp_path / f"server{i}.log").start() for i in range(2)
    ]
    world = AgentWorld(tmp_path, ctx, nginx=None)  # type: ignore[arg-type]
    try:
        tokens = {h: create_key(ctx, f"agent-{h}", "agent", host=h).token for h in HOSTS}
        runs = {
            host: [
                world.create_run(
                    "1.0.0", env=f"{host}-e{i}", host=host, table=exiting_app_table(18301, 18302)
                ).id
                for i in range(RUNS_PER_HOST)
            ]
            for host in HOSTS
        }
        agents = {
            (host, i): world.start_agent(
                servers[i], once=False, name=f"{host}-{i}", host=host, token=tokens[host]
            )
            for host in HOSTS
            for i in range(2)
        }
        every = [run_id for ids in runs.values() for run_id in ids]
        deadline = time.monotonic() + 240
        while any(get_run(ctx, run_id).running for run_id in every):
            assert time.monotonic() < deadline, "the runs did not all end"
            for proc in agents.values():
                assert proc.popen.poll() is None, proc.text()
            time.sleep(0.2)
        driven: Counter[int] = Counter()
        for (host, _), proc in agents.items():
            for found in re.findall(r"run (\d+): deploy of", proc.text()):
                assert int(found) in runs[host], f"an agent of {host} drove run {found}"
                driven[int(found)] += 1
        assert driven == {run_id: 1 for run_id in every}
        for run_id in every:
            run = get_run(ctx, run_id)
            assert run.status == "failed" and run.attempts == 1, run
            assert all(step.attempts == 1 for step in run.steps), run.steps
    finally:
        for proc in world.agents:
            proc.kill()
        for server in servers:
            server.stop()
        ctx.close()
