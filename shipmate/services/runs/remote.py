"""Runs a server creates for a host's agent: ``POST /api/v1/runs``.

The server never executes a step.  It validates the request against its own
configuration (the product's deploy table in the server's ``shipmate.toml``), picks
the hosts that serve the environment (:mod:`shipmate.domain.deploy.hosts`), checks
every targeted host's merged table, builds the plan, evaluates the deployment gates
and only then creates a run with ``host=H`` and no owner, waiting for that host's
agent to claim it.  A refused request creates nothing (a gate refusal still leaves
its ``gate.blocked`` audit event, as a local deploy's does).

* A rollback picks its target exactly like a local one
  (:func:`~shipmate.services.deploys.rollback.choose_rollback`), and its run is only
  created if the current deployment is still the one chosen (and, when the caller
  showed one, the one it showed: ``current_id``).
* A plan with hook steps (release actions, drain checks) is refused for now: those
  steps need the database on the host running them.
* One host: one run.  Several hosts: a rollout (:mod:`shipmate.services.rollouts`),
  a coordinating run and one run per host.
* An ``Idempotency-Key`` is stored in the transaction that creates the run, so a
  retried request returns the same run.
* ``dry_run`` validates everything (gates included) and answers what would run
  where, creating nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import Connection, select

from shipmate.domain.deploy.hosts import (
    host_table,
    parse_host_groups,
    resolve_hosts,
    validate_host_table,
)
from shipmate.domain.inputs.fields import validate_name, validate_text
from shipmate.domain.runs.model import RunPlan
from shipmate.errors import (
    ConfigError,
    ConflictError,
    GateBlockedError,
    InvalidInputError,
    RequestConfigError,
)
from shipmate.services.context import Context
from shipmate.services.deploys.config import ProductDeploy, load_product_deploy
from shipmate.services.deploys.deploy import make_plan
from shipmate.services.deploys.rollback import RollbackChoice, choose_rollback, still_current
from shipmate.services.gates.facts import GateSubject, find_version_id
from shipmate.services.gates.verdicts import check_gates, record_blocked
from shipmate.services.rollouts.coordinator import ChildSpec
from shipmate.services.rollouts.creation import create_rollout
from shipmate.services.runs.journal import RunRecord, create_run, get_run
from shipmate.services.runs.live import LiveRuns, live_runs
from shipmate.store.catalog import find_environment_id, find_product_id
from shipmate.store.idempotency import lookup, remember, request_hash, validate_key
from shipmate.store.schema_agents import hosts

__all__ = [
    "RemoteRunRequest",
    "RemoteRunResult",
    "create_remote_run",
    "registered_hosts",
]

_KINDS = ("deploy", "rollback")
_OPERATION = "create_run"
_TEXT_FIELDS = (
    "deployed_by",
    "commit_sha",
    "branch",
    "repository",
    "ci_platform",
    "ci_run_id",
    "ci_run_url",
)


@dataclass(frozen=True)
class RemoteRunRequest:
    """What ``POST /api/v1/runs`` asks for."""

    kind: str
    product: str
    environment: str
    version: str | None = None
    build_number: int | None = None
    #: Rollback: the version (or full version) to roll back to; default the previous good one.
    to: str | None = None
    #: Rollback: how many completed versions back (default 1; not with ``to``).
    steps: int | None = None
    #: Rollback: the current deployment the caller was shown (refused if it changed).
    current_id: int | None = None
    deployed_by: str | None = None
    commit_sha: str | None = None
    branch: str | None = None
    repository: str | None = None
    ci_platform: str | None = None
    ci_run_id: str | None = None
    ci_run_url: str | None = None
    dry_run: bool = False
    idempotency_key: str | None = None
    #: The key asking (recorded as the actor when no deployed_by is given).
    key_name: str | None = None


@dataclass(frozen=True)
class RemoteRunResult:
    """The run created (``run``), or for a dry run what would be created."""

    run: RunRecord | None
    plan: RunPlan
    hosts: tuple[str, ...]
    choice: RollbackChoice | None = None
    #: The request was a retry of one that already created ``run``.
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "dry_run": self.run is None,
            "hosts": list(self.hosts),
            "plan": self.plan.to_dict(),
        }
        if self.run is not None:
            body["run"] = self.run.to_dict(with_steps=True)
        if self.choice is not None:
            body["rollback"] = self.choice.to_dict()
        return body


def _as_request_error(exc: ConfigError) -> ConfigError:
    """A server-side configuration error answers 422 (the request cannot be served)."""
    return RequestConfigError(exc.message, field=exc.field, **exc.details)


def registered_hosts(ctx: Context) -> dict[str, dict[str, Any]]:
    """Every host an agent registered and that is not archived: name -> labels."""
    with ctx.read() as conn:
        rows = conn.execute(
            select(hosts.c.name, hosts.c.labels).where(hosts.c.archived_at.is_(None))
        ).all()
    return {str(r.name): dict(r.labels or {}) for r in rows}


def _text_fields(req: RemoteRunRequest) -> dict[str, str | None]:
    return {
        name: validate_text(getattr(req, name), field=name, max_length=2000)
        for name in _TEXT_FIELDS
    }


def _digest(req: RemoteRunRequest) -> str:
    data = asdict(req)
    data.pop("key_name", None)
    return request_hash(data)


def _replay(ctx: Context, key: str, digest: str) -> RunRecord | None:
    with ctx.read() as conn:
        run_id = lookup(conn, key, _OPERATION, digest)
    return None if run_id is None else get_run(ctx, run_id)


def _host_deploy(deploy: ProductDeploy, host: str) -> ProductDeploy:
    """The deploy table as ``host`` runs it, checked (errors name the host)."""
    config = validate_host_table(deploy.raw, host, prefix=deploy.prefix)
    return ProductDeploy(
        product=deploy.product,
        config=config,
        raw=host_table(deploy.raw, host),
        prefix=deploy.prefix,
        # The agent replaces it with its own data directory.
        state_dir=deploy.state_dir,
    )


def _refuse_hooks(plan: RunPlan) -> None:
    hooks = [*plan.before_start, *plan.before_retire]
    if hooks:
        titles = "; ".join(step.title for step in hooks)
        raise InvalidInputError(
            f"this {plan.kind} needs steps an agent cannot run yet ({titles}): release "
            "actions and drain checks need the database on the host; run it there with "
            "shipmate on the database instead",
            field="product",
            steps=[step.name for step in hooks],
        )


def _gate_check(ctx: Context, plan: RunPlan, deployer: str | None) -> Callable[[Connection], None]:
    """The gates a deployment entering ``started`` passes, in the run's transaction."""

    def check(conn: Connection) -> None:
        product_id = find_product_id(conn, plan.product)
        subject = GateSubject(
            product=plan.product,
            environment=plan.environment,
            version=plan.version,
            deployer=deployer,
            product_id=product_id,
            environment_id=find_environment_id(conn, plan.environment),
            version_id=find_version_id(conn, product_id, plan.version),
        )
        check_gates(conn, ctx, subject, now=ctx.now())

    return check


