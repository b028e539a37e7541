"""``shipmate deploy``: a blue-green deploy as a durable run.

:func:`deploy` validates the request, opens a run (taking the product/environment
lock), and drives :func:`~shipmate.domain.runs.plan.blue_green_flow` with real steps;
:func:`preview_deploy` (``--dry-run``) reads where traffic goes and lists the steps
without changing anything.  Rollbacks (:mod:`shipmate.services.deploys.rollback`) and
resumes (:mod:`shipmate.services.runs.control`) share :func:`start_run` and
:class:`RunOutcome`.

Extension point: a *hook provider* (:func:`register_hook_provider`) is asked, when a
run is created, for steps to put before the app starts (interim versions' actions)
and before the old slot retires (drain checks).  They are stored with the run, so
a resumed run runs exactly the same steps.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict, Unpack

from sqlalchemy import Connection

from shipmate.domain.inputs.fields import validate_name, validate_text
from shipmate.domain.runs.plan import (
    FlowEnd,
    LiveState,
    RunPlan,
    Step,
    choose_slot,
    describe_failure_handling,
    preview,
)
from shipmate.domain.versions import (
    format_full_version,
    parse_full_version,
    reconcile_build_number,
    validate_base_version,
)
from shipmate.errors import DeployError, InvalidInputError, RolledBackError, ShipmateError
from shipmate.services.context import Context
from shipmate.services.deploys.config import ProductDeploy, RunParts, build_parts
from shipmate.services.records.deployments import default_actor
from shipmate.services.runs.driver import CrashPoint, PartsFactory, RunDriver
from shipmate.services.runs.journal import RunRecord, create_run, get_run, new_owner
from shipmate.services.runs.live import live_runs
from shipmate.services.runs.observer import RunObserver
from shipmate.services.runs.records import this_host
from shipmate.services.runs.steps import observe_live

__all__ = [
    "DeployRequest",
    "HookProvider",
    "RunHooks",
    "RunOptions",
    "RunOutcome",
    "RunPreview",
    "deploy",
    "error_for",
    "make_plan",
    "open_run",
    "preview_deploy",
    "preview_run",
    "register_hook_provider",
    "start_run",
]


@dataclass(frozen=True)
class DeployRequest:
    """Who deploys what where, and the CI metadata to record with it."""

    product: str
    environment: str
    version: str
    build_number: int | None = None
    actor: str | None = None
    commit_sha: str | None = None
    branch: str | None = None
    repository: str | None = None
    ci_platform: str | None = None
    ci_run_id: str | None = None
    ci_run_url: str | None = None

    def record_fields(self) -> dict[str, Any]:
        return {
            "deployed_by": self.actor or default_actor(),
            "commit_sha": self.commit_sha,
            "branch": self.branch,
            "repository": self.repository,
            "ci_platform": self.ci_platform,
            "ci_run_id": self.ci_run_id,
            "ci_run_url": self.ci_run_url,
        }


@dataclass(frozen=True)
class RunHooks:
    before_start: tuple[Step, ...] = ()
    before_retire: tuple[Step, ...] = ()


#: ``provider(ctx, plan) -> RunHooks``: extra steps for a run about to be created.
HookProvider = Callable[[Context, RunPlan], RunHooks]
HOOK_PROVIDERS: list[HookProvider] = []
#: Modules that register hook providers when imported (imported by :func:`make_plan`).
HOOK_MODULES: tuple[str, ...] = (
    "shipmate.services.releases.hooks",
    "shipmate.services.draining.retire",
)


def register_hook_provider(provider: HookProvider) -> None:
    """Let another feature add steps to every new run (see the module docstring)."""
    HOOK_PROVIDERS.append(provider)


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended, as the caller (CLI, API) reports it."""

    run: RunRecord
    end: FlowEnd | None

    @property
    def ok(self) -> bool:
        return self.end is not None and self.end.status in ("completed", "completed_draining")

    @property
    def superseded(self) -> bool:
        """A rollback took over while this run kept its old slot warm."""
        return self.end is None and self.run.status == "superseded"

    @property
    def rolled_back(self) -> bool:
        """The deploy ended with its version not serving: switched back, or superseded."""
        if self.superseded:
            return True
        return self.end is not None and self.end.switched_back and self.run.kind == "deploy"

    def error(self) -> ShipmateError | None:
        """The failure as the error class of the step that failed (gate, health, ...).

        A deploy that ended rolled back is a :class:`RolledBackError` (exit code 4).
        """
        if self.superseded:
            return RolledBackError(
                f"run {self.run.id} was superseded while it kept its old slot warm: "
                f"{self.run.error or 'a rollback took over'}; {self.run.full_version} is not "
                "serving",
                field="run",
                run_id=str(self.run.id),
            )
        if self.end is None:
            return DeployError(
                f"run {self.run.id} stopped before it finished; resume it with "
                f"shipmate runs resume {self.run.id}",
                field="run",
                run_id=str(self.run.id),
            )
        if self.end.status in ("completed", "completed_draining"):
            return None
        return error_for(self.run, self.end)


