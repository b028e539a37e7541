"""Recording deployments: create or advance through the lifecycle, in one transaction.

``record_deployment`` is what the CLI's ``record``, the REST API and the
Versioner endpoints all call.  A status event either opens a deployment or
advances the open one it belongs to (same product, environment and version, and
the same CI run when both sides know it), so a CI job's ``started`` then
``completed`` is one deployment with a duration.  The deployment row, its event
and the current-state row change together or not at all.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, desc
from sqlalchemy.exc import IntegrityError

from shipmate.domain.environments import parse_kind as parse_env_kind
from shipmate.domain.inputs.fields import parse_metadata, validate_name
from shipmate.domain.inputs.reservedkeys import check_client_metadata
from shipmate.domain.lifecycle import (
    OPEN,
    DeploymentKind,
    Status,
    check_transition,
    parse_kind,
    parse_status,
)
from shipmate.domain.records import DeploymentRecord
from shipmate.domain.repeats import FinishEvent
from shipmate.domain.requests import RecordRequest
from shipmate.domain.versions import (
    format_full_version,
    parse_full_version,
    reconcile_build_number,
    validate_base_version,
)
from shipmate.errors import (
    GateBlockedError,
    InvalidInputError,
    NotFoundError,
)
from shipmate.services.context import Context
from shipmate.services.gates.facts import GateSubject
from shipmate.services.gates.verdicts import (
    GateOutcome,
    apply_outcome,
    check_gates,
    record_blocked,
    validate_override,
)
from shipmate.services.records.buildlink import check_commit, fill_from_build, find_build
from shipmate.services.records.places import record_place
from shipmate.services.records.provenance import clean_provenance
from shipmate.services.records.repeats import Recorded, find_repeated_finish
from shipmate.store.catalog import lock_product_environment
from shipmate.store.deployments import (
    first_deployment,
    get_deployment,
    mark_rolled_back,
    refresh_current_state,
    version_deployments,
)
from shipmate.store.idempotency import lookup, remember, request_hash, validate_key
from shipmate.store.recording import (
    find_open_deployment,
    move_current_state,
    write_deployment,
)
from shipmate.store.schema import deployments

__all__ = [
    "Recorded",
    "default_actor",
    "record_deployment",
    "record_deployment_event",
]


#: The open statuses, in a fixed order (the statement built for them is reused).
_OPEN = (Status.PENDING.value, Status.STARTED.value)


def default_actor() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


@dataclass(frozen=True)
class _Clean:
    environment: str
    status: Status
    product: str | None
    version: str | None
    build_number: int | None
    kind: DeploymentKind
    env_kind: str | None
    text: dict[str, str | None]
    metadata: dict[str, Any]


class _Write(NamedTuple):
    """One recording, as every step of it needs it: the context, the request, its
    checked values, the time and who acts."""

    ctx: Context
    req: RecordRequest
    clean: _Clean
    now: datetime
    actor: str | None


def _clean(req: RecordRequest, strict_semver: bool) -> _Clean:
    product = (
        None if req.product is None else validate_name(req.product, field="product", max_length=255)
    )
    version = None
    named_build = None
    if req.version is not None:
        full = parse_full_version(str(req.version))
        version = validate_base_version(full.version, strict_semver=strict_semver)
        named_build = full.build_number
    build_number = reconcile_build_number(named_build, req.build_number)
    if req.deployment_id is None:
        if product is None:
            raise InvalidInputError(
                "product is required (or give a deployment id)", field="product"
            )
        if version is None:
            raise InvalidInputError(
                "version is required (or give a deployment id)", field="version"
            )
    text = clean_provenance(req, actor="deployed_by")
    return _Clean(
        environment=validate_name(req.environment, field="environment"),
        status=parse_status(req.status),
        product=product,
        version=version,
        build_number=build_number,
        kind=parse_kind(req.kind),
        env_kind=None
        if req.environment_kind is None
        else parse_env_kind(req.environment_kind, field="environment_kind"),
        text=text,
        metadata=_metadata(req),
    )


def _metadata(req: RecordRequest) -> dict[str, Any]:
    client = parse_metadata(req.metadata)
    check_client_metadata(client)
    return parse_metadata({**client, **req.own_metadata}) if req.own_metadata else client


def _duration_ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return int((end - start).total_seconds() * 1000)


def _check_times(started: datetime | None, finished: datetime | None) -> None:
    if started is not None and finished is not None and finished < started:
        raise InvalidInputError(
            "completed_at is before started_at; check both times and their zones",
            field="completed_at",
        )


def record_deployment(ctx: Context, req: RecordRequest) -> DeploymentRecord:
    """Create or advance a deployment; returns it as stored."""
    return record_deployment_event(ctx, req).deployment


def record_deployment_event(ctx: Context, req: RecordRequest) -> Recorded:
    """Create or advance a deployment, and say whether the event was a replay."""
    c = _clean(req, ctx.settings.strict_semver)
    validate_override(req.override_gates, req.override_reason)
    key = validate_key(req.idempotency_key)
    digest = request_hash(req) if key else ""
    if key and (replayed := _replay(ctx, key, digest)) is not None:
        return Recorded(replayed, replayed=True)
    now = ctx.now()
    actor = c.text["deployed_by"] or req.key_name
    w = _Write(ctx, req, c, now, actor)
    try:
        with ctx.write() as conn:
            if req.deployment_id is not None:
                record, repeat = _advance_by_id(conn, w)
            else:
                record, repeat = _record_by_match(conn, w)
            if key:
                remember(conn, key, "record_deployment", digest, record.id, now)
    except IntegrityError:
        if not key or (replayed := _replay(ctx, key, digest)) is None:
            raise
        return Recorded(replayed, replayed=True)
    except GateBlockedError as exc:
        # The refused write rolled back; its gate.blocked event is kept on its own.
        record_blocked(ctx, exc, now=now, actor=actor, key_name=req.key_name)
        raise
    return Recorded(record, replayed=repeat)


def _replay(ctx: Context, key: str, digest: str) -> DeploymentRecord | None:
    with ctx.read() as conn:
        dep_id = lookup(conn, key, "record_deployment", digest)
        return None if dep_id is None else get_deployment(conn, dep_id)


def _advance_by_id(conn: Connection, w: _Write) -> tuple[DeploymentRecord, bool]:
    req, c = w.req, w.clean
    assert req.deployment_id is not None
    current = get_deployment(conn, req.deployment_id, for_update=True)
    if current is None:
        raise NotFoundError(f"deployment {req.deployment_id} does not exist", field="id")
    for name, given, actual in (
        ("product", c.product, current.product),
        ("environment", c.environment, current.environment),
        ("version", c.version, current.version),
    ):
        if given is not None and given != actual:
            raise InvalidInputError(
                f"deployment {current.id} is for {name} {actual!r}, not {given!r}", field=name
            )
    lock_product_environment(conn, current.product_id, current.environment_id)
    if c.status == Status(current.status):
        return current, True  # a repeated event: nothing to change
    return _advance_through_gates(conn, w, current)


def _advance_through_gates(
    conn: Connection, w: _Write, current: DeploymentRecord
) -> tuple[DeploymentRecord, bool]:
    """Move ``current`` to the requested status; a start first passes the gates, and
    their outcome (a report-only result, an override) is applied with it."""
    outcome = None
    if w.clean.status == Status.STARTED:
        outcome = _check_gates(conn, w, current=current)
    record = _advance(conn, w, current)
    apply_outcome(conn, outcome, current.id, now=w.now, actor=w.actor, key_name=w.req.key_name)
    return _after_outcome(conn, record, outcome), False


def _after_outcome(
    conn: Connection, record: DeploymentRecord, outcome: GateOutcome | None
) -> DeploymentRecord:
    """``record`` as stored once the gates' outcome was applied: read again only when
    the outcome put report-only results or an override on it."""
    if outcome is None or not (outcome.rules_evaluated or outcome.overridden):
        return record
    stored = get_deployment(conn, record.id)
    assert stored is not None
    return stored


def _record_by_match(conn: Connection, w: _Write) -> tuple[DeploymentRecord, bool]:
    req, c, now, actor = w.req, w.clean, w.now, w.actor
    assert c.product is not None and c.version is not None
    product_id, environment_id, version_row = record_place(
        w.ctx,
        conn,
        product=c.product,
        environment=c.environment,
        env_kind=c.env_kind,
        version=c.version,
        commit=c.text["commit_sha"],
        now=now,
    )
    lock_product_environment(conn, product_id, environment_id)
    commit = c.text["commit_sha"]
    if commit is not None:
        check_commit(
            conn,
            version_row,
            product=c.product,
            version=c.version,
            build_number=c.build_number,
            commit=commit,
        )
    if c.build_number is not None:
        fill_from_build(c.text, find_build(conn, version_row.id, c.build_number, None))

    if c.status == Status.ROLLED_BACK:
        target = _rollback_target(conn, product_id, environment_id, version_row.id, c.build_number)
        if target is None:
            raise NotFoundError(
                f"no completed deployment of {c.product} "
                f"{format_full_version(c.version, c.build_number)} in {c.environment} "
                "to mark rolled back",
                field="version",
            )
        if target.status == Status.ROLLED_BACK.value:
            return target, True  # already marked: a retry changes nothing
        return _advance(conn, w, target), False

    if c.status != Status.PENDING:
        open_statuses = [Status.PENDING.value]
        if c.status != Status.STARTED:
            open_statuses.append(Status.STARTED.value)
        match = find_open_deployment(
            conn,
            product_id=product_id,
            environment_id=environment_id,
            version_id=version_row.id,
            ci_run_id=c.text["ci_run_id"],
            statuses=open_statuses if c.status != Status.STARTED else _OPEN,
        )
        if match is not None and (
            c.build_number is None or match.build_number in (None, c.build_number)
        ):
            if Status(match.status) == c.status:
                return match, True  # the same start sent twice
            return _advance_through_gates(conn, w, match)
    event = FinishEvent(
        c.status,
        c.version,
        c.build_number,
        c.text["ci_run_id"],
        c.kind.value,
        req.reverts_id,
        commit,
        req.started_at,
        req.completed_at,
    )
    repeated = find_repeated_finish(conn, product_id, environment_id, event, now)
    if repeated is not None:
        return repeated, True  # a retried finish whose answer was lost: one deployment
    build_number = c.build_number
    if build_number is None:
        link = find_build(conn, version_row.id, None, commit)
        fill_from_build(c.text, link)
        build_number = None if link is None else link.build_number
    started = req.started_at if c.status != Status.PENDING else None
    finished = None
    if c.status == Status.STARTED:
        started = started or now
    elif c.status in (Status.COMPLETED, Status.FAILED, Status.ABORTED):
        finished = req.completed_at or now
    _check_times(started, finished)
    reverts_id = _check_reverts(conn, req.reverts_id, product_id, environment_id)
    outcome = None
    if c.status in OPEN:
        ids = (product_id, environment_id, version_row.id)
        outcome = _check_gates(conn, w, ids=ids)
    values = {
        "product_id": product_id,
        "environment_id": environment_id,
        "version_id": version_row.id,
        "version": c.version,
        "build_number": build_number,
        "full_version": format_full_version(c.version, build_number),
        "status": c.status.value,
        "kind": c.kind.value,
        "reverts_id": reverts_id,
        **{k: v for k, v in c.text.items()},
        "commit_time": req.commit_time,
        "deployed_by": actor,
        "extra": c.metadata,
        "deployed_at": started or finished or now,
        "created_at": now,
        "updated_at": now,
        "started_at": started,
        "finished_at": finished,
        "duration_ms": _duration_ms(started, finished),
    }
    plain = _plain_completion(c.status, c.kind.value, reverts_id)
    record = write_deployment(
        conn,
        values,
        event={
            "type": f"deployment.{c.status.value}",
            "at": now,
            "actor": actor,
            "key_name": req.key_name,
            "from_status": None,
            "data": {"full_version": values["full_version"], "kind": c.kind.value},
        },
        move_current=plain,
    )
    apply_outcome(conn, outcome, record.id, now=now, actor=actor, key_name=req.key_name)
    if c.status == Status.COMPLETED and not plain:
        _completed(conn, record, now, actor, req.key_name)
    return _after_outcome(conn, record, outcome), False


def _check_gates(
    conn: Connection,
    w: _Write,
    *,
    current: DeploymentRecord | None = None,
    ids: tuple[int, int, int] | None = None,
) -> GateOutcome:
    """Gates guard a deployment entering started (or created pending); after the lock."""
    ctx, req, c, now, actor = w
    if current is not None:
        ids = (current.product_id, current.environment_id, current.version_id)
    assert ids is not None
    return check_gates(
        conn,
        ctx,
        GateSubject(
            product=current.product if current else str(c.product),
            environment=c.environment,
            version=current.version if current else str(c.version),
            deployer=req.key_name
            or req.identity
            or c.text["deployed_by"]
            or (current.deployed_by if current else None)
            or actor,
            product_id=ids[0],
            environment_id=ids[1],
            version_id=ids[2],
            deployment_id=current.id if current else None,
            status=c.status.value,
        ),
        now=now,
        override_reason=validate_override(req.override_gates, req.override_reason),
    )


def _check_reverts(
    conn: Connection, reverts_id: int | None, product_id: int, environment_id: int
) -> int | None:
    if reverts_id is None:
        return None
    target = get_deployment(conn, reverts_id)
    if target is None:
        raise NotFoundError(f"deployment {reverts_id} (reverts) does not exist", field="reverts")
    if target.product_id != product_id or target.environment_id != environment_id:
        raise InvalidInputError(
            f"deployment {reverts_id} is {target.product} in {target.environment}; a rollback "
            "reverts a deployment of the same product in the same environment",
            field="reverts",
        )
    return reverts_id


def _rollback_target(
    conn: Connection, product_id: int, environment_id: int, version_id: int, build: int | None
) -> DeploymentRecord | None:
    """The newest completed or rolled-back deployment of the version (and build) here:
    a rolled-back one means the mark was made already (a retry)."""
    finished = (Status.COMPLETED.value, Status.ROLLED_BACK.value)
    query = (
        version_deployments(product_id, environment_id, version_id, finished)
        .order_by(desc(deployments.c.finished_at), desc(deployments.c.id))
        .limit(1)
    )
    if build is not None:
        query = query.where(deployments.c.build_number == build)
    return first_deployment(conn, query)


def _advance(conn: Connection, w: _Write, current: DeploymentRecord) -> DeploymentRecord:
    _, req, c, now, actor = w
    old = Status(current.status)
    check_transition(old, c.status, deployment_id=current.id)
    values: dict[str, Any] = {"status": c.status.value, "updated_at": now}
    started = current.started_at
    if c.status == Status.STARTED:
        started = req.started_at or now
        values["started_at"] = started
        values["deployed_at"] = started
    elif c.status in (Status.COMPLETED, Status.FAILED, Status.ABORTED):
        if started is None and req.started_at is not None:
            started = req.started_at
            values["started_at"] = started
        finished = req.completed_at or now
        _check_times(started, finished)
        values["finished_at"] = finished
        values["duration_ms"] = _duration_ms(started, finished)
    for key, value in c.text.items():
        if value is not None and getattr(current, key) is None:
            values[key] = value
    if req.commit_time is not None and current.commit_time is None:
        values["commit_time"] = req.commit_time
    if c.metadata:
        merged = {**current.metadata, **c.metadata}
        values["extra"] = parse_metadata(merged)
    plain = _plain_completion(c.status, current.kind, current.reverts_id)
    record = write_deployment(
        conn,
        values,
        deployment_id=current.id,
        event={
            "type": f"deployment.{c.status.value}",
            "at": now,
            "actor": actor,
            "key_name": req.key_name,
            "from_status": current.status,
            "data": {"full_version": current.full_version},
        },
        move_current=plain,
    )
    if c.status == Status.COMPLETED and not plain:
        _completed(conn, record, now, actor, req.key_name)
    elif c.status == Status.ROLLED_BACK:
        refresh_current_state(conn, current.product_id, current.environment_id)
    return record


def _plain_completion(status: Status, kind: str, reverts_id: int | None) -> bool:
    """A completion that reverts nothing: the current state just moves to it if it
    finished last (a completed rollback marks what it reverts and recomputes)."""
    if status != Status.COMPLETED:
        return False
    return kind != DeploymentKind.ROLLBACK.value or reverts_id is None


def _completed(
    conn: Connection,
    record: DeploymentRecord,
    now: datetime,
    actor: str | None,
    key_name: str | None,
) -> None:
    """``record`` just completed: a completed rollback marks the deployment it reverts
    rolled back (and the current state is recomputed); otherwise the current state
    moves to ``record`` if it finished last."""
    if _plain_completion(Status.COMPLETED, record.kind, record.reverts_id):
        move_current_state(conn, record)
        return
    assert record.reverts_id is not None
    reverted = get_deployment(conn, record.reverts_id, for_update=True)
    if reverted is not None and reverted.status == Status.COMPLETED.value:
        mark_rolled_back(
            conn,
            reverted,
            at=now,
            actor=actor,
            key_name=key_name,
            data={"rolled_back_by": str(record.id)},
        )
    refresh_current_state(conn, record.product_id, record.environment_id)
