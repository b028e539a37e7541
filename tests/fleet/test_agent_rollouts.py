"""Rollouts across three hosts with three real agents and one real server.

The fleet harness's hosts (127.0.0.2-4, each its own nginx and slots), a
``shipmate agent`` process per host, ``shipmate serve`` on SQLite or PostgreSQL.
The server coordinates: only the agents touch slots and nginx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipmate.demo.nginx import find_nginx
from shipmate.services.context import Context, utcnow
from shipmate.services.runs.journal import get_run
from tests.conftest import require_real_part
from tests.fleet.rollout_world import RolloutWorld
from tests.support.fleet import Fleet, FleetHost, Hammer

pytestmark = pytest.mark.slow


@pytest.fixture
def world(ctx: Context, fleet: Fleet, tmp_path: Path) -> Iterator[RolloutWorld]:
    ctx.clock = utcnow  # leases and keep-warm need real time
    if find_nginx() is None:
        require_real_part("nginx", "nginx is not installed (apt-get install nginx-light)")
    opened = RolloutWorld(tmp_path, ctx, fleet)
    try:
        yield opened.start()
    finally:
        opened.close()


def _settled(host: FleetHost, version: str) -> bool:
    return all(host.served() == version for _ in range(5))


def test_a_rolling_deploy_moves_every_host_with_zero_failed_requests(world: RolloutWorld) -> None:
    world.configure(strategy="all")
    first = world.rollout("deploy", "1.0.0")
    assert (first.status, first.error) == ("completed", None), world.logs()
    for host in world.fleet:
        assert _settled(host, "1.0.0"), host.name

    world.configure(strategy="rolling")
    with Hammer(world.fleet) as hammer:
        second = world.rollout("deploy", "2.0.0")
        assert (second.status, second.error) == ("completed", None), world.logs()
        for host in world.fleet:
            assert _settled(host, "2.0.0"), host.name
    assert hammer.failures() == {h.name: [] for h in world.fleet}, hammer.closed
    seen = hammer.versions_seen()
    for host in world.fleet:
        assert seen[host.name][0] == "1.0.0" and seen[host.name][-1] == "2.0.0"
    rollout = second.params["rollout"]
    assert rollout["verdicts"] == {"web-1": "continue", "web-2": "continue", "web-3": "continue"}
    assert rollout["states"] == {"web-1": "finished", "web-2": "finished", "web-3": "finished"}
    assert {h: c.status for h, c in world.children(second).items()} == {
        "web-1": "completed",
        "web-2": "completed",
        "web-3": "completed",
    }
    # One deployment record per rollout, each completed.
    assert world.records() == [
        ("1.0.0", "completed", "deploy"),
        ("2.0.0", "completed", "deploy"),
    ]
    assert second.deployment_id is not None


def test_a_version_failing_on_the_second_host_stops_and_switches_the_first_back(
    world: RolloutWorld,
) -> None:
    world.configure(strategy="all")
    assert world.rollout("deploy", "1.0.0").status == "completed", world.logs()
    unhealthy = {
        "web-2": {
            "target": {**world.fleet["web-2"].deploy_table()["target"]},
            "health": {
                "type": "http",
                "url": "http://127.0.0.1:{port}/healthz",
                "attempts": 3,
                "interval": 0.1,
            },
        }
    }
    unhealthy["web-2"]["target"]["env"] = {
        **unhealthy["web-2"]["target"]["env"],
        "DEMOAPP_UNHEALTHY": "1",
    }
    world.configure(strategy="rolling", overrides=unhealthy)
    with Hammer(world.fleet) as hammer:
        run = world.rollout("deploy", "2.0.0")
    assert run.status == "failed", world.logs()
    assert run.error is not None and run.error.startswith("failed on web-2: health failed"), run
    assert "switched back: web-1" in run.error and "not started: web-3" in run.error
    assert hammer.failures() == {h.name: [] for h in world.fleet}
    for host in world.fleet:
        assert _settled(host, "1.0.0"), host.name  # web-1 answers v1 again
    assert hammer.versions_seen()["web-3"] == ["1.0.0"]
    assert hammer.versions_seen()["web-2"] == ["1.0.0"]
    children = world.children(run)
    assert children["web-3"].status == "skipped" and not children["web-3"].steps
    assert children["web-1"].status == "failed"
    names = [s.name for s in children["web-1"].steps]
    assert names[names.index("await_rollout") :] == [
        "await_rollout",
        "restore",
        "stop_new",
        "record_failed",
    ]
    assert run.params["rollout"]["verdicts"] == {"web-1": "revert"}
    assert run.params["rollout"]["states"] == {
        "web-1": "reverted",
        "web-2": "failed_before_switch",
        "web-3": "skipped",
    }
    assert world.records() == [
        ("1.0.0", "completed", "deploy"),
        ("2.0.0", "failed", "deploy"),
    ]


def test_a_rollback_during_keep_warm_switches_every_host_back(world: RolloutWorld) -> None:
    world.configure(strategy="all")
    assert world.rollout("deploy", "1.0.0").status == "completed", world.logs()
    world.configure(strategy="all", keep_warm=600)
    deploy = world.start_rollout("deploy", "2.0.0")
    world.wait_until_warm(deploy)
    assert world.records()[-1] == ("2.0.0", "completed", "deploy")
    world.configure(strategy="rolling")
    with Hammer(world.fleet) as hammer:
        back = world.rollout("rollback")
        assert (back.status, back.error) == ("completed", None), world.logs()
        for host in world.fleet:
            assert _settled(host, "1.0.0"), host.name
    assert hammer.failures() == {h.name: [] for h in world.fleet}
    assert get_run(world.ctx, deploy).status == "superseded"
    for child in world.children(back).values():
        names = [s.name for s in child.steps]
        assert "start" not in names and "switch" in names, names  # the old slot was warm
    assert world.records() == [
        ("1.0.0", "completed", "deploy"),
        ("2.0.0", "rolled_back", "deploy"),
        ("1.0.0", "completed", "rollback"),
    ]
