"""Driving a run: feed the flow, execute each step, journal it, survive a crash.

:class:`RunDriver` takes a run this process owns and drives its flow
(:func:`~shipmate.domain.runs.plan.blue_green_flow`) to the end:

1. The flow yields step number *n*.  If the journal holds a finished row *n* (a
   resumed run), its recorded result is sent back without acting: **replay**.  A
   row whose name differs from the step is refused (the flow changed under a
   running run), like DBOS's unexpected-step error.
2. Otherwise the step row is written ``running`` (committed), the executor acts,
   and the row is written ``completed``/``failed`` with the result (committed).
   A crash between the two leaves the row ``running``: the step runs again on
   resume, which every executor tolerates (see :mod:`shipmate.services.runs.steps`).
3. When the flow returns, the run is closed and the environment lock released.

A heartbeat thread renews the lease every :data:`~shipmate.services.runs.journal.HEARTBEAT_SECONDS`;
if the run was taken from us (superseded by a rollback, or taken over after our
lease ran out) it wakes the current step, and the next journal write stops the
driver.  ``stop`` (server shutdown) does the same, and the run is *released* so
another process can resume it at once.

``crash`` is a test hook: a :class:`CrashPoint` kills this process with SIGKILL at
a step boundary (``after`` the step is journaled, or ``during``: after it acted,
before it is journaled).  The CLI sets it from an environment variable that only
tests use.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from shipmate.domain.runs.model import RECORD_STARTED, FlowEnd, RunPlan, Step, StepResult
from shipmate.domain.runs.plan import blue_green_flow as make_flow
from shipmate.errors import ConflictError
from shipmate.services.context import Context
from shipmate.services.deploys.config import RunParts
from shipmate.services.runs.backend import DatabaseRunBackend, RunBackend
from shipmate.services.runs.journal import HEARTBEAT_SECONDS, RunRecord, RunStepRecord
from shipmate.services.runs.observer import RunObserver
from shipmate.services.runs.steps import StepEnv, execute_step

__all__ = ["CrashPoint", "DriveResult", "PartsFactory", "RunDriver"]

PartsFactory = Callable[[RunRecord], RunParts]


@dataclass(frozen=True)
class CrashPoint:
    """Kill this process with SIGKILL ``moment`` (``after``/``during``) step ``step``."""

    moment: str
    step: str

    @classmethod
    def parse(cls, text: str | None) -> CrashPoint | None:
        if not text:
            return None
        moment, _, step = text.partition(":")
        if moment not in ("after", "during") or not step:
            return None
        return cls(moment, step)

    def check(self, moment: str, step: str) -> None:
        if moment == self.moment and step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class DriveResult:
    """The run as it stands after driving, and how the flow ended (None: not driven to the end)."""

    run: RunRecord
    end: FlowEnd | None


class _Heartbeat:
    def __init__(
        self, backend: RunBackend, run_id: int, owner: str, stop: threading.Event | None
    ) -> None:
        self.backend = backend
        self.run_id = run_id
        self.owner = owner
        self.external = stop
        self.wake = threading.Event()
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"run-{run_id}-lease", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        next_beat = time.monotonic() + HEARTBEAT_SECONDS
        while not self._done.wait(0.1):
            if self.external is not None and self.external.is_set():
                self.wake.set()
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + HEARTBEAT_SECONDS
                try:
                    alive = self.backend.heartbeat(self.run_id, self.owner)
                except Exception:
                    continue  # a database hiccup: the next journal write decides
                if not alive:
                    self.lost.set()
                    self.wake.set()


class RunDriver:
    """Drives one run through ``backend`` (or, given ``ctx``, this process's database)."""

    def __init__(
        self,
        ctx: Context | None,
        run: RunRecord,
        *,
        owner: str,
        parts_factory: PartsFactory,
        observer: RunObserver | None = None,
        stop: threading.Event | None = None,
        crash: CrashPoint | None = None,
        resumed: bool = False,
        backend: RunBackend | None = None,
    ) -> None:
        if backend is None:
            if ctx is None:
                raise TypeError("RunDriver needs a context or a backend")
            backend = DatabaseRunBackend(ctx)
        self.backend = backend
        self.run = run
        self.owner = owner
        self.parts_factory = parts_factory
        self.observer = observer or RunObserver()
        self.stop = stop
        self.crash = crash
        self.resumed = resumed
        self.plan = RunPlan.from_dict(run.params["plan"])
        self._parts: RunParts | None = None

    def parts(self) -> RunParts:
        if self._parts is None:
            self._parts = self.parts_factory(self.run)
        return self._parts

    def _notify(self, method: str, *args: object, **kwargs: object) -> None:
        with contextlib.suppress(Exception):  # an observer never breaks a run
            getattr(self.observer, method)(*args, **kwargs)

    def drive(self) -> DriveResult:
        """Drive the run to its end (or until it must stop); see the module docstring."""
        journal = {s.seq: s for s in self.run.steps}
        flow = make_flow(self.plan)
        self._notify("run_started", self.run, resumed=self.resumed)
        with _Heartbeat(self.backend, self.run.id, self.owner, self.stop) as beat:
            try:
                step = next(flow)
                seq = 0
                while True:
                    seq += 1
                    result = self._step(seq, step, journal.get(seq), beat)
                    step = flow.send(result)
            except StopIteration as done:
                end: FlowEnd = done.value
            except ConflictError as exc:
                if exc.details.get("reason") not in ("stopped", "lease_lost"):
                    raise
                if exc.details.get("reason") == "stopped" and not beat.lost.is_set():
                    self.backend.release_run(self.run.id, self.owner)
                self._notify("run_finished", self.run, None)
                return DriveResult(self.run, None)
        try:
            final = self.backend.finish_run(self.run.id, self.owner, end)
        except ConflictError as exc:
            if exc.details.get("reason") != "lease_lost":
                raise
            self._notify("run_finished", self.run, None)
            return DriveResult(self.run, None)
        self._notify("run_finished", final, end)
        return DriveResult(final, end)

    def _step(
        self, seq: int, step: Step, recorded: RunStepRecord | None, beat: _Heartbeat
    ) -> StepResult:
        if recorded is not None and recorded.name != step.name:
            raise ConflictError(
                f"run {self.run.id}: step {seq} was recorded as {recorded.name!r} but the "
                f"flow now asks for {step.name!r}; this run cannot be resumed by this "
                "version of shipmate",
                field="run",
            )
        if recorded is not None and recorded.status in ("completed", "failed"):
            replayed = recorded.step_result
            if replayed is not None:
                self._notify("step_finished", seq, step, replayed, 0.0, replayed=True)
                return replayed
        if beat.wake.is_set():
            reason = "lease_lost" if beat.lost.is_set() else "stopped"
            raise ConflictError(f"run {self.run.id} stops", field="run", reason=reason)
        attempt = recorded.attempts + 1 if recorded is not None else 1
        row = self.backend.begin_step(self.run.id, self.owner, seq, step, attempt=attempt)
        self._notify("step_started", seq, step, row.attempts)
        env = StepEnv(
            backend=self.backend,
            run=self.run,
            plan=self.plan,
            parts_provider=self.parts,
            observer=self.observer,
            seq=seq,
            step=step,
            attempt=row.attempts,
            first_started_at=row.started_at,
            wake=beat.wake,
        )
        began = time.monotonic()
        result = execute_step(step, env)
        seconds = time.monotonic() - began
        if self.crash is not None:
            self.crash.check("during", step.name)
        updates = None
        if step.name == RECORD_STARTED and result.ok:
            updates = {"deployment_id": int(result.data["deployment_id"])}
        self.backend.finish_step(
            self.run.id,
            self.owner,
            seq,
            result,
            duration_ms=int(seconds * 1000),
            run_updates=updates,
        )
        if self.crash is not None:
            self.crash.check("after", step.name)
        self._notify("step_finished", seq, step, result, seconds, replayed=False)
        return result
