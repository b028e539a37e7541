"""Blue-green deploys for real: the sample app in two slots behind a private nginx.

Every test drives real processes (the ``process`` target), real nginx (the
``nginx`` switch: ``nginx -t``, ``nginx -s reload``) and shipmate's real store on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipmate.errors import HealthCheckError, SwitchError
from shipmate.services.context import Context
from shipmate.services.runs import get_run
from tests.engine.nginxctl import NginxServer
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


class Hammer:
    """Clients sending requests to nginx until stopped (bounded by ``limit`` each)."""

    def __init__(self, port: int, clients: int = 3, limit: int = 5000) -> None:
        self.port = port
        self.limit = limit
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failures: list[str] = []
        self.versions: list[str] = []
        self.threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def __enter__(self) -> Hammer:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        for _ in range(self.limit):
            if self.stop.is_set():
                return
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                conn.request("GET", "/version", headers={"Connection": "close"})
                response = conn.getresponse()
                body = response.read().decode()
                with self.lock:
                    if response.status == 200:
                        self.ok += 1
                        version = body.split('"full_version": "', 1)[1].split('"', 1)[0]
                        if not self.versions or self.versions[-1] != version:
                            self.versions.append(version)
                    else:
                        self.failures.append(f"HTTP {response.status}: {body[:100]}")
            except (OSError, http.client.HTTPException) as exc:
                with self.lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
            finally:
                conn.close()


def test_deploy_v1_then_v2_with_zero_failed_requests(stack: Stack) -> None:
    first = stack.deploy("1.0.0")
    assert first.ok, first.end
    stack.wait_served("1.0.0")
    assert stack.running("blue") and not stack.running("green")

    with Hammer(stack.nginx.port) as hammer:
        second = stack.deploy("2.0.0", stack.table(keep_warm=1.0))
    assert second.ok, second.end
    assert hammer.failures == []
    assert hammer.ok > 20
    assert hammer.versions[0] == "1.0.0" and hammer.versions[-1] == "2.0.0"
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
    outcome = stack.deploy("4.0.0", v4)
    assert not outcome.ok
    assert outcome.end is not None and outcome.end.switched_back
    stack.wait_served("2.0.0")
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
