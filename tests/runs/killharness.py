"""A fork server that runs shipmate deploys and resumes in child processes, and kills them.

``python -m tests.runs.killharness`` imports shipmate once, then reads one JSON
command per line on stdin.  For each it forks a child (a real process, with its
own database connection) that runs :func:`~shipmate.services.deploys.deploy.deploy` or
:func:`~shipmate.services.runs.control.resume_run`, exactly as ``shipmate deploy`` and
``shipmate runs resume`` do, with:

* ``env``: e.g. ``SHIPMATE_TEST_KILL_AT`` (the child SIGKILLs itself at that point);
* ``crash``: a step boundary (``after:start``, or ``during:start``: the step acted,
  it is not journaled) where the child SIGKILLs itself, saying ``crash`` first;
* ``kill``: ``{"on": "begin start", "max": 0.03}``: once the child reports that
  event, the server waits a random time in ``[0, max]`` and SIGKILLs the child
  from outside, at whatever instant that is;
* ``stop_after``: the child SIGKILLs itself once it has executed that many steps
  (at the boundary, after the last one was journaled), so one attempt moves the
  run on by a known amount.

The child reports ``run``, ``begin <step>``, ``end <step>``, ``replay <step>`` and
``crash <step>``, each with its ``time.monotonic()``, on a pipe as they happen; the server answers with the child's exit status and
those events, so the test knows where each kill landed.  Forking from a
single-threaded server keeps each attempt cheap (no interpreter start-up), which
is what lets a test afford hundreds of real kills.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

from shipmate.config import Settings
from shipmate.domain.runs.plan import Step, StepResult
from shipmate.services.context import open_context
from shipmate.services.deploys.config import load_product_deploy
from shipmate.services.deploys.deploy import DeployRequest, deploy
from shipmate.services.runs.control import resume_run
from shipmate.services.runs.driver import CrashPoint
from shipmate.services.runs.journal import RunRecord
from shipmate.services.runs.observer import RunObserver

__all__ = ["main"]


class PipeObserver(RunObserver):
    """Reports the run's progress on ``fd``; SIGKILLs the process once ``stop_after``
    steps were executed (at that step boundary: the step is journaled)."""

    def __init__(self, fd: int, stop_after: int | None = None) -> None:
        self.fd = fd
        self.stop_after = stop_after
        self.executed = 0

    def _say(self, text: str) -> None:
        os.write(self.fd, f"{text} {time.monotonic():.6f}\n".encode())

    def run_started(self, run: RunRecord, *, resumed: bool) -> None:
        self._say("run")

    def step_started(self, seq: int, step: Step, attempt: int) -> None:
        self._say(f"begin {step.name}")

    def step_finished(
        self, seq: int, step: Step, result: StepResult, seconds: float, *, replayed: bool
    ) -> None:
        self._say(f"{'replay' if replayed else 'end'} {step.name}")
        if not replayed:
            self.executed += 1
            if self.stop_after is not None and self.executed >= self.stop_after:
                os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class ReportingCrash(CrashPoint):
    """A crash point that says ``crash`` on the pipe before it kills the process."""

    fd: int = -1

    def check(self, moment: str, step: str) -> None:
        if moment == self.moment and step == self.step:
            os.write(self.fd, f"crash {step} {time.monotonic():.6f}\n".encode())
        super().check(moment, step)


def _crash(text: str | None, fd: int) -> CrashPoint | None:
    parsed = CrashPoint.parse(text)
    return None if parsed is None else ReportingCrash(parsed.moment, parsed.step, fd)


def _child(command: dict[str, Any], fd: int) -> int:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # stdout is the server's answer channel
    os.environ.update(command.get("env") or {})
    settings = Settings(
        database_url=command["database_url"],
        data_dir=command["data_dir"],
        sections={"products": {"api": {"deploy": command["table"]}}},
    )
    ctx = open_context(settings)
    observer = PipeObserver(fd, command.get("stop_after"))
    crash = _crash(command.get("crash"), fd)
    if command["action"] == "deploy":
        outcome = deploy(
            ctx,
            load_product_deploy(settings, "api"),
            DeployRequest("api", "production", command["version"], actor="killer"),
            observer=observer,
            crash=crash,
        )
    else:
        outcome = resume_run(ctx, int(command["run_id"]), observer=observer, crash=crash)
    observer._say(f"outcome {outcome.end.status if outcome.end else 'none'}")
    return 0 if outcome.ok else 1


def _serve_one(command: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        code = 70
        try:
            code = _child(command, write_end)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_end)
    kill = command.get("kill")
    events: list[str] = []
    buffer = b""
    killed_by_server = False
    while True:
        ready, _, _ = select.select([read_end], [], [], 60)
        if not ready:
            os.kill(pid, signal.SIGKILL)  # a child stuck for a minute: end it, the test fails
            break
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        buffer += chunk
        *lines, rest = buffer.split(b"\n")
        buffer = rest
        events.extend(line.decode() for line in lines)
        if (
            kill is not None
            and not killed_by_server
            and any(event.rsplit(" ", 1)[0] == kill["on"] for event in events)
        ):
            time.sleep(rng.uniform(0.0, float(kill["max"])))
            try:
                os.kill(pid, signal.SIGKILL)
                killed_by_server = True
            except ProcessLookupError:
                pass
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    return {
        "status": os.waitstatus_to_exitcode(status),
        "events": events,
        "killed_by_server": killed_by_server,
    }


def main() -> int:
    rng = random.Random(int(os.environ.get("KILLHARNESS_SEED", "0")))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        print(json.dumps(_serve_one(command, rng)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
