"""Creating a rollout: the coordinating run and one child run per host, in one transaction.

The coordinating run holds the environment's lock (a second deploy is refused as
for one host) and stores in ``params.rollout`` the hosts in order, the strategy,
the batch, each host's child run id, and later the verdicts and the end
(:mod:`shipmate.services.rollouts.coordinator`).  Children of the first batch are
claimable at once; the others are created ``queued``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, update

from shipmate.domain.deploy.hosts import EnvironmentHosts
from shipmate.domain.fleet.rollout import RolloutPlan
from shipmate.services.context import Context
from shipmate.services.rollouts.coordinator import ChildSpec, insert_children, supersede_children
from shipmate.services.runs.journal import RunRecord, create_run, get_run
from shipmate.services.runs.live import LiveRuns, live_runs
from shipmate.store.schema_runs import runs

__all__ = ["create_rollout"]


def create_rollout(
    ctx: Context,
    children: Sequence[ChildSpec],
    env: EnvironmentHosts,
    *,
    record: dict[str, Any],
    actor: str | None,
    supersede: bool,
    precondition: Callable[[Connection], None],
    on_created: Callable[[Connection, int], None],
    live: LiveRuns = live_runs,
) -> RunRecord:
    """Create the rollout of ``children`` (one per host, in plan order)."""
    lead = children[0].plan
    strategy = env.strategy_for(lead.kind)
    plan = RolloutPlan(tuple(c.host for c in children), strategy=strategy, batch=env.batch)
    first = plan.batches[0]
    rollout: dict[str, Any] = {
        "hosts": list(plan.hosts),
        "strategy": plan.strategy,
        "batch": plan.batch,
        "verdicts": {},
    }

    def created(conn: Connection, run_id: int) -> None:
        if supersede:
            hosts = plan.hosts
            supersede_children(conn, lead.product, lead.environment, hosts, run_id, ctx.now())
        ids = insert_children(conn, run_id, children, first, actor=actor, now=ctx.now())
        params = {"plan": lead.to_dict(), "record": record, "rollout": {**rollout, "children": ids}}
        conn.execute(update(runs).where(runs.c.id == run_id).values(params=params))
        on_created(conn, run_id)

    run = create_run(
        ctx,
        kind=lead.kind,
        product=lead.product,
        environment=lead.environment,
        version=lead.version,
        full_version=lead.full_version,
        build_number=lead.build_number,
        params={"plan": lead.to_dict(), "record": record, "rollout": rollout},
        actor=actor,
        owner=None,
        host=None,
        reverts_id=lead.reverts_id,
        supersede=supersede,
        precondition=precondition,
        on_created=created,
    )
    live.changed(run.id)
    for host in first:
        live.host_work(host)
    return get_run(ctx, run.id)
