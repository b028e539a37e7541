"""What a step executor works with: :class:`StepEnv`, and the helpers every executor shares.

:mod:`shipmate.services.runs.steps` holds the executors of the flow's steps and the
registry; :mod:`shipmate.services.runs.watch` the ones that watch the serving slot.
Both build on this module, which imports neither.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shipmate.domain.runs.plan import RunPlan, Step, StepResult
from shipmate.engine.release import Release
from shipmate.errors import ConfigError, ConflictError, ShipmateError
from shipmate.services.context import Context
from shipmate.services.deploys.config import RunParts
from shipmate.services.runs.backend import RunBackend
from shipmate.services.runs.journal import RunRecord
from shipmate.services.runs.observer import RunObserver

__all__ = ["StepEnv", "failed_result", "log_tail", "stopped_error"]


def stopped_error(run_id: int) -> ConflictError:
    """Raised inside a step when the run must stop (server shutdown, lease lost)."""
    return ConflictError(
        f"run {run_id} was told to stop; it can be resumed with shipmate runs resume {run_id}",
        field="run",
        reason="stopped",
    )


@dataclass
class StepEnv:
    """What an executor may use: the run's :class:`RunBackend` for the journal and the
    records; ``ctx`` (the database) only where the journal is local."""

    backend: RunBackend
    run: RunRecord
    plan: RunPlan
    parts_provider: Callable[[], RunParts]
    observer: RunObserver
    seq: int
    step: Step
    attempt: int
    first_started_at: datetime
    wake: threading.Event

    @property
    def ctx(self) -> Context:
        """The database, for steps that need more of it than the backend offers."""
        ctx = self.backend.ctx
        if ctx is None:
            raise ConfigError(
                f"step {self.step.name!r} runs only in local mode (it needs the database); "
                "a deploy agent cannot run it",
                field="step",
                step=self.step.name,
            )
        return ctx

    @property
    def parts(self) -> RunParts:
        return self.parts_provider()

    @property
    def release(self) -> Release:
        """The run's release; processes it starts are marked with the run's id."""
        return Release(
            self.plan.product,
            self.plan.version,
            self.plan.full_version,
            self.plan.build_number,
            run_id=self.run.id,
        )

    def progress(self, message: str) -> None:
        with contextlib.suppress(Exception):  # an observer never breaks a run
            self.observer.step_progress(self.seq, self.step, message)
        try:
            self.backend.progress(self.run.id, self.seq, message)
        except ConflictError as exc:
            # The server no longer counts this run as ours (superseded by a rollback,
            # aborted): stop at the next sleep instead of at the next heartbeat.
            if exc.details.get("reason") == "lease_lost":
                self.wake.set()
        except Exception:
            pass  # progress is a courtesy, never a failure

    def sleep(self, seconds: float) -> None:
        """Sleep, waking at once (with an error) when the run must stop."""
        if self.wake.wait(max(0.0, seconds)):
            raise stopped_error(self.run.id)

    def record_fields(self) -> dict[str, Any]:
        fields = self.run.params.get("record") or {}
        return {k: v for k, v in dict(fields).items() if v is not None}


def failed_result(exc: ShipmateError, output: str = "") -> StepResult:
    """A failed step result carrying the error's code, message, field and details."""
    data: dict[str, Any] = {"details": _jsonable(exc.details)}
    if exc.field is not None:
        data["field"] = exc.field
    detail = exc.details.get("stderr") or exc.details.get("detail") or ""
    return StepResult.failure(exc.message, code=exc.code, output=output or str(detail), data=data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def log_tail(parts: RunParts, slot: str) -> str:
    """The last lines of the app's log in ``slot`` (targets that keep one), for a step's output."""
    tail = getattr(parts.target, "log_tail", None)
    if not callable(tail):
        return ""
    try:
        text = str(tail(slot))
    except Exception:
        return ""
    return f"last lines of the app's log in slot {slot}:\n{text}" if text.strip() else ""
