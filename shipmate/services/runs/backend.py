"""The port the run engine talks to: the journal, the records and the clock.

:class:`RunDriver <shipmate.services.runs.driver.RunDriver>` and the step executors
write the journal, record deployments and read the current deployment through a
:class:`RunBackend`, not through the database:

* :class:`DatabaseRunBackend` (local mode, and the server applying an agent's
  reports) wraps :mod:`shipmate.services.runs.journal` and
  :func:`~shipmate.services.records.deployments.record_deployment` exactly;
* the agent's HTTP backend (:mod:`shipmate.services.agents.client`) sends the
  same calls over the agent routes, to the server's database.

Steps that need more of the database (release-action hooks, drain hooks) use
``env.ctx``, which only a :class:`DatabaseRunBackend` has.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select

from shipmate.domain.records import DeploymentRecord
from shipmate.domain.requests import RecordRequest
from shipmate.domain.runs.model import FlowEnd, Step, StepResult
from shipmate.services.context import Context
from shipmate.services.records.deployments import record_deployment
from shipmate.services.runs import journal
from shipmate.services.runs.records import RunRecord, RunStepRecord
from shipmate.store.pair_ids import find_pair_ids
from shipmate.store.schema import current_state, deployments

__all__ = ["DatabaseRunBackend", "RunBackend", "current_deployment"]


class RunBackend(Protocol):
    """What driving a run needs from the place its journal lives."""

    #: The database context when the journal is local (None on an agent).
    ctx: Context | None

    def now(self) -> datetime: ...

    def begin_step(
        self, run_id: int, owner: str, seq: int, step: Step, *, attempt: int = 1
    ) -> RunStepRecord:
        """Write that step ``seq`` acts; ``attempt`` is the attempt number its row has
        afterwards (what a retried begin needs to be a no-op)."""
        ...

    def finish_step(
        self,
        run_id: int,
        owner: str,
        seq: int,
        result: StepResult,
        *,
        duration_ms: int,
        run_updates: Mapping[str, Any] | None = None,
    ) -> None: ...

    def finish_run(self, run_id: int, owner: str, end: FlowEnd) -> RunRecord: ...

    def heartbeat(self, run_id: int, owner: str) -> bool: ...

    def release_run(self, run_id: int, owner: str) -> None: ...

    def record_deployment(self, run_id: int, seq: int, request: RecordRequest) -> DeploymentRecord:
        """Record for step ``seq`` of ``run_id`` (the request carries its idempotency key)."""
        ...

    def current_deployment(
        self, run_id: int, product: str, environment: str
    ) -> tuple[int, str] | None:
        """The current deployment's id and full version in ``product``/``environment``."""
        ...

    def progress(self, run_id: int, seq: int, message: str) -> None: ...

    def await_verdict(self, run_id: int, owner: str, wait: float) -> dict[str, Any]:
        """Wait up to ``wait`` seconds for a rollout's verdict for this host's run:
        ``{"verdict": "continue" | "revert" | None, "reason": ...}``."""
        ...


def current_deployment(ctx: Context, product: str, environment: str) -> tuple[int, str] | None:
    """The id and full version of the current deployment of ``product`` in ``environment``."""
    with ctx.read() as conn:
        ids = find_pair_ids(conn, product, environment)
        if ids is None:
            return None
        pid, eid = ids
        row = conn.execute(
            select(current_state.c.deployment_id, deployments.c.full_version)
            .join(deployments, deployments.c.id == current_state.c.deployment_id)
            .where(current_state.c.product_id == pid, current_state.c.environment_id == eid)
        ).first()
    return None if row is None else (int(row.deployment_id), str(row.full_version))


class DatabaseRunBackend:
    """The journal and the records in this process's database (see the module docstring)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx: Context | None = ctx
        self._ctx = ctx

    def now(self) -> datetime:
        return self._ctx.now()

    def begin_step(
        self, run_id: int, owner: str, seq: int, step: Step, *, attempt: int = 1
    ) -> RunStepRecord:
        return journal.begin_step(self._ctx, run_id, owner, seq, step)

    def finish_step(
        self,
        run_id: int,
        owner: str,
        seq: int,
        result: StepResult,
        *,
        duration_ms: int,
        run_updates: Mapping[str, Any] | None = None,
    ) -> None:
        journal.finish_step(
            self._ctx, run_id, owner, seq, result, duration_ms=duration_ms, run_updates=run_updates
        )

    def finish_run(self, run_id: int, owner: str, end: FlowEnd) -> RunRecord:
        return journal.finish_run(self._ctx, run_id, owner, end)

    def heartbeat(self, run_id: int, owner: str) -> bool:
        return journal.heartbeat(self._ctx, run_id, owner)

    def release_run(self, run_id: int, owner: str) -> None:
        journal.release_run(self._ctx, run_id, owner)

    def record_deployment(self, run_id: int, seq: int, request: RecordRequest) -> DeploymentRecord:
        return record_deployment(self._ctx, request)

    def current_deployment(
        self, run_id: int, product: str, environment: str
    ) -> tuple[int, str] | None:
        return current_deployment(self._ctx, product, environment)

    def progress(self, run_id: int, seq: int, message: str) -> None:
        """Local runs show progress through their observer only."""

    def await_verdict(self, run_id: int, owner: str, wait: float) -> dict[str, Any]:
        """The rollout's verdict for a host's run driven on the database (see
        :mod:`shipmate.services.rollouts.awaiting`)."""
        from shipmate.services.rollouts.awaiting import await_verdict_of

        return await_verdict_of(self._ctx, journal.get_run(self._ctx, run_id), owner, wait)
