"""What a drain writes down: the pending count as it goes, drained, force-retired.

Shared by the ``drain`` step of a run (:mod:`shipmate.services.draining.retire`)
and by ``shipmate drain check`` (:mod:`shipmate.services.draining.check`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from shipmate.domain.versions import parse_full_version
from shipmate.engine.drain.config import DrainConfig
from shipmate.engine.drain.waiting import DrainCheck, ProgressCallback
from shipmate.errors import DeployError, ShipmateError
from shipmate.services.context import Context
from shipmate.services.draining.states import VersionKey, VersionState, transition, update_pending
from shipmate.services.runs.steps import StepEnv
from shipmate.store.catalog import find_environment_id, find_product_id
from shipmate.store.deployments import append_event

__all__ = ["force_retired_event", "mark_drained", "progress_writer", "version_key"]

#: At most one stored pending count per this many seconds while it does not change.
_STORE_EVERY = 5.0


def version_key(product: str, environment: str, full_version: str) -> VersionKey:
    return VersionKey(product, environment, parse_full_version(full_version).version, full_version)


def progress_writer(
    env: StepEnv | None, ctx: Context, key: VersionKey, say: Callable[[str], None] | None = None
) -> ProgressCallback:
    last: dict[str, Any] = {"pending": object(), "at": -1e9}

    def progress(pending: int | None, elapsed: float, error: DeployError | None) -> None:
        if error is not None:
            message = f"reading failed ({elapsed:.0f}s): {error.message}"
        else:
            message = f"{pending} pending ({elapsed:.0f}s)"
        if env is not None:
            env.progress(message)
        if say is not None:
            say(message)
        if pending is not None and (
            pending != last["pending"] or elapsed - last["at"] >= _STORE_EVERY
        ):
            last["pending"], last["at"] = pending, elapsed
            with contextlib.suppress(ShipmateError):  # the count is for people only
                update_pending(ctx, key, pending)

    return progress


def force_retired_event(
    ctx: Context,
    key: VersionKey,
    pending: int | None,
    config: DrainConfig,
    waited: float,
    actor: str | None,
) -> None:
    """``version.force_retired`` in the audit log: the version and the count left behind."""
    with ctx.write() as conn:
        append_event(
            conn,
            type="version.force_retired",
            at=ctx.now(),
            actor=actor,
            product_id=find_product_id(conn, key.product),
            environment_id=find_environment_id(conn, key.environment),
            data={
                "product": key.product,
                "environment": key.environment,
                "version": key.version,
                "full_version": key.full_version,
                "pending": pending,
                "deadline": config.deadline,
                "waited_seconds": round(waited, 3),
                "reason": f"drain deadline of {config.deadline:g}s passed with "
                f"{'an unknown number' if pending is None else pending} pending",
            },
        )


def mark_drained(
    ctx: Context, key: VersionKey, check: DrainCheck, run_id: int | None, *, actor: str | None
) -> VersionState:
    return transition(
        ctx,
        key,
        "drained",
        run_id=run_id,
        event="version.drained",
        event_data={"check": check.describe()},
        actor=actor,
    )
