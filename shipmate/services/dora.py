"""DORA metrics from shipmate's own records: gather the facts, then compute.

The figures, their definitions and the bands are :mod:`shipmate.domain.dora`'s;
this module decides *which* deployments and *which* commit times go in.

Which deployments
=================

Those of one product, or of every product, in one environment, or (by default)
in every environment whose kind is ``production``, that finished in the period
``[since, until)`` (``until`` defaults to now, ``since`` to ``until`` minus
``days``, 90 by default).  Each product@environment pair is one *stream*:
recovery is matched within a stream, every other figure adds up over all of
them.  One indexed query reads them all (``ix_deployments_status``), each with
its rollback mark's time (``ix_events_deployment_id``) and whether a rollback of
the period reverts it, plus one grouped query for the deployment each stream was
running when the period began.

Which commit times (lead time)
==============================

For each completed deployment that is not a rollback, the commits it *newly
shipped*: those reachable from its commit but not from the commit of the
stream's previous completed (or later rolled-back) deployment, the one it
replaced.

* When the product has a local repository (``[products.<name>] repository``
  in the configuration, or the ``repo`` argument, see
  :func:`shipmate.services.changelog.repository.repository_for`), git lists them:
  ``git log --format=%cI <previous sha>..<sha>``, merges included.  The first
  deployment of a stream, or one whose previous commit git does not know,
  counts only its own commit.  A commit git does not know at all falls back to
  the time recorded with the deployment.
* Without a repository, the deployed commit's recorded ``commit_time`` alone.
* A deployment of the same commit as the one it replaced ships no change and
  gives no sample, with or without a repository.  A deployment with neither a
  repository commit nor a recorded commit time gives no sample either.

``lead_time_sources`` in the result counts the deployments by where their
samples came from, so a report shows how much of it rests on the repository.

Which deployments went live
===========================

A ``completed`` or ``rolled_back`` deployment went live.  A ``failed`` one served
traffic only with evidence of it:

* its run recorded the failure after the switch (metadata ``failed_step`` is
  ``post_switch_health``: traffic had moved to it, then was switched back), or
* a completed ``rollback`` deployment that finished before the period's end
  reverts it (``reverts_id``): there was something to roll back.

Any other ``failed`` deployment never became current, so it did not go live: a
run that failed before or at the switch (which leaves traffic alone), and a plain
``shipmate record --status failed`` with no such evidence.  The report counts
those as *stopped before traffic*.

When a rolled-back deployment's rollback was recorded is the time of its
``deployment.rolled_back`` event (``updated_at`` for a row without one), so a
closed period never changes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import aliased

from shipmate.domain.dora import DeploymentFact, DoraReport, compute_dora, daily_series
from shipmate.domain.environments import EnvironmentKind
from shipmate.domain.inputs.fields import format_time
from shipmate.domain.lifecycle import DeploymentKind, Status
from shipmate.domain.runs.model import POST_SWITCH_HEALTH
from shipmate.errors import InvalidInputError, NotFoundError
from shipmate.services.changelog.repository import LocalRepository, repository_for
from shipmate.services.context import Context
from shipmate.store.catalog import find_environment_id, find_product_id
from shipmate.store.schema import deployments, environments, events, products

__all__ = [
    "DEFAULT_DAYS",
    "MAX_DAYS",
    "DoraResult",
    "FactSet",
    "StreamReport",
    "dora_report",
    "gather_facts",
    "resolve_period",
    "stream_key",
]

DEFAULT_DAYS = 90
MAX_DAYS = 3660
_FINISHED = [s.value for s in (Status.COMPLETED, Status.ROLLED_BACK, Status.FAILED, Status.ABORTED)]
_COMPLETED = (Status.COMPLETED.value, Status.ROLLED_BACK.value)
SOURCES = ("repository", "recorded_commit_time", "unchanged", "unknown")
#: The run steps after which a failed deployment had served traffic.
AFTER_SWITCH_STEPS = (POST_SWITCH_HEALTH,)


def resolve_period(
    now: datetime,
    *,
    days: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[datetime, datetime]:
    """``[since, until)``: until defaults to now, since to until minus ``days`` (90)."""
    if days is not None and since is not None:
        raise InvalidInputError("give days or since, not both", field="days")
    if days is not None and (
        isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS
    ):
        raise InvalidInputError(f"days must be a whole number from 1 to {MAX_DAYS}", field="days")
    end = until if until is not None else now
    start = since if since is not None else end - timedelta(days=days or DEFAULT_DAYS)
    if start >= end:
        raise InvalidInputError(
            f"since {format_time(start)} must be before until {format_time(end)}", field="since"
        )
    return start, end


def _same_commit(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    a, b = a.lower(), b.lower()
    if min(len(a), len(b)) < 7:
        return a == b
    return a.startswith(b) or b.startswith(a)


@dataclass(frozen=True)
class FactSet:
    """The facts of a period, the streams they belong to and where lead times came from."""

    facts: tuple[DeploymentFact, ...]
    environments: tuple[str, ...]
    streams: tuple[tuple[str, str], ...]  # (product, environment), sorted
    lead_time_sources: dict[str, int] = field(default_factory=dict)
    repositories: dict[str, str] = field(default_factory=dict)  # product -> path


def stream_key(product: str, environment: str) -> str:
    return f"{product}@{environment}"


def gather_facts(
    ctx: Context,
    *,
    period_start: datetime,
    period_end: datetime,
    product: str | None = None,
    environment: str | None = None,
    repo: str | Path | None = None,
) -> FactSet:
    """One :class:`DeploymentFact` per deployment finishing in the period (see the docstring)."""
    with ctx.read() as conn:
        product_id = None
        if product is not None:
            product_id = find_product_id(conn, product)
            if product_id is None:
                raise NotFoundError(f"product {product!r} does not exist", field="product")
        if environment is not None:
            env_id = find_environment_id(conn, environment)
            if env_id is None:
                raise NotFoundError(
                    f"environment {environment!r} does not exist", field="environment"
                )
            env_names = {env_id: environment}
        else:
            env_names = dict(
                conn.execute(
                    select(environments.c.id, environments.c.name).where(
                        environments.c.kind == EnvironmentKind.PRODUCTION.value
                    )
                ).all()
            )
        if not env_names:
            return FactSet((), (), (), dict.fromkeys(SOURCES, 0))
        where: list[ColumnElement[bool]] = [deployments.c.environment_id.in_(list(env_names))]
        if product_id is not None:
            where.append(deployments.c.product_id == product_id)
        marked_at = (
            select(func.min(events.c.at))
            .where(
                events.c.deployment_id == deployments.c.id,
                events.c.type == "deployment.rolled_back",
            )
            .scalar_subquery()
        )
        rollback = aliased(deployments)
        same_streams: list[ColumnElement[bool]] = [rollback.c.environment_id.in_(list(env_names))]
        if product_id is not None:
            same_streams.append(rollback.c.product_id == product_id)
        reverted = (
            select(rollback.c.reverts_id.label("id"))
            .where(
                *same_streams,
                rollback.c.status.in_(_COMPLETED),
                rollback.c.finished_at >= period_start,
                rollback.c.finished_at < period_end,
                rollback.c.kind == DeploymentKind.ROLLBACK.value,
                rollback.c.reverts_id.is_not(None),
            )
            .distinct()
            .subquery()
        )
        rows = conn.execute(
            select(
                deployments.c.id,
                deployments.c.product_id,
                deployments.c.environment_id,
                deployments.c.status,
                deployments.c.kind,
                deployments.c.started_at,
                deployments.c.finished_at,
                deployments.c.commit_sha,
                deployments.c.commit_time,
                deployments.c.updated_at,
                deployments.c.extra["failed_step"].as_string().label("failed_step"),
                # only a rolled-back deployment has a mark: the lookup runs for those alone
                case(
                    (deployments.c.status == Status.ROLLED_BACK.value, marked_at), else_=None
                ).label("marked_at"),
                reverted.c.id.label("reverted_by_rollback"),
            )
            .outerjoin(reverted, reverted.c.id == deployments.c.id)
            .where(
                *where,
                deployments.c.status.in_(_FINISHED),
                deployments.c.finished_at >= period_start,
                deployments.c.finished_at < period_end,
            )
            .order_by(deployments.c.finished_at, deployments.c.id)
        ).all()
        # What each stream was running when the period began: its latest completed
        # deployment before period_start (the tie on finished_at goes to the highest id).
        latest = (
            select(
                deployments.c.product_id,
                deployments.c.environment_id,
                func.max(deployments.c.finished_at).label("at"),
            )
            .where(
                *where,
                deployments.c.status.in_(_COMPLETED),
                deployments.c.finished_at < period_start,
            )
            .group_by(deployments.c.product_id, deployments.c.environment_id)
            .subquery()
        )
        before = conn.execute(
            select(
                deployments.c.product_id,
                deployments.c.environment_id,
                deployments.c.id,
                deployments.c.commit_sha,
            )
            .join(
                latest,
                and_(
                    deployments.c.product_id == latest.c.product_id,
                    deployments.c.environment_id == latest.c.environment_id,
                    deployments.c.finished_at == latest.c.at,
                ),
            )
            .where(deployments.c.status.in_(_COMPLETED))
            .order_by(deployments.c.id)
        ).all()
        product_ids = {r.product_id for r in rows}
        product_names = dict(
            conn.execute(
                select(products.c.id, products.c.name).where(products.c.id.in_(product_ids))
            ).all()
            if product_ids
            else []
        )
    previous: dict[tuple[int, int], str | None] = {}
    for b in before:  # ordered by id: the last one of a tie wins
        previous[(b.product_id, b.environment_id)] = b.commit_sha

    repos: dict[int, LocalRepository | None] = {}
    sources = dict.fromkeys(SOURCES, 0)
    facts: list[DeploymentFact] = []
    streams: set[tuple[str, str]] = set()
    for r in rows:
        pname, ename = product_names[r.product_id], env_names[r.environment_id]
        streams.add((pname, ename))
        key = (r.product_id, r.environment_id)
        times: tuple[datetime, ...] = ()
        completed = r.status in _COMPLETED
        if completed and r.kind != DeploymentKind.ROLLBACK.value:
            if r.product_id not in repos:
                repos[r.product_id] = repository_for(ctx.settings, pname, repo)
            local = repos[r.product_id]
            prev_sha = previous.get(key)
            found = None
            if _same_commit(prev_sha, r.commit_sha):
                sources["unchanged"] += 1
            else:
                if local is not None and r.commit_sha:
                    found = local.commit_times(prev_sha, r.commit_sha)
                if found is not None:
                    times = found
                    sources["repository"] += 1
                elif r.commit_time is not None:
                    times = (r.commit_time,)
                    sources["recorded_commit_time"] += 1
                else:
                    sources["unknown"] += 1
        if completed:
            previous[key] = r.commit_sha
        facts.append(
            DeploymentFact(
                id=int(r.id),
                status=r.status,
                started_at=r.started_at,
                finished_at=r.finished_at,
                commit_times=times,
                kind=r.kind,
                stream=stream_key(pname, ename),
                rolled_back_at=(
                    (r.marked_at or r.updated_at) if r.status == Status.ROLLED_BACK.value else None
                ),
                served_traffic=r.status == Status.FAILED.value
                and (r.failed_step in AFTER_SWITCH_STEPS or r.reverted_by_rollback is not None),
            )
        )
    return FactSet(
        facts=tuple(facts),
        environments=tuple(sorted(env_names.values())),
        streams=tuple(sorted(streams)),
        lead_time_sources=sources,
        repositories={
            product_names[pid]: str(local.path) for pid, local in repos.items() if local is not None
        },
    )


@dataclass(frozen=True)
class StreamReport:
    """The DORA report of one product in one environment."""

    product: str
    environment: str
    report: DoraReport
    daily: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "environment": self.environment,
            "stream": stream_key(self.product, self.environment),
            **self.report.to_dict(),
            "daily": list(self.daily),
        }


@dataclass(frozen=True)
class DoraResult:
    """The overall report, the daily series for charts, and one report per stream."""

    product: str | None
    environment: str | None
    environments: tuple[str, ...]
    report: DoraReport
    daily: tuple[dict[str, Any], ...]
    streams: tuple[StreamReport, ...]
    lead_time_sources: dict[str, int]
    repositories: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "environment": self.environment,
            "environments": list(self.environments),
            **self.report.to_dict(),
            "lead_time_sources": dict(self.lead_time_sources),
            "repositories": dict(self.repositories),
            "daily": list(self.daily),
            "streams": [s.to_dict() for s in self.streams],
        }


def _report(
    facts: Sequence[DeploymentFact], start: datetime, end: datetime
) -> tuple[DoraReport, tuple[dict[str, Any], ...]]:
    return (
        compute_dora(facts, period_start=start, period_end=end),
        tuple(daily_series(facts, start, end)),
    )


def dora_report(
    ctx: Context,
    *,
    product: str | None = None,
    environment: str | None = None,
    days: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    repo: str | Path | None = None,
) -> DoraResult:
    """DORA metrics of a product (or every product) in an environment (or every production one)."""
    start, end = resolve_period(ctx.now(), days=days, since=since, until=until)
    found = gather_facts(
        ctx,
        period_start=start,
        period_end=end,
        product=product,
        environment=environment,
        repo=repo,
    )
    overall, daily = _report(found.facts, start, end)
    by_stream: dict[str, list[DeploymentFact]] = defaultdict(list)
    for fact in found.facts:
        by_stream[fact.stream].append(fact)
    streams = []
    for pname, ename in found.streams:
        report, series = _report(by_stream[stream_key(pname, ename)], start, end)
        streams.append(StreamReport(pname, ename, report, series))
    return DoraResult(
        product=product,
        environment=environment,
        environments=found.environments,
        report=overall,
        daily=daily,
        streams=tuple(streams),
        lead_time_sources=found.lead_time_sources,
        repositories=found.repositories,
    )
