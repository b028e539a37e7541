"""``shipmate drain check``: finish the retirement of the versions a run left draining.

A run whose drain reached its deadline with ``on_deadline = "keep"`` ends
``completed_draining`` and leaves the old slot running; :func:`check_draining`
(the command, ``POST /api/v1/drain/check``, and the server's
:class:`~shipmate.services.draining.watcher.DrainWatcher`) reads the check again
and stops the slot once it drained.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipmate.domain.fielddicts import fields_dict
from shipmate.engine.drain.config import make_drain_check
from shipmate.engine.drain.waiting import wait_drained
from shipmate.errors import ConfigError, DeployError, ShipmateError
from shipmate.services.context import Context
from shipmate.services.deploys.config import RunParts, parts_from_params
from shipmate.services.draining.recording import force_retired_event, mark_drained, progress_writer
from shipmate.services.draining.retire import DRAIN_STEP, drain_config_of
from shipmate.services.draining.states import list_version_states, transition, update_pending
from shipmate.services.runs.journal import RunRecord, get_run, list_runs

if TYPE_CHECKING:
    from shipmate.services.draining.states import VersionState

__all__ = ["DrainReport", "PartsFor", "check_draining"]


@dataclass(frozen=True)
class DrainReport:
    """What :func:`check_draining` did with one version."""

    product: str
    environment: str
    full_version: str
    slot: str | None
    #: retired | draining | active | busy | error
    outcome: str
    message: str
    pending: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self)


PartsFor = Callable[[RunRecord], RunParts]


def _running_run(ctx: Context, product: str, environment: str) -> RunRecord | None:
    found = list_runs(ctx, product=product, environment=environment, status="running", limit=1)
    return found[0] if found else None


def _drain_table_of(run: RunRecord) -> tuple[Mapping[str, Any], str] | None:
    for step in run.steps:
        if step.name == DRAIN_STEP and isinstance(step.args.get("drain"), Mapping):
            return step.args["drain"], str(step.args.get("prefix", "deploy"))
    stored = run.params.get("deploy") or {}
    raw = stored.get("raw") or {}
    if isinstance(raw, Mapping) and isinstance(raw.get("drain"), Mapping):
        return raw["drain"], str(stored.get("prefix", "deploy"))
    return None


def check_draining(
    ctx: Context,
    product: str | None = None,
    environment: str | None = None,
    *,
    force: bool = False,
    wait: bool = False,
    parts_for: PartsFor | None = None,
    say: Callable[[str, str], None] | None = None,
) -> list[DrainReport]:
    """Finish the retirement of every version a run left draining (``shipmate drain check``).

    For each draining (or drained, not yet retired) version: skip it when a run of
    its product and environment is in progress; mark it ``active`` when it is the
    current deployment again (a rollback switched back to it); otherwise read its
    check ``consecutive_zeros`` times ``interval`` apart (``wait``: until drained or
    its deadline) and, once drained, stop its slot and mark it ``retired``.
    ``force`` retires it whatever its count (recorded as ``version.force_retired``).
    ``say(full_version, message)`` hears every reading.
    """
    reports: list[DrainReport] = []
    rows = list_version_states(ctx, product, environment, states=("draining", "drained"))
    for row in rows:
        try:
            reports.append(
                _check_one(ctx, row, force=force, wait=wait, parts_for=parts_for, say=say)
            )
        except ShipmateError as exc:
            reports.append(
                DrainReport(
                    row.product, row.environment, row.full_version, row.slot, "error", exc.message
                )
            )
    return reports


def _check_one(
    ctx: Context,
    row: VersionState,
    *,
    force: bool,
    wait: bool,
    parts_for: PartsFor | None,
    say: Callable[[str, str], None] | None,
) -> DrainReport:
    def report(outcome: str, message: str, pending: int | None = None) -> DrainReport:
        return DrainReport(
            row.product, row.environment, row.full_version, row.slot, outcome, message, pending
        )

    key = row.key
    busy = _running_run(ctx, row.product, row.environment)
    if busy is not None:
        return report(
            "busy", f"run {busy.id} is in progress in {row.environment}; checked again later"
        )
    if row.run_id is None:
        return report("error", "no run recorded this version's drain; nothing to check with")
    run = get_run(ctx, row.run_id)
    parts = (parts_for or (lambda r: parts_from_params(r.product, r.params)))(run)
    live = parts.switch.current()
    slot = row.slot
    if slot is not None and live is not None and live.slot == slot:
        transition(ctx, key, "active", note="it takes traffic again")
        return report("active", f"slot {slot} takes traffic again, so it is active")
    running = parts.target.running_version(slot) if slot is not None else None
    if slot is None or running != row.full_version:
        transition(ctx, key, "retired", note="its slot no longer runs it")
        what = running or "nothing"
        return report("retired", f"slot {slot} runs {what} now; marked retired")
    found = _drain_table_of(run)
    if found is None:
        raise ConfigError(
            f"run {run.id} holds no drain configuration for {row.full_version}", field="drain"
        )
    config = drain_config_of(*found)
    check = make_drain_check(config)

    def tell(message: str) -> None:
        if say is not None:
            say(row.full_version, message)

    progress = progress_writer(None, ctx, key, tell)
    if force:
        try:
            pending: int | None = check.pending(row.full_version)
        except DeployError:
            pending = None
        force_retired_event(ctx, key, pending, config, 0.0, run.actor)
        parts.target.stop(slot)
        transition(
            ctx, key, "retired", forced=True, forced_pending=pending, note="retired with --force"
        )
        return report("retired", f"slot {slot} retired with --force ({pending} pending)", pending)
    if row.state != "drained":
        if wait:
            started = row.drain_started_at or row.since
            already = max(0.0, (ctx.now() - started).total_seconds())
            deadline = max(
                config.deadline - already, config.interval * (config.consecutive_zeros - 1)
            )
        else:
            deadline = config.interval * (config.consecutive_zeros - 1)
        result = wait_drained(
            check,
            row.full_version,
            consecutive_zeros=config.consecutive_zeros,
            interval=config.interval,
            deadline=deadline,
            on_progress=progress,
        )
        if not result.drained:
            update_pending(ctx, key, result.last_pending)
            return report(
                "draining",
                f"{result.last_pending} pending; slot {slot} keeps running",
                result.last_pending,
            )
        mark_drained(ctx, key, check, run.id, actor=run.actor)
    # Stop only what we checked: the slot still runs this version and takes no traffic.
    parts.target.stop(slot)
    transition(ctx, key, "retired")
    return report("retired", f"drained; slot {slot} stopped", 0)
