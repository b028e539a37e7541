"""Keep-warm is a watch, for real: the sample app behind a private nginx, ``shipmate`` commands.

A version that passed its check after the switch and then dies is switched back
to the still-warm old slot, recorded as an automatic rollback, and the command
exits 4 (``rolled_back``).  The failure is caused by the test (it kills the app
once the run is keeping the old slot warm), so nothing depends on timing.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipmate.engine.targets.process import ProcessTarget
from shipmate.services.context import Context
from shipmate.services.deploys.config import build_parts
from shipmate.services.runs.control import get_run, list_runs
from tests.engine.nginxctl import NginxServer
from tests.runs.stack import Stack

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def stack(real_ctx: Context, tmp_path: Path) -> Iterator[Stack]:
    nginx = NginxServer(tmp_path)
    nginx.start()
    result = Stack(tmp_path, nginx, real_ctx)
    result.write_config()
    try:
        yield result
    finally:
        result.close()


def _target(stack: Stack) -> ProcessTarget:
    target = build_parts(stack.product_deploy()).target
    assert isinstance(target, ProcessTarget)
    return target


def _kill_slot(stack: Stack, slot: str) -> None:
    record = _target(stack).process(slot)
    assert record is not None and record.alive()
    os.killpg(record.pid, signal.SIGKILL)


def _wait_for_step(stack: Stack, name: str, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        running = list_runs(stack.ctx, status="running")
        if running:
            run = get_run(stack.ctx, running[0].id)
            if any(s.name == name and s.status == "running" for s in run.steps):
                return run.id
        assert time.monotonic() < deadline, f"no run reached {name}"
        time.sleep(0.05)


def test_a_version_dying_while_the_old_slot_is_warm_is_switched_back(stack: Stack) -> None:
    first = stack.cli("deploy", "--product", "api", "--env", "production", "--version", "1.0.0")
    assert first.returncode == 0, first.stderr
    stack.wait_served("1.0.0")
    stack.write_config(stack.table(keep_warm=120))
    deploy = stack.popen("deploy", "--product", "api", "--env", "production", "--version", "2.0.0")
    try:
        run_id = _wait_for_step(stack, "keep_warm")
        stack.wait_served("2.0.0")
        assert stack.running("blue")  # 1.0.0 is warm
        _kill_slot(stack, "green")  # 2.0.0 passed its checks, then dies
        code = deploy.wait(timeout=60)  # long before keep_warm's 120 s
        said = deploy.stdout.read() if deploy.stdout else ""
    finally:
        if deploy.poll() is None:
            deploy.kill()
        deploy.wait()
    assert code == 4, said
    assert "shipmate: error: run" in said and "traffic is back on 1.0.0 in blue" in said
    stack.wait_served("1.0.0")
    assert stack.running("blue") and not stack.running("green")
    assert stack.records() == [
        ("1.0.0", "completed", "deploy"),
        ("2.0.0", "rolled_back", "deploy"),
        ("1.0.0", "completed", "rollback"),
    ]
    run = get_run(stack.ctx, run_id)
    assert run.status == "failed" and run.rollback_deployment_id is not None
    assert [s.name for s in run.steps][-4:] == [
        "keep_warm",
        "restore",
        "stop_new",
        "record_rollback",
    ]
    warm = next(s for s in run.steps if s.name == "keep_warm")
    assert "2.0.0 is no longer running in slot green" in (warm.error or "")


def test_retire_checks_the_serving_slot_before_stopping_the_old_one(stack: Stack) -> None:
    first = stack.cli("deploy", "--product", "api", "--env", "production", "--version", "1.0.0")
    assert first.returncode == 0, first.stderr
    stack.write_config(stack.table(keep_warm=0))
    killed = stack.cli(
        "deploy",
        "--product",
        "api",
        "--env",
        "production",
        "--version",
        "2.0.0",
        env={"SHIPMATE_TEST_CRASH": "after:record_completed"},
    )
    assert killed.returncode == -9
    stack.wait_served("2.0.0")
    _kill_slot(stack, "green")  # the serving slot dies before the old one is retired

    resumed = stack.cli("runs", "resume")

    assert resumed.returncode == 4, (resumed.stdout, resumed.stderr)
    assert "just before slot blue (1.0.0) was to be retired" in resumed.stderr
    stack.wait_served("1.0.0")
    assert stack.running("blue") and not stack.running("green")
    assert stack.records()[-2:] == [
        ("2.0.0", "rolled_back", "deploy"),
        ("1.0.0", "completed", "rollback"),
    ]
    [run] = [r for r in list_runs(stack.ctx) if r.full_version == "2.0.0"]
    names = [s.name for s in get_run(stack.ctx, run.id).steps]
    assert names[-4:] == ["retire", "restore", "stop_new", "record_rollback"]
