"""Live progress of a run: what the driver tells whoever watches it.

The CLI renders it (a step list on a terminal, plain lines in CI); the server logs
it; tests collect it.  Observers never influence the run: an observer that raises
is ignored (its error is logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipmate.domain.runs.plan import FlowEnd, Step, StepResult

if TYPE_CHECKING:
    from shipmate.services.runs.journal import RunRecord

__all__ = ["CollectingObserver", "LogObserver", "RunObserver"]


class RunObserver:
    """Base observer: every method does nothing; override what you show."""

    def run_started(self, run: RunRecord, *, resumed: bool) -> None:
        """The run is about to drive its flow (``resumed``: taken over after a stop)."""

    def step_started(self, seq: int, step: Step, attempt: int) -> None:
        """``step`` is about to act (``attempt`` > 1 after an interruption)."""

    def step_progress(self, seq: int, step: Step, message: str) -> None:
        """Something happened inside a step (a health-check attempt, time left)."""

    def step_finished(
        self, seq: int, step: Step, result: StepResult, seconds: float, *, replayed: bool
    ) -> None:
        """``step`` ended; ``replayed``: it had finished before and was not run again."""

    def run_finished(self, run: RunRecord, end: FlowEnd | None) -> None:
        """The run ended (``end`` None: this process stopped driving it)."""


class LogObserver(RunObserver):
    """Progress as log lines (``shipmate serve``)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger("shipmate.runs")
        self.run_id = 0

    def run_started(self, run: RunRecord, *, resumed: bool) -> None:
        self.run_id = run.id
        how = "resuming" if resumed else "starting"
        self.log.info(
            "run %s: %s %s of %s %s to %s",
            run.id,
            how,
            run.kind,
            run.product,
            run.full_version,
            run.environment,
        )

    def step_finished(
        self, seq: int, step: Step, result: StepResult, seconds: float, *, replayed: bool
    ) -> None:
        if replayed:
            return
        outcome = "ok" if result.ok else f"FAILED: {result.error}"
        self.log.info("run %s: [%s] %s: %s (%.1fs)", self.run_id, seq, step.title, outcome, seconds)

    def run_finished(self, run: RunRecord, end: FlowEnd | None) -> None:
        if end is None:
            self.log.info("run %s: no longer driven by this process", run.id)
        else:
            self.log.info("run %s: %s: %s", run.id, end.status, end.message)


@dataclass
class CollectingObserver(RunObserver):
    """Keeps every event, for tests."""

    events: list[tuple[str, ...]] = field(default_factory=list)

    def run_started(self, run: RunRecord, *, resumed: bool) -> None:
        self.events.append(("run_started", str(run.id), "resumed" if resumed else "new"))

    def step_started(self, seq: int, step: Step, attempt: int) -> None:
        self.events.append(("step_started", step.name, str(attempt)))

    def step_progress(self, seq: int, step: Step, message: str) -> None:
        self.events.append(("step_progress", step.name, message))

    def step_finished(
        self, seq: int, step: Step, result: StepResult, seconds: float, *, replayed: bool
    ) -> None:
        state = "ok" if result.ok else "failed"
        self.events.append(("step_finished", step.name, state, "replayed" if replayed else "ran"))

    def run_finished(self, run: RunRecord, end: FlowEnd | None) -> None:
        self.events.append(("run_finished", end.status if end else "released"))

    def steps(self, kind: str = "ran") -> list[str]:
        """Names of the steps that finished (``ran``) or were replayed (``replayed``)."""
        return [e[1] for e in self.events if e[0] == "step_finished" and e[3] == kind]
