"""No orphan and one truth after SIGKILLs anywhere in a deploy, then ``shipmate runs resume``.

Real parts only: the sample app in two slots behind a private nginx, shipmate's
SQLite store, and real shipmate processes killed with SIGKILL.  Each round deploys
a new version and kills its run over and over (``tests/runs/killharness.py`` forks
each attempt from a warm server, so an attempt costs milliseconds, not an
interpreter start-up):

* **the start step**, many times per round: at every named point of the process
  target (``SHIPMATE_TEST_KILL_AT``: before anything, after the intent, after the
  spawn and before ``pid.json``, after adopting an orphan, in the clean-up of an
  earlier start), and at random instants from outside while it spawns, adopts or
  finds its app running; an attempt whose kill does not come kills itself at the
  end of the step, after it acted and before it is journaled (``during:start``), so
  the step runs again in the next attempt;
* **the rest of the run**, every step several times, in the first rounds (until
  enough kills landed there): at random instants from outside, in the middle of
  a step (``during:<step>``: it acted, it is not journaled), between nginx's file
  write, its test and its reload, and between stopping the old slot and removing
  its pid file; and every attempt dies at the boundary after the one step it
  executed.  Later rounds kill only the start step.

Then the real ``shipmate runs resume`` command finishes the run, and the test
checks: exactly one slot serves, it is the version the records call current, no
process carrying the state folder's marker runs that a ``pid.json`` does not
name, no run is stuck, and every deployment was recorded completed exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipmate.engine import procfs
from shipmate.engine.targets.process import MARK_SLOT, ProcessTarget
from shipmate.services.context import Context
from shipmate.services.deploys.config import build_parts
from shipmate.services.queries import current_matrix, show_deployment
from shipmate.services.runs.control import get_run, list_runs
from tests.engine.nginxctl import NginxServer
from tests.runs.stack import Stack

pytestmark = pytest.mark.slow

FLOW = (
    "record_started",
    "inspect",
    "check_artifact",
    "start",
    "health",
    "switch",
    "post_switch_health",
    "record_completed",
    "keep_warm",
    "retire",
)
#: Rounds stop once both counts are reached (at most MAX_ROUNDS).
START_KILLS_WANTED = 100
REST_KILLS_WANTED = 50
MAX_ROUNDS = 8
START_ATTEMPTS_PER_ROUND = 26


#: What kills the start step, by what the slot holds when it begins and how many
#: attempts met that state in this round: named points first, then random instants
#: over the time the step takes in that state, then the point that moves the slot on.
def _start_choice(state: str, seen: int) -> str:
    if state == "empty":
        if seen < 9:
            return ("process.start", "process.stopped", "process.intent")[seen % 3]
        return "random" if seen < 13 else "process.spawned"
    if state == "orphan":
        return ("process.start", "random")[seen % 2] if seen < 4 else "process.adopted"
    return ("process.start", "random")[seen % 2]


#: What kills each other step, in order; then the step runs to its end (and the
#: attempt dies at the boundary after it).
REST_SPECS: dict[str, list[dict[str, Any]]] = {
    "health": [{"crash": "during:health"}, {"random": 0.2}],
    "switch": [
        {"point": "nginx.written"},
        {"point": "nginx.tested"},
        {"crash": "during:switch"},
        {"random": 0.1},
    ],
    "post_switch_health": [{"random": 0.5}, {"crash": "during:post_switch_health"}],
    "record_completed": [{"random": 0.02}, {"crash": "during:record_completed"}],
    "keep_warm": [{"random": 0.3}, {"crash": "during:keep_warm"}],
    "retire": [
        {"point": "process.signalled"},
        {"point": "process.stopped"},
        {"random": 0.2},
        {"crash": "during:retire"},
    ],
}


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def stack(real_ctx: Context, tmp_path: Path) -> Iterator[Stack]:
    nginx = NginxServer(tmp_path)
    nginx.start()
    result = Stack(tmp_path, nginx, real_ctx)
    result.write_config(result.table(keep_warm=0.3))
    try:
        yield result
    finally:
        result.close()


class Harness:
    def __init__(self, stack: Stack, seed: int) -> None:
        self.stack = stack
        self.errors = open(stack.tmp / "killharness.err", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.runs.killharness"],
            cwd=stack.project,
            env=stack.cli_env({"KILLHARNESS_SEED": str(seed)}),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            text=True,
        )
        assert json.loads(self._line()) == {"ready": True}

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, (self.stack.tmp / "killharness.err").read_text()[-3000:]
        return line

    def attempt(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        command.update(
            database_url=self.stack.ctx.settings.database_url,
            data_dir=str(self.stack.data_dir),
            table=self.stack.table(keep_warm=0.3),
        )
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self._line())
        return answer

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.errors.close()


def _spec(spec: dict[str, Any], step: str) -> dict[str, Any]:
    if "point" in spec:
        return {"env": {"SHIPMATE_TEST_KILL_AT": spec["point"]}}
    if "crash" in spec:
        return {"crash": spec["crash"]}
    return {"kill": {"on": f"begin {step}", "max": spec["random"]}}


def _at(events: list[str], what: str) -> float | None:
    """When the last event ``what`` (e.g. ``begin start``) happened, in monotonic seconds."""
    for event in reversed(events):
        head, _, when = event.rpartition(" ")
        if head == what:
            return float(when)
    return None


def _landed(events: list[str]) -> str:
    """Where the attempt was when it died: during a step, after one, or before any."""
    for event in reversed(events):
        verb, _, rest = event.partition(" ")
        name = rest.rpartition(" ")[0]
        if verb == "begin":
            return f"during {name}"
        if verb == "end":
            return f"after {name}"
    return "before any step"


def _next_step(stack: Stack, run_id: int) -> str | None:
    steps = get_run(stack.ctx, run_id).steps
    if not steps:
        return FLOW[0]
    last = steps[-1]
    if last.name not in FLOW:
        return None  # the run left the happy path (it failed): let resume finish it
    if last.status == "running":
        return last.name
    index = FLOW.index(last.name) + 1
    return FLOW[index] if index < len(FLOW) else None


def _target(stack: Stack) -> ProcessTarget:
    target = build_parts(stack.product_deploy()).target
    assert isinstance(target, ProcessTarget)
    return target


def _slot_state(stack: Stack, slot: str) -> str:
    target = _target(stack)
    record = target.process(slot)
    if record is not None and record.alive():
        return "recorded"
    return "orphan" if any(m.is_group_leader for m in target.marked(slot)) else "empty"


def _marked_processes(stack: Stack) -> dict[int, str]:
    """Every live process carrying a slot marker of this stack's state folder."""
    root = str(Path(stack.product_deploy().state_dir).resolve())
    found: dict[int, str] = {}
    for pid in procfs.all_pids():
        env = procfs.read_environ(pid)
        stat = procfs.read_stat(pid)
        marker = (env or {}).get(MARK_SLOT, "")
        if stat is not None and not stat.is_zombie and marker.startswith(root + os.sep):
            found[pid] = marker
    return found