def _as_shown(choice: RollbackChoice, shown: int | None) -> Callable[[Connection], None]:
    """The rollback's choice still holds, and is what the caller was shown."""
    holds = still_current(choice)

    def check(conn: Connection) -> None:
        if shown is not None and shown != choice.current.id:
            raise ConflictError(
                f"{choice.product} in {choice.environment} changed since it was shown: the "
                f"current deployment is {choice.current.id} ({choice.current.full_version}), "
                f"not {shown}; nothing was rolled back, run shipmate rollback again",
                field="environment",
                shown_deployment_id=str(shown),
                current_deployment_id=str(choice.current.id),
            )
        holds(conn)

    return check


def _both(*checks: Callable[[Connection], None]) -> Callable[[Connection], None]:
    def check(conn: Connection) -> None:
        for one in checks:
            one(conn)

    return check


def _validated_kind(kind: object) -> str:
    if kind not in _KINDS:
        raise InvalidInputError(
            f"kind must be one of: {', '.join(_KINDS)}", field="kind", allowed=list(_KINDS)
        )
    return str(kind)


def create_remote_run(
    ctx: Context, req: RemoteRunRequest, *, live: LiveRuns = live_runs
) -> RemoteRunResult:
    """Validate ``req`` and create its run for the host's agent (see the module docstring)."""
    kind = _validated_kind(req.kind)
    key = validate_key(req.idempotency_key)
    digest = _digest(req) if key else ""
    if key and not req.dry_run and (again := _replay(ctx, key, digest)) is not None:
        plan = RunPlan.from_dict(again.params["plan"])
        return RemoteRunResult(again, plan, _hosts_of(again), replayed=True)
    product = validate_name(req.product, field="product", max_length=255)
    environment = validate_name(req.environment, field="environment")
    text = _text_fields(req)
    actor = text["deployed_by"] or req.key_name
    try:
        deploy = load_product_deploy(ctx.settings, product)
        groups = parse_host_groups(deploy.raw, prefix=deploy.prefix)
        targets = resolve_hosts(groups, environment, registered_hosts(ctx))
        per_host = [_host_deploy(deploy, host) for host in targets]
    except ConfigError as exc:
        raise _as_request_error(exc) from None
    choice: RollbackChoice | None = None
    if kind == "rollback":
        if req.version is not None or req.build_number is not None:
            raise InvalidInputError(
                "a rollback takes to (the version to roll back to), not version", field="version"
            )
        choice = choose_rollback(ctx, product, environment, to=req.to, steps=req.steps)
    elif req.to is not None or req.current_id is not None or req.steps is not None:
        raise InvalidInputError("to, steps and current_id are for rollbacks", field="to")
    elif not req.version:
        raise InvalidInputError("version is required for a deploy", field="version")
    plans = [_plan_for(ctx, d, kind, environment, req, choice) for d in per_host]
    if len(targets) > 1:
        plans = [replace(p, awaits_rollout=True) for p in plans]
    for one in plans:
        _refuse_hooks(one)
    host, host_deploy, plan = targets[0], per_host[0], plans[0]
    gates = _gate_check(ctx, plan, req.key_name or actor)
    precondition = gates if choice is None else _both(_as_shown(choice, req.current_id), gates)
    record = {**text, "deployed_by": actor}
    if req.dry_run:
        return _dry_run(ctx, plan, targets, choice, precondition, actor, req.key_name)

    def remember_key(conn: Connection, run_id: int) -> None:
        if key:
            remember(conn, key, _OPERATION, digest, run_id, ctx.now())

    try:
        if len(targets) > 1:
            specs = [
                ChildSpec(h, p, _child_params(p, d, record, h))
                for h, p, d in zip(targets, plans, per_host, strict=True)
            ]
            run = create_rollout(
                ctx,
                specs,
                groups.for_environment(environment),
                record=record,
                actor=actor,
                supersede=kind == "rollback",
                precondition=precondition,
                on_created=remember_key,
                live=live,
            )
            return RemoteRunResult(run, plan, targets, choice)
        run = create_run(
            ctx,
            kind=plan.kind,
            product=plan.product,
            environment=plan.environment,
            version=plan.version,
            full_version=plan.full_version,
            build_number=plan.build_number,
            params=_child_params(plan, host_deploy, record, host),
            actor=actor,
            owner=None,
            host=host,
            reverts_id=plan.reverts_id,
            supersede=kind == "rollback",
            precondition=precondition,
            on_created=remember_key,
        )
    except GateBlockedError as exc:
        record_blocked(ctx, exc, now=ctx.now(), actor=actor, key_name=req.key_name)
        raise
    except ConflictError:
        # The same request, sent twice at once: the other one created the run.
        if key and (again := _replay(ctx, key, digest)) is not None:
            return RemoteRunResult(again, plan, _hosts_of(again), choice, replayed=True)
        raise
    live.changed(run.id)
    live.host_work(host)
    return RemoteRunResult(run, plan, (host,), choice)


