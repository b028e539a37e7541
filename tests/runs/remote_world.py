"""What the remote-run tests share: a server configuration with a deploy table that
names its hosts, registered hosts, and an in-process stand-in for an agent.

The stand-in does what an agent does, through the database instead of HTTP: it
claims the run the server created for its host (:func:`claim_run`) and drives it
with :class:`RunDriver` and the given engine parts.  The run, the journal and the
records are real; only the transport differs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import insert

from shipmate.services.context import Context
from shipmate.services.deploys.config import RunParts
from shipmate.services.runs.driver import DriveResult, RunDriver
from shipmate.services.runs.journal import RunRecord, claim_run, get_run, new_owner
from shipmate.services.runs.live import live_runs
from shipmate.store.schema_agents import hosts

__all__ = ["drive_as_agent", "register_host", "with_deploy_table"]


def with_deploy_table(ctx: Context, table: Mapping[str, Any], product: str = "api") -> None:
    """Give the server ``table`` as ``[products.<product>.deploy]``."""
    from dataclasses import replace

    sections = dict(ctx.settings.sections)
    sections["products"] = {product: {"deploy": dict(table)}}
    ctx.settings = replace(ctx.settings, sections=sections)


def register_host(ctx: Context, name: str, labels: Mapping[str, str] | None = None) -> None:
    """A host as an agent's hello leaves it."""
    now = ctx.now()
    with ctx.write() as conn:
        conn.execute(
            insert(hosts).values(
                name=name,
                labels=dict(labels or {}),
                agent_version="test",
                registered_at=now,
                last_seen_at=now,
            )
        )


def drive_as_agent(
    ctx: Context, run_id: int, parts: Callable[[RunRecord], RunParts], **driver: Any
) -> DriveResult:
    """Claim the run and drive it to its end, as the run's host's agent would."""
    owner = new_owner()
    run = claim_run(ctx, run_id, owner)
    live_runs.changed(run_id)
    result = RunDriver(ctx, run, owner=owner, parts_factory=parts, **driver).drive()
    live_runs.changed(run_id)
    assert get_run(ctx, run_id).status != "running" or result.end is None
    return result