@dataclass(frozen=True)
class RunPreview:
    """What a run would do (``--dry-run``): nothing was changed to find this out."""

    plan: RunPlan
    live: LiveState
    slot: str | None
    warm: bool
    steps: tuple[Step, ...]
    failure_handling: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.plan.kind,
            "product": self.plan.product,
            "environment": self.plan.environment,
            "full_version": self.plan.full_version,
            "live": self.live.to_dict() | {"switch_state": None},
            "slot": self.slot,
            "warm": self.warm,
            "steps": [{"name": s.name, "title": s.title} for s in self.steps],
            "on_failure": list(self.failure_handling),
            "notes": list(self.notes),
        }


def _error_class(code: str | None) -> type[ShipmateError]:
    pending: list[type[ShipmateError]] = [ShipmateError]
    while pending:
        cls = pending.pop()
        if cls.code == code:
            return cls
        pending.extend(cls.__subclasses__())
    return DeployError


def error_for(run: RunRecord, end: FlowEnd) -> ShipmateError:
    """The error a failed run reports: the failing step's class, field and details."""
    details: dict[str, Any] = {}
    field_name: str | None = None
    for step in run.steps:
        if step.name == end.failed_step and step.status == "failed" and step.result:
            data = step.result.get("data") or {}
            details = dict(data.get("details") or {})
            field_name = data.get("field")
    for noisy in ("stderr", "command"):
        details.pop(noisy, None)
    details["run_id"] = str(run.id)
    if end.deployment_id is not None:
        details["deployment_id"] = str(end.deployment_id)
    if end.rollback_deployment_id is not None:
        details["rollback_deployment_id"] = str(end.rollback_deployment_id)
    cls = _error_class(end.error_code)
    if end.switched_back and run.kind == "deploy":
        details["cause"] = end.error_code
        cls = RolledBackError
    return cls(f"run {run.id}: {end.message}", field=field_name, **details)


def make_plan(
    ctx: Context,
    deploy: ProductDeploy,
    *,
    kind: str,
    environment: str,
    version: str,
    build_number: int | None = None,
    reverts_id: int | None = None,
) -> RunPlan:
    """Validate names and the version, and build the flow's input (hooks included)."""
    product = validate_name(deploy.product, field="product", max_length=255)
    environment = validate_name(environment, field="environment")
    full = parse_full_version(str(version))
    version_text = validate_base_version(full.version, strict_semver=ctx.settings.strict_semver)
    build_number = reconcile_build_number(full.build_number, build_number, given_as="--build")
    full_version = format_full_version(version_text, build_number)
    config = deploy.config
    plan = RunPlan(
        kind="rollback" if kind == "rollback" else "deploy",
        product=product,
        environment=environment,
        version=version_text,
        full_version=full_version,
        build_number=build_number,
        slots=tuple(slot.name for slot in config.slots),
        keep_warm=config.keep_warm,
        post_switch_check=config.post_switch_health is not None,
        reverts_id=reverts_id,
    )
    before_start: list[Step] = []
    before_retire: list[Step] = []
    for module in HOOK_MODULES:
        importlib.import_module(module)
    for provider in HOOK_PROVIDERS:
        hooks = provider(ctx, plan)
        before_start.extend(hooks.before_start)
        before_retire.extend(hooks.before_retire)
    return replace(plan, before_start=tuple(before_start), before_retire=tuple(before_retire))