def _hosts_of(run: RunRecord) -> tuple[str, ...]:
    rollout = run.params.get("rollout") or {}
    return tuple(rollout.get("hosts") or (str(run.agent_host),))


def _plan_for(
    ctx: Context,
    deploy: ProductDeploy,
    kind: str,
    environment: str,
    req: RemoteRunRequest,
    choice: RollbackChoice | None,
) -> RunPlan:
    """The plan one host runs (each host's merged table may differ)."""
    if choice is not None:
        return make_plan(
            ctx,
            deploy,
            kind="rollback",
            environment=environment,
            version=choice.target.version,
            build_number=choice.target.build_number,
            reverts_id=choice.current.id,
        )
    return make_plan(
        ctx,
        deploy,
        kind="deploy",
        environment=environment,
        version=str(req.version),
        build_number=req.build_number,
    )


def _child_params(
    plan: RunPlan, deploy: ProductDeploy, record: dict[str, Any], host: str
) -> dict[str, Any]:
    return {"plan": plan.to_dict(), "deploy": deploy.to_params(), "record": record, "host": host}


def _dry_run(
    ctx: Context,
    plan: RunPlan,
    targets: tuple[str, ...],
    choice: RollbackChoice | None,
    precondition: Callable[[Connection], None],
    actor: str | None,
    key_name: str | None,
) -> RemoteRunResult:
    """Every check the real request makes, in a transaction that is never committed."""
    try:
        with ctx.read() as conn:
            precondition(conn)
    except GateBlockedError as exc:
        record_blocked(ctx, exc, now=ctx.now(), actor=actor, key_name=key_name)
        raise
    return RemoteRunResult(None, plan, targets, choice)
