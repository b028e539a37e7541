"""Release actions: defining them, one per slot, and when they may no longer change.

A version of a product carries ``up`` actions (run when an environment moves
forward through it) and ``down`` actions (run when it moves back past it), each a
shell command or a SQL script against a database named by reference (the *name*
of an environment variable holding its URL).  They are stored here, with a
checksum, one per slot ``(version, phase, order)``:

* :func:`add_action` registers one (``shipmate release add-action``, the API).
  Without ``order`` it goes after the phase's last action (``+10``), unless the
  phase already holds the identical action (same name and checksum).  An occupied
  slot holding the same action is left alone; holding another one is refused unless
  ``replace`` is given.
* :func:`~shipmate.services.releases.sync.sync_versions` makes a whole versions
  folder match (:mod:`shipmate.services.releases.sync`).
* **Immutability.**  Once a version was deployed anywhere (any deployment row of
  that product and version, whatever its status) or any of its actions ran in any
  environment, its actions cannot change (:func:`lock_reason` says why): adding,
  replacing or removing one is a :class:`~shipmate.errors.ConflictError`
  (``field="version"``) telling you to make a new version.  Re-registering the
  identical action is fine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from shipmate.domain.fielddicts import named
from shipmate.domain.inputs.fields import format_time
from shipmate.domain.releases.planning import ReleaseAction
from shipmate.domain.versions import validate_base_version, validate_version
from shipmate.errors import ConflictError, InvalidInputError, NotFoundError, PayloadTooLargeError
from shipmate.services.context import Context
from shipmate.services.releases.lookups import (
    ensure_version_id,
    find_version_id,
    product_name,
    require_product,
)
from shipmate.store.catalog import ensure_product
from shipmate.store.schema import deployments, environments, versions
from shipmate.store.schema_releases import release_action_runs, release_actions

__all__ = [
    "MAX_BODY_BYTES",
    "ActionChange",
    "ActionSpec",
    "StoredAction",
    "action_values",
    "add_action",
    "check_action",
    "describe_slot",
    "insert_action_row",
    "list_actions",
    "load_stored",
    "lock_reason",
    "replace_action_row",
    "slot_values",
]

#: Largest action body (command, script or SQL) accepted, in bytes.
MAX_BODY_BYTES = 1024 * 1024
_SOURCES = ("cli", "api", "sync")


@dataclass(frozen=True)
class StoredAction:
    """A release action as stored, with its row id and origin."""

    id: int
    product: str
    action: ReleaseAction
    source: str
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "product": self.product,
            **self.action.to_dict(),
            "source": self.source,
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
        }


@dataclass(frozen=True)
class ActionSpec:
    """One action to register, as a front end received it (validated by :func:`add_action`)."""

    version: str
    phase: str
    kind: str
    body: str
    name: str | None = None
    order: int | None = None
    database_ref: str | None = None


@dataclass(frozen=True)
class ActionChange:
    """What :func:`add_action` did: ``created``, ``unchanged`` or ``replaced``."""

    stored: StoredAction
    change: str

    def to_dict(self) -> dict[str, Any]:
        return {"change": self.change, "action": self.stored.to_dict()}


# -- checking an action ------------------------------------------------------------


def check_action(action: ReleaseAction) -> None:
    """What the domain leaves to storage: NUL characters, size, shipmate's own variables."""
    for name, value in (("name", action.name), ("body", action.body)):
        if "\x00" in value:
            raise InvalidInputError(
                f"the {name} of a {action.phase} action of {action.version} contains a NUL "
                "character",
                field=name,
            )
    ref = action.database_ref
    if ref is not None and ref.upper().startswith("SHIPMATE_"):
        raise InvalidInputError(
            f"database_ref {ref} of action {action.name!r} names one of shipmate's own "
            "settings, which actions never see; name the variable holding the application "
            "database's URL (e.g. APP_DB_URL)",
            field="database_ref",
        )
    size = len(action.body.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        raise PayloadTooLargeError(
            f"the body of action {action.name!r} is {size} bytes; the limit is {MAX_BODY_BYTES}",
            field="body",
        )


def _default_name(body: str) -> str:
    for line in body.splitlines():
        text = line.strip()
        if text and not text.startswith("#!"):
            return text if len(text) <= 80 else text[:79] + "…"
    return "action"


def describe_slot(action: ReleaseAction) -> str:
    """An action's slot and name, as refusals list it (``up #10 'create.sql'``)."""
    return f"{action.phase} #{action.order} {action.name!r}"


# -- reading rows ---------------------------------------------------------------------


def _action_query() -> Any:
    return select(
        release_actions.c.id,
        release_actions.c.phase,
        release_actions.c.sort_order,
        release_actions.c.kind,
        release_actions.c.name,
        release_actions.c.body,
        release_actions.c.database_ref,
        release_actions.c.checksum,
        release_actions.c.source,
        release_actions.c.created_at,
        release_actions.c.updated_at,
        release_actions.c.version_id,
        versions.c.version,
    ).select_from(release_actions.join(versions, versions.c.id == release_actions.c.version_id))


def _row_to_stored(row: Any, product: str) -> StoredAction:
    # A row changed behind shipmate's back fails here (the checksum is checked).
    action = ReleaseAction.create(
        **named(row, "version", "phase", "kind", "name", "body", "database_ref", "checksum"),
        order=row.sort_order,
    )
    return StoredAction(
        id=int(row.id),
        product=product,
        action=action,
        source=row.source,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def load_stored(
    conn: Connection, product_id: int, product: str, version_id: int | None = None
) -> list[StoredAction]:
    """The stored actions of the product (or of one version), in plan order."""
    query = _action_query().where(release_actions.c.product_id == product_id)
    if version_id is not None:
        query = query.where(release_actions.c.version_id == version_id)
    query = query.order_by(
        release_actions.c.version_id, release_actions.c.phase.desc(), release_actions.c.sort_order
    )
    return [_row_to_stored(row, product) for row in conn.execute(query)]


def list_actions(ctx: Context, product: str, *, version: str | None = None) -> list[StoredAction]:
    """A product's actions: by version (first appearance), ``up`` before ``down``, by order."""
    product = product_name(product, lookup=True)
    with ctx.read() as conn:
        product_id = require_product(conn, product)
        version_id = None
        if version is not None:
            version = validate_version(version, lookup=True)
            version_id = find_version_id(conn, product_id, version)
            if version_id is None:
                raise NotFoundError(
                    f"version {version} of {product} does not exist", field="version"
                )
        return load_stored(conn, product_id, product, version_id)


def lock_reason(conn: Connection, product_id: int, version_id: int, version: str) -> str | None:
    """Why a version's actions may no longer change (None: they still may)."""
    dep = conn.execute(
        select(deployments.c.id, environments.c.name)
        .select_from(
            deployments.join(environments, environments.c.id == deployments.c.environment_id)
        )
        .where(deployments.c.product_id == product_id, deployments.c.version_id == version_id)
        .order_by(deployments.c.id)
        .limit(1)
    ).first()
    if dep is not None:
        return f"it was deployed (deployment {dep.id} to {dep.name})"
    ran = conn.execute(
        select(environments.c.name)
        .select_from(
            release_action_runs.join(
                environments, environments.c.id == release_action_runs.c.environment_id
            )
        )
        .where(
            release_action_runs.c.product_id == product_id,
            release_action_runs.c.version == version,
        )
        .order_by(release_action_runs.c.id)
        .limit(1)
    ).first()
    if ran is not None:
        return f"its actions ran in {ran.name}"
    return None


def _immutable_error(
    product: str, version: str, reason: str, changes: Sequence[str]
) -> ConflictError:
    return ConflictError(
        f"the actions of {product} {version} are immutable because {reason}; refused: "
        + "; ".join(changes)
        + ". Put the change in a new version",
        field="version",
        product=product,
        version=version,
        changes=list(changes),
    )


# -- adding actions -------------------------------------------------------------------


def add_action(
    ctx: Context,
    product: str,
    spec: ActionSpec,
    *,
    replace: bool = False,
    source: str = "cli",
) -> ActionChange:
    """Register one action (see the module doc for order, replacement and immutability)."""
    product = product_name(product)
    version = validate_base_version(spec.version, strict_semver=ctx.settings.strict_semver)
    if source not in _SOURCES:
        raise InvalidInputError(f"source must be one of {', '.join(_SOURCES)}", field="source")
    if spec.order is not None and (
        isinstance(spec.order, bool) or not isinstance(spec.order, int) or spec.order < 0
    ):
        raise InvalidInputError(
            f"order must be a whole number >= 0, not {spec.order!r}", field="order"
        )
    if not isinstance(spec.body, str) or not spec.body.strip():
        raise InvalidInputError("body (the command or SQL) must not be empty", field="body")
    name = spec.name if spec.name is not None else _default_name(spec.body)
    # Validate every field before touching the database (order 0 stands in if unknown).
    probe = ReleaseAction.create(
        version=version,
        phase=spec.phase,
        order=spec.order or 0,
        kind=spec.kind,
        name=name,
        body=spec.body,
        database_ref=spec.database_ref,
    )
    check_action(probe)
    now = ctx.now()
    with ctx.write() as conn:
        product_id = ensure_product(conn, product, now)
        version_id = ensure_version_id(conn, product_id, version, now)
        order = spec.order
        if order is None:
            # Without an order, the same action registered again is found, not appended.
            twin = conn.execute(
                _action_query().where(
                    release_actions.c.version_id == version_id,
                    release_actions.c.phase == str(probe.phase),
                    release_actions.c.checksum == probe.checksum,
                    release_actions.c.name == probe.name,
                )
            ).first()
            if twin is not None:
                return ActionChange(_row_to_stored(twin, product), "unchanged")
            last = conn.execute(
                select(func.max(release_actions.c.sort_order)).where(
                    release_actions.c.version_id == version_id,
                    release_actions.c.phase == str(probe.phase),
                )
            ).scalar()
            order = 10 if last is None else (int(last) // 10 + 1) * 10
        action = ReleaseAction.create(
            version=version,
            phase=str(probe.phase),
            order=order,
            kind=str(probe.kind),
            name=name,
            body=spec.body,
            database_ref=spec.database_ref,
        )
        existing = conn.execute(
            _action_query().where(
                release_actions.c.version_id == version_id,
                release_actions.c.phase == str(action.phase),
                release_actions.c.sort_order == action.order,
            )
        ).first()
        if existing is not None:
            stored = _row_to_stored(existing, product)
            if stored.action.checksum == action.checksum and stored.action.name == action.name:
                return ActionChange(stored, "unchanged")
        reason = lock_reason(conn, product_id, version_id, version)
        if reason is not None:
            what = (
                f"changing {action.phase} action #{action.order}"
                if existing is not None
                else f"adding {describe_slot(action)}"
            )
            raise _immutable_error(product, version, reason, [what])
        if existing is not None:
            if not replace:
                raise ConflictError(
                    f"{product} {version} already has {action.phase} action #{action.order} "
                    f"({existing.name!r}); pass replace (--replace) to change it, or "
                    "choose another order",
                    field="order",
                )
            action_id = int(existing.id)
            replace_action_row(conn, action_id, action, source=source, now=now)
            change = "replaced"
        else:
            action_id = insert_action_row(
                conn, product_id, version_id, action, source=source, now=now
            )
            change = "created"
        row = conn.execute(_action_query().where(release_actions.c.id == action_id)).one()
        return ActionChange(_row_to_stored(row, product), change)


def insert_action_row(
    conn: Connection,
    product_id: int,
    version_id: int,
    action: ReleaseAction,
    *,
    source: str,
    now: datetime,
) -> int:
    """Store ``action`` as a new ``release_actions`` row of the version; its id."""
    return int(
        conn.execute(
            release_actions.insert()
            .values(
                product_id=product_id,
                version_id=version_id,
                **action_values(action),
                source=source,
                created_at=now,
                updated_at=now,
            )
            .returning(release_actions.c.id)
        ).scalar_one()
    )


def replace_action_row(
    conn: Connection, action_id: int, action: ReleaseAction, *, source: str, now: datetime
) -> None:
    """Write ``action`` over the stored row ``action_id``."""
    conn.execute(
        update(release_actions)
        .where(release_actions.c.id == action_id)
        .values(**action_values(action), source=source, updated_at=now)
    )


def slot_values(action: ReleaseAction) -> dict[str, Any]:
    """Which action of its version it is (phase, order, kind, name) and its checksum: the
    columns ``release_actions`` and the copy ``release_action_runs`` keeps share."""
    return {
        "phase": str(action.phase),
        "sort_order": action.order,
        "kind": str(action.kind),
        "name": action.name,
        "checksum": action.checksum,
    }


def action_values(action: ReleaseAction) -> dict[str, Any]:
    """The ``release_actions`` columns an action fills."""
    return {**slot_values(action), "body": action.body, "database_ref": action.database_ref}