def preview_run(
    ctx: Context, plan: RunPlan, parts: RunParts, notes: tuple[str, ...] = ()
) -> RunPreview:
    live, _ = observe_live(ctx, plan.product, plan.environment, parts)
    choice = choose_slot(plan, live)
    slot, warm = choice if isinstance(choice, tuple) else (None, False)
    extra = notes if isinstance(choice, tuple) else (*notes, f"this run would fail: {choice}")
    return RunPreview(
        plan=plan,
        live=live,
        slot=slot,
        warm=warm,
        steps=tuple(preview(plan, live)),
        failure_handling=tuple(describe_failure_handling(plan, live)),
        notes=tuple(extra),
    )


def _deploy_plan(ctx: Context, deploy: ProductDeploy, request: DeployRequest) -> RunPlan:
    return make_plan(
        ctx,
        deploy,
        kind="deploy",
        environment=request.environment,
        version=request.version,
        build_number=request.build_number,
    )


def preview_deploy(
    ctx: Context,
    deploy: ProductDeploy,
    request: DeployRequest,
    *,
    parts: RunParts | None = None,
) -> RunPreview:
    """``--dry-run``: the steps a deploy would take; reads, never writes."""
    return preview_run(ctx, _deploy_plan(ctx, deploy, request), parts or build_parts(deploy))


class RunOptions(TypedDict, total=False):
    """How a caller watches and steers a run it starts (all optional)."""

    observer: RunObserver | None
    parts_factory: PartsFactory | None
    stop: threading.Event | None
    crash: CrashPoint | None


def open_run(
    ctx: Context,
    deploy: ProductDeploy,
    plan: RunPlan,
    record: dict[str, Any],
    *,
    owner: str | None,
    agent_host: str | None = None,
    supersede: bool = False,
    precondition: Callable[[Connection], None] | None = None,
) -> RunRecord:
    """Open the run of ``plan`` (lock, journal) with what it needs to be driven or
    resumed: the plan, the deploy table, the record fields.  Driven here by ``owner``,
    or (``agent_host``, no owner) waiting for that host's agent to claim it."""
    actor = validate_text(record.get("deployed_by"), field="deployed_by", max_length=255)
    params: dict[str, Any] = {
        "plan": plan.to_dict(),
        "deploy": deploy.to_params(),
        "record": record,
    }
    if agent_host is None:
        params["host"] = this_host()
    run = create_run(
        ctx,
        kind=plan.kind,
        product=plan.product,
        environment=plan.environment,
        version=plan.version,
        full_version=plan.full_version,
        build_number=plan.build_number,
        params=params,
        actor=actor,
        owner=owner,
        reverts_id=plan.reverts_id,
        supersede=supersede,
        precondition=precondition,
        host=agent_host,
    )
    if agent_host is not None:
        live_runs.host_work(agent_host)  # wakes the host's agent if it polls this process
    return run


def start_run(
    ctx: Context,
    deploy: ProductDeploy,
    plan: RunPlan,
    record: dict[str, Any],
    *,
    supersede: bool = False,
    precondition: Callable[[Connection], None] | None = None,
    **options: Unpack[RunOptions],
) -> RunOutcome:
    """Open a run for ``plan`` (lock, journal) and drive it to its end.

    ``precondition(conn)`` is checked in the transaction that opens the run.
    """
    owner = new_owner()
    run = open_run(
        ctx, deploy, plan, record, owner=owner, supersede=supersede, precondition=precondition
    )
    factory = options.get("parts_factory") or (lambda _run: build_parts(deploy))
    driver = RunDriver(
        ctx,
        run,
        owner=owner,
        parts_factory=factory,
        observer=options.get("observer"),
        stop=options.get("stop"),
        crash=options.get("crash"),
    )
    result = driver.drive()
    final = result.run if result.end is not None else get_run(ctx, run.id)
    return RunOutcome(final, result.end)


def deploy(
    ctx: Context,
    deploy_config: ProductDeploy,
    request: DeployRequest,
    **options: Unpack[RunOptions],
) -> RunOutcome:
    """Deploy ``request.version`` blue-green; see :mod:`shipmate.domain.runs.plan` for the steps."""
    if request.product != deploy_config.product:
        raise InvalidInputError(
            f"the deploy configuration is for {deploy_config.product}, not {request.product}",
            field="product",
        )
    plan = _deploy_plan(ctx, deploy_config, request)
    return start_run(ctx, deploy_config, plan, request.record_fields(), **options)