def _check_one_truth(stack: Stack, version: str, run_id: int) -> None:
    assert list_runs(stack.ctx, status="running") == [], "a run is stuck"
    run = get_run(stack.ctx, run_id)
    assert run.status == "completed", (run.status, run.error)
    stack.wait_served(version)
    [cell] = current_matrix(stack.ctx).cells
    assert cell.full_version == version  # what nginx serves is what the records call current
    target = _target(stack)
    switch = build_parts(stack.product_deploy()).switch.current()
    assert switch is not None and switch.full_version == version
    serving = switch.slot
    assert serving is not None
    other = "green" if serving == "blue" else "blue"
    assert target.running_version(serving) == version
    assert target.running_version(other) is None and not stack.running(other)
    record = target.process(serving)
    assert record is not None
    assert _marked_processes(stack) == {record.pid: target.marker(serving)}
    assert run.deployment_id is not None
    dep = show_deployment(stack.ctx, run.deployment_id)
    assert [e.to_status for e in dep.events] == ["started", "completed"]


def test_kills_anywhere_in_a_deploy_leave_one_truth_after_runs_resume(stack: Stack) -> None:
    harness = Harness(stack, seed=20261122)
    tally: Counter[str] = Counter()
    start_kills = rest_kills = round_no = 0
    #: Seconds the start step takes, per slot state (measured as the round goes).
    took = {"empty": 0.03, "orphan": 0.02, "recorded": 0.003}
    try:
        first = harness.attempt(action="deploy", version="1.0.0")
        assert first["status"] == 0, first
        versions = ["1.0.0"]
        while start_kills < START_KILLS_WANTED or rest_kills < REST_KILLS_WANTED:
            round_no += 1
            assert round_no <= MAX_ROUNDS, (start_kills, rest_kills)
            version = f"1.{round_no}.0"
            versions.append(version)
            run_id: int | None = None
            seen: Counter[str] = Counter()
            idle = "green" if round_no % 2 else "blue"
            for _ in range(START_ATTEMPTS_PER_ROUND):
                state = _slot_state(stack, idle)
                choice = _start_choice(state, seen[state])
                seen[state] += 1
                spec = {"random": took[state]} if choice == "random" else {"point": choice}
                # If the kill asked for does not come (a point this start does not pass,
                # a random instant after the start's work), the attempt kills itself at
                # the end of the start step, before it is journaled: still in it.
                command = {"crash": "during:start", **_spec(spec, "start")}
                if run_id is None:  # record_started, inspect, check_artifact, then start
                    answer = harness.attempt(action="deploy", version=version, **command)
                    [run] = list_runs(stack.ctx, limit=1)
                    run_id = run.id
                else:
                    answer = harness.attempt(action="resume", run_id=run_id, **command)
                assert answer["status"] == -9, answer
                where = _landed(answer["events"])
                assert where == "during start", answer
                crashed = _at(answer["events"], "crash start")
                if crashed is not None:  # how long the start step takes in this state
                    took[state] = max(0.002, crashed - (_at(answer["events"], "begin start") or 0))
                how = "its end (not journaled)" if crashed is not None else choice
                tally[f"{where}: {how} (slot {state} -> {_slot_state(stack, idle)})"] += 1
                start_kills += 1
                assert _next_step(stack, run_id) == "start"
            assert run_id is not None
            pending = {step: list(specs) for step, specs in REST_SPECS.items()}
            while rest_kills < REST_KILLS_WANTED and (step := _next_step(stack, run_id)):
                specs = pending.get(step) or []
                command = _spec(specs.pop(0), step) if specs else {}
                answer = harness.attempt(action="resume", run_id=run_id, stop_after=1, **command)
                assert answer["status"] == -9, answer
                where = _landed(answer["events"])
                how = json.dumps(command, sort_keys=True) if command else "the step's end"
                tally[f"{where}: {how}"] += 1
                rest_kills += 1
            # The run is still open (its last attempt was killed): the command finishes it.
            resumed = stack.cli("runs", "resume")
            assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
            _check_one_truth(stack, version, run_id)
    finally:
        harness.close()
        summary = "\n".join(f"{n:4d}  {what}" for what, n in sorted(tally.items()))
        print(
            f"\nkills in the start step: {start_kills}, elsewhere: {rest_kills}, "
            f"rounds: {round_no}\n{summary}"
        )
    assert stack.records() == [(v, "completed", "deploy") for v in versions]
