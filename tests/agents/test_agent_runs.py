"""A real ``shipmate agent`` executes runs a real ``shipmate serve`` hands it, and survives kills.

Real parts only: the server on SQLite and PostgreSQL, agents as processes with no
database (the server's URL and an agent key), the sample app in two slots and a
private nginx on 127.0.0.2.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipmate.demo.nginx import find_nginx
from shipmate.domain.requests import HistoryFilter
from shipmate.services.context import Context
from shipmate.services.queries import history
from tests.agents.harness import AgentWorld
from tests.conftest import require_real_part
from tests.runs.test_kills import FLOW

pytestmark = pytest.mark.slow


@pytest.fixture
def world(real_ctx: Context, tmp_path: Path) -> Iterator[AgentWorld]:
    if find_nginx() is None:
        require_real_part("nginx", "nginx is not installed (apt-get install nginx-light)")
    opened = AgentWorld.open(tmp_path, real_ctx)
    try:
        yield opened
    finally:
        opened.close()


def _records(world: AgentWorld) -> list[tuple[str, str, str | None]]:
    page = history(world.ctx, HistoryFilter(product="api"), limit=100)
    return [(d.full_version, d.status, d.metadata.get("run_id")) for d in reversed(page.items)]


def _steps(world: AgentWorld, run_id: int) -> list[tuple[str, str, int]]:
    return [(s.name, s.status, s.attempts) for s in world.run(run_id).steps]


def test_an_agent_claims_and_completes_deploys(world: AgentWorld) -> None:
    server = world.start_server()
    first = world.create_run("1.0.0")
    assert world.start_agent(server).wait() == 0
    done = world.run(first.id)
    assert (done.status, done.owner, done.error) == ("completed", None, None)
    assert [(n, s) for n, s, _ in _steps(world, first.id)] == [
        (name, "completed") for name in FLOW if name not in ("keep_warm", "retire")
    ]
    assert world.served() == "1.0.0"

    second = world.create_run("2.0.0")
    assert world.start_agent(server).wait() == 0
    assert world.run(second.id).status == "completed"
    assert [n for n, _, _ in _steps(world, second.id)] == list(FLOW)
    assert world.served() == "2.0.0"
    assert _records(world) == [
        ("1.0.0", "completed", str(first.id)),
        ("2.0.0", "completed", str(second.id)),
    ]


@pytest.mark.parametrize("moment", ["after", "during"])
def test_an_agent_killed_at_a_step_is_restarted_and_the_run_finishes_once(
    world: AgentWorld, moment: str
) -> None:
    server = world.start_server()
    first = world.create_run("1.0.0")
    assert world.start_agent(server).wait() == 0
    step = random.choice(FLOW)
    print(f"killing the agent {moment} {step}")
    run = world.create_run("2.0.0")
    killed = world.start_agent(server, env={"SHIPMATE_TEST_CRASH": f"{moment}:{step}"})
    assert killed.wait() == -signal.SIGKILL, killed.text()
    assert world.run(run.id).running
    # The same agent (same data dir: same instance) comes back and takes its run at once.
    again = world.start_agent(server)
    assert again.wait() == 0, again.text()
    final = world.run(run.id)
    assert final.status == "completed", final.error
    attempts = {name: n for name, _, n in _steps(world, run.id)}
    expected = {name: 1 for name in FLOW}
    if moment == "during":
        expected[step] = 2  # it acted, it was not journaled: it runs again (idempotent)
    assert attempts == expected
    assert world.served() == "2.0.0"
    records = _records(world)
    assert records == [
        ("1.0.0", "completed", str(first.id)),
        ("2.0.0", "completed", str(run.id)),
    ]
    assert Counter(r[2] for r in records) == {str(first.id): 1, str(run.id): 1}


def test_the_server_killed_mid_run_restarts_and_the_agent_carries_on(
    real_ctx: Context, tmp_path: Path
) -> None:
    if find_nginx() is None:
        require_real_part("nginx", "nginx is not installed (apt-get install nginx-light)")
    world = AgentWorld.open(tmp_path, real_ctx, keep_warm=4.0)
    try:
        server = world.start_server()
        first = world.create_run("1.0.0")
        assert world.start_agent(server).wait() == 0
        run = world.create_run("2.0.0")
        agent = world.start_agent(server)
        world.wait_for(run.id, "keep_warm")
        assert server.proc is not None
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
        # The agent finishes keep_warm with no server to tell: it retries, and says so.
        deadline = time.monotonic() + 60
        while "unreachable" not in agent.text():
            assert agent.popen.poll() is None, agent.text()
            assert time.monotonic() < deadline, agent.text()
            time.sleep(0.1)
        world.start_server(port=server.port)  # the same address, a new process
        assert agent.wait() == 0, agent.text()
        final = world.run(run.id)
        assert final.status == "completed", final.error
        assert {n: a for n, _, a in _steps(world, run.id)} == {name: 1 for name in FLOW}
        assert "reachable again" in agent.text()
        assert world.served() == "2.0.0"
        assert [r[2] for r in _records(world)] == [str(first.id), str(run.id)]
    finally:
        world.close()


def test_sigterm_stops_the_run_at_a_step_boundary_and_releases_it(
    real_ctx: Context, tmp_path: Path
) -> None:
    if find_nginx() is None:
        require_real_part("nginx", "nginx is not installed (apt-get install nginx-light)")
    world = AgentWorld.open(tmp_path, real_ctx, keep_warm=60.0)
    try:
        server = world.start_server()
        first = world.create_run("1.0.0", table=world.table(keep_warm=0.3))
        assert world.start_agent(server).wait() == 0
        run = world.create_run("2.0.0")
        agent = world.start_agent(server, once=False)
        world.wait_for(run.id, "keep_warm")
        agent.popen.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=60) == 0, agent.text()
        stopped = world.run(run.id)
        assert (stopped.status, stopped.owner) == ("running", None)  # released, resumable
        assert [s.status for s in stopped.steps if s.name == "keep_warm"] == ["running"]
        # Restarted, it takes the run back at once (its bake goes on: the run keeps
        # its plan); it is killed once it has, to keep the test short.
        again = world.start_agent(server)
        deadline = time.monotonic() + 60
        while world.run(run.id).owner is None:
            assert again.popen.poll() is None, again.text()
            assert time.monotonic() < deadline, again.text()
            time.sleep(0.05)
        again.kill()
        assert [r[2] for r in _records(world)] == [str(first.id), str(run.id)]
    finally:
        world.close()
