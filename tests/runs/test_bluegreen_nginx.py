"""Blue-green deploys for real: the sample app in two slots behind a private nginx.

Every test drives real processes (the ``process`` target), real nginx (the
``nginx`` switch: ``nginx -t``, ``nginx -s reload``) and shipmate's real store on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipmate.errors import HealthCheckError, SwitchError
from shipmate.services.context import Context
from shipmate.services.runs.control import get_run
from tests.engine.nginxctl import NginxServer
from tests.runs.loadclient import Load
from tests.runs.stack import Stack


@pytest.fixture
def stack(real_ctx: Context, tmp_path: Path) -> Iterator[Stack]:
    nginx = NginxServer(tmp_path)
    nginx.start()
    result = Stack(tmp_path, nginx, real_ctx)
    try:
        yield result
    finally:
        result.close()


def test_deploy_v1_then_v2_with_zero_failed_requests(stack: Stack) -> None:
    first = stack.deploy("1.0.0")
    assert first.ok, first.end
    stack.wait_served("1.0.0")
    assert stack.running("blue") and not stack.running("green")

    with Load(stack.nginx.port) as load:
        second = stack.deploy("2.0.0", stack.table(keep_warm=1.0))
    assert second.ok, second.end
    assert load.failures == []
    assert load.ok["fresh"] > 20 and load.ok["keepalive"] > 20
    assert load.versions[0] == "1.0.0" and load.versions[-1] == "2.0.0"
    stack.wait_served("2.0.0")
    assert stack.running("green") and not stack.running("blue")  # old slot retired
    assert stack.records() == [("1.0.0", "completed", "deploy"), ("2.0.0", "completed", "deploy")]
    run = get_run(stack.ctx, second.run.id)
    post = next(s for s in run.steps if s.name == "post_switch_health")
    assert stack.nginx.url in (post.output or "")


def test_v3_failing_its_health_check_leaves_traffic_on_v2(stack: Stack) -> None:
    assert stack.deploy("2.0.0").ok
    stack.wait_served("2.0.0")
    broken = stack.table(
        env={"DEMOAPP_UNHEALTHY": "1"},
        health={"url": "http://127.0.0.1:{port}/healthz", "attempts": 4, "interval": 0.1},
    )
    outcome = stack.deploy("3.0.0", broken)
    assert not outcome.ok
    error = outcome.error()
    assert isinstance(error, HealthCheckError)
    assert "HTTP 500" in error.message
    stack.wait_served("2.0.0")
    assert not stack.running("green")  # v3's slot was stopped
    assert stack.running("blue")
    assert stack.records()[-1] == ("3.0.0", "failed", "deploy")
    run = get_run(stack.ctx, outcome.run.id)
    assert run.status == "failed"
    health = next(s for s in run.steps if s.name == "health")
    assert health.status == "failed" and "HTTP 500" in (health.error or "")
    assert [s.name for s in run.steps][-2:] == ["stop_new", "record_failed"]


def test_v4_failing_after_the_switch_is_switched_back_automatically(stack: Stack) -> None:
    assert stack.deploy("1.0.0").ok
    assert stack.deploy("2.0.0").ok
    stack.wait_served("2.0.0")
    # v4 accepts connections (the check before the switch) but its /healthz says 500,
    # which the check through nginx after the switch sees.
    v4 = stack.table(
        env={"DEMOAPP_UNHEALTHY": "1"},
        health={"type": "tcp", "port": "{port}", "attempts": 100, "interval": 0.05},
        post_switch_health={"url": stack.nginx.url + "/healthz", "attempts": 3, "interval": 0.1},
    )
    with Load(stack.nginx.port) as load:
        outcome = stack.deploy("4.0.0", v4)
        stack.wait_served("2.0.0")
    assert not outcome.ok
    assert outcome.end is not None and outcome.end.switched_back
    # v4 answered /version until nginx stopped sending to it; it was stopped only once
    # nginx's previous workers had exited, so no answer was a 502 (connections an old
    # worker closed before answering are nginx's own reload race: load.closed).
    assert load.failures == [], (load.failures[:5], len(load.failures), load.total, load.closed)
    assert load.ok["fresh"] > 20 and load.ok["keepalive"] > 20
    assert "4.0.0" in load.versions and load.versions[-1] == "2.0.0"
    restore = next(s for s in get_run(stack.ctx, outcome.run.id).steps if s.name == "restore")
    assert "nginx's previous workers have exited" in (restore.output or "")
    assert stack.running("green") and not stack.running("blue")
    assert stack.records()[-2:] == [
        ("4.0.0", "failed", "deploy"),
        ("2.0.0", "completed", "rollback"),
    ]
    run = get_run(stack.ctx, outcome.run.id)
    assert run.rollback_deployment_id is not None
    assert [s.name for s in run.steps][-5:] == [
        "post_switch_health",
        "restore",
        "stop_new",
        "record_failed",
        "record_rollback",
    ]


def test_a_broken_nginx_template_keeps_the_previous_config_serving(stack: Stack) -> None:
    assert stack.deploy("2.0.0").ok
    stack.wait_served("2.0.0")
    before = stack.nginx.upstream_file.read_text()
    table = stack.table()
    table["switch"] = {
        **table["switch"],
        "template": "upstream {upstream_name} {\n    server 127.0.0.1:{port}\n}\n",
    }
    outcome = stack.deploy("3.0.0", table)
    error = outcome.error()
    assert isinstance(error, SwitchError)
    assert "nginx" in error.message and "traffic is unchanged" in error.message
    assert stack.nginx.upstream_file.read_text() == before
    for _ in range(10):
        assert stack.served() == "2.0.0"
    assert not stack.running("green")
    assert stack.records()[-1] == ("3.0.0", "failed", "deploy")
