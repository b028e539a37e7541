"""The process target owns what it starts at every kill point (real processes, real SIGKILL).

A shipmate process starting the sample app is killed with SIGKILL at each named
point of ``ProcessTarget.start`` (``SHIPMATE_TEST_KILL_AT``); the next start finds
what it left through the marker in the app's environment: the same release of the
same run is adopted, anything else is stopped first, never "port already in use".
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipmate.domain.deploy.config import parse_deploy_config
from shipmate.engine.release import Release
from shipmate.engine.targets.factory import build_target
from shipmate.engine.targets.process import MARK_RUN, ProcessTarget, port_in_use
from tests.engine.demoapps import DEMOAPP, demo_env, fetch_json
from tests.engine.nginxctl import free_port, wait_for_port

STARTER = textwrap.dedent(
    """
    import json, sys
    from shipmate.domain.deploy.config import parse_deploy_config
    from shipmate.engine.release import Release
    from shipmate.engine.targets.factory import build_target
    config = parse_deploy_config(json.loads(sys.argv[1]))
    target = build_target(config, product="api", state_dir=sys.argv[2])
    target.start(Release("api", "1.0.0", "1.0.0", None, run_id=int(sys.argv[3])), "blue")
    """
)


class Slot:
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.table: dict[str, Any] = {
            "slots": {"blue": self.port, "green": free_port()},
            "target": {"type": "process", "command": [*DEMOAPP, "--port", "{port}"]},
            "switch": {"type": "command", "command": "true"},
        }
        self.state = str(tmp_path / "state")
        target = build_target(parse_deploy_config(self.table), product="api", state_dir=self.state)
        assert isinstance(target, ProcessTarget)
        self.target = target

    def start_killed_at(self, point: str, run_id: int = 7) -> subprocess.CompletedProcess[str]:
        """``target.start`` in another shipmate process, SIGKILLed at ``point``."""
        env = demo_env({"SHIPMATE_TEST_KILL_AT": point})
        return subprocess.run(
            [sys.executable, "-c", STARTER, json.dumps(self.table), self.state, str(run_id)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def pids(self) -> list[int]:
        return sorted(m.pid for m in self.target.marked("blue"))


@pytest.fixture
def slot(tmp_path: Path) -> Iterator[Slot]:
    made = Slot(tmp_path)
    try:
        yield made
    finally:
        made.target.stop("blue")


def release(version: str, run_id: int) -> Release:
    return Release("api", version, version, None, run_id=run_id)


@pytest.mark.parametrize(
    "point", ["process.start", "process.intent", "process.spawned", "process.recorded"]
)
def test_a_start_killed_at_any_point_is_finished_by_the_next_one(slot: Slot, point: str) -> None:
    killed = slot.start_killed_at(point)
    assert killed.returncode == -9, killed.stderr
    spawned = point in ("process.spawned", "process.recorded")
    if spawned:
        wait_for_port(slot.port)  # the app outlived the killed shipmate
        [orphan] = slot.pids()
        assert slot.target.marked("blue")[0].env[MARK_RUN] == "7"
        assert slot.target.running_version("blue") == "1.0.0"  # found before it is adopted
    else:
        assert slot.pids() == []
        assert not slot.target.is_running("blue")

    slot.target.start(release("1.0.0", 7), "blue")  # the run resumed: same release, same run

    wait_for_port(slot.port)
    [pid] = slot.pids()
    record = slot.target.process("blue")
    assert record is not None and record.pid == pid and record.alive()
    if spawned:
        assert pid == orphan  # adopted, not started twice
    assert fetch_json(f"http://127.0.0.1:{slot.port}/version")["pid"] == pid
    assert not slot.target.intent_file("blue").exists()
    slot.target.stop("blue")
    assert slot.pids() == [] and not port_in_use(slot.port)


def test_an_orphan_of_another_run_is_stopped_before_starting(slot: Slot) -> None:
    assert slot.start_killed_at("process.spawned", run_id=7).returncode == -9
    wait_for_port(slot.port)
    [orphan] = slot.pids()

    slot.target.start(release("2.0.0", 8), "blue")  # another run, another version

    wait_for_port(slot.port)
    [pid] = slot.pids()
    assert pid != orphan
    assert fetch_json(f"http://127.0.0.1:{slot.port}/version")["full_version"] == "2.0.0"
    record = slot.target.process("blue")
    assert record is not None and record.pid == pid


def test_stop_finds_what_has_no_pid_file(slot: Slot) -> None:
    assert slot.start_killed_at("process.spawned").returncode == -9
    wait_for_port(slot.port)
    assert slot.target.process("blue") is None and slot.pids()
    slot.target.stop("blue")
    assert slot.pids() == [] and not port_in_use(slot.port)
    assert not slot.target.intent_file("blue").exists()
