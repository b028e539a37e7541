"""Release actions, predecessors, the lineage, schema positions and plans.

Release actions
---------------
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
* :func:`sync_versions` makes the versions declared in a versions folder
  (:func:`read_versions_dir`, layout below) match it: actions added, replaced or
  removed, predecessors set or cleared.  Versions not in the folder are not
  touched, so the down actions of versions newer than the code on disk stay.
  Syncing identical content changes nothing.  It is all or nothing: one refused
  change refuses the whole sync, listing every problem.
* **Immutability.**  Once a version was deployed anywhere (any deployment row of
  that product and version, whatever its status) or any of its actions ran in any
  environment, its actions cannot change: adding, replacing or removing one is a
  :class:`~shipmate.errors.ConflictError` (``field="version"``) telling you to make
  a new version.  Re-registering the identical action is fine.

Versions folder
---------------
::

    versions/
      1.2.0/
        release.toml          # optional: predecessor = "1.1.0", database_ref = "APP_DB_URL"
        up/010-create-orders.sql
        up/020-warm-cache.sh
        down/010-drop-orders.sql

Each folder whose name is a version declares that version.  Files in ``up/`` and
``down/`` sorted by name give the order (10, 20, 30, ...); ``*.sql`` files are SQL
actions on ``database_ref`` (from ``release.toml``, else the sync's default),
``*.sh`` files shell actions (the script's text is stored; a ``#!`` line is
honoured).  Other files, hidden files and sub-folders are listed as ignored.  The
action's name is ``<folder>/<version>/<phase>/<file>``.

Lineage
-------
:func:`load_lineage` orders a product's versions (SemVer precedence, opaque
versions by first appearance, explicit predecessors first; see
:mod:`shipmate.domain.releases.lineage`).  ``lineage = "strict"`` (in
``[products.<name>]``, or for every product in ``[releases]``, or the ``strict``
argument) needs a predecessor on every version but the base, and any gap is
reported before anything runs.

Positions
---------
Per product and environment the *schema position* is the last version whose
actions completed (:func:`get_position`, :func:`set_position`); it is separate
from the running application version (``current_state``).  No position means "the
same as the application" (see :mod:`shipmate.domain.releases.planning`).  The position
row also holds the lease (:func:`acquire_lease`) of whoever is running actions in
that environment.

Configuration (``[releases]`` in shipmate.toml)::

    [releases]
    action_timeout = 900      # seconds one action may take
    versions_dir = "versions" # what `shipmate release sync` reads by default
    lineage = "auto"          # or "strict" for every product

    [products.api]
    lineage = "strict"        # this product only
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from shipmate.config import Settings
from shipmate.domain.configtables import as_table
from shipmate.domain.environments import infer_kind
from shipmate.domain.inputs.fields import format_time, validate_lookup_name, validate_name
from shipmate.domain.releases.lineage import Lineage, VersionNode
from shipmate.domain.releases.planning import Plan, ReleaseAction, plan
from shipmate.domain.versions import parse_full_version, parse_semver, validate_version
from shipmate.errors import (
    ConfigError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
)
from shipmate.services.context import Context
from shipmate.services.releases.folder import require_inside
from shipmate.store.catalog import (
    dialect_insert,
    ensure_environment,
    ensure_product,
    ensure_version,
    find_environment_id,
    find_product_id,
    lock_product_environment,
)
from shipmate.store.schema import current_state, deployments, environments, versions
from shipmate.store.schema_releases import (
    release_action_runs,
    release_actions,
    release_positions,
    release_predecessors,
)

__all__ = [
    "DEFAULT_ACTION_TIMEOUT",
    "MAX_BODY_BYTES",
    "ActionChange",
    "ActionSpec",
    "DeclaredVersion",
    "Position",
    "ReleaseSettings",
    "StoredAction",
    "SyncReport",
    "VersionSync",
    "acquire_lease",
    "add_action",
    "current_deployment_id",
    "current_version",
    "get_position",
    "lineage_is_strict",
    "list_actions",
    "load_lineage",
    "plan_for",
    "read_versions_dir",
    "release_lease",
    "release_settings",
    "set_position",
    "set_predecessor",
    "sync_versions",
]

DEFAULT_ACTION_TIMEOUT = 900.0
#: Largest action body (command, script or SQL) accepted, in bytes.
MAX_BODY_BYTES = 1024 * 1024
_LINEAGE_MODES = ("auto", "strict")
_RELEASES_KEYS = ("action_timeout", "versions_dir", "lineage")
_RELEASE_TOML_KEYS = ("predecessor", "database_ref")
_SOURCES = ("cli", "api", "sync")


# -- settings -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseSettings:
    """``[releases]`` of the config file, validated."""

    action_timeout: float = DEFAULT_ACTION_TIMEOUT
    versions_dir: str = "versions"
    lineage: str = "auto"


def release_settings(settings: Settings) -> ReleaseSettings:
    """The validated ``[releases]`` table (defaults when absent); ConfigError naming the key."""
    raw = settings.sections.get("releases")
    if raw is None:
        return ReleaseSettings()
    table = as_table(raw, field="releases")
    unknown = sorted(set(table) - set(_RELEASES_KEYS))
    if unknown:
        raise ConfigError(
            f"[releases] has unknown key {unknown[0]!r} (known: {', '.join(_RELEASES_KEYS)})",
            field=f"releases.{unknown[0]}",
        )
    result = ReleaseSettings()
    if "action_timeout" in table:
        value = table["action_timeout"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
            raise ConfigError(
                "releases.action_timeout must be a number of seconds between 0 and 86400, "
                f"not {value!r}",
                field="releases.action_timeout",
            )
        result = ReleaseSettings(float(value), result.versions_dir, result.lineage)
    if "versions_dir" in table:
        value = table["versions_dir"]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                "releases.versions_dir must be a folder name", field="releases.versions_dir"
            )
        result = ReleaseSettings(result.action_timeout, value, result.lineage)
    if "lineage" in table:
        result = ReleaseSettings(
            result.action_timeout,
            result.versions_dir,
            _lineage_mode(table["lineage"], "releases.lineage"),
        )
    return result


def _lineage_mode(value: object, key: str) -> str:
    if value not in _LINEAGE_MODES:
        raise ConfigError(f"{key} must be 'auto' or 'strict', not {value!r}", field=key)
    return str(value)


def lineage_is_strict(settings: Settings, product: str, strict: bool | None = None) -> bool:
    """``strict`` when given, else ``[products.<product>] lineage``, else ``[releases]``."""
    if strict is not None:
        return strict
    products = settings.sections.get("products")
    if products is not None:
        entry = as_table(products, field="products").get(product)
        if entry is not None:
            entry = as_table(entry, field=f"products.{product}")
            if "lineage" in entry:
                key = f"products.{product}.lineage"
                return _lineage_mode(entry["lineage"], key) == "strict"
    return release_settings(settings).lineage == "strict"


# -- values -------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Position:
    """The schema position of a product in an environment (``version`` None: none yet)."""

    product: str
    environment: str
    version: str | None
    updated_at: datetime
    run_id: int | None = None
    deployment_id: int | None = None
    lock_owner: str | None = None
    lock_until: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "environment": self.environment,
            "version": self.version,
            "updated_at": format_time(self.updated_at),
            "run_id": None if self.run_id is None else str(self.run_id),
            "deployment_id": None if self.deployment_id is None else str(self.deployment_id),
            "lock_owner": self.lock_owner,
            "lock_until": format_time(self.lock_until),
        }


@dataclass(frozen=True)
class DeclaredVersion:
    """One version as a versions folder (or an API client) declares it."""

    version: str
    predecessor: str | None = None
    actions: tuple[ReleaseAction, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "predecessor": self.predecessor,
            "actions": [
                {k: v for k, v in a.to_dict().items() if k not in ("version", "checksum")}
                for a in self.actions
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, field: str = "versions") -> DeclaredVersion:
        """From the API's JSON; every error names the field (``versions[2].actions[0].kind``)."""
        if not isinstance(data, Mapping):
            raise InvalidInputError(f"{field} must be an object", field=field)
        unknown = sorted(set(data) - {"version", "predecessor", "actions"})
        if unknown:
            raise InvalidInputError(f"{field} has unknown key {unknown[0]!r}", field=field)
        version = validate_version(data.get("version"), field=f"{field}.version")
        predecessor = data.get("predecessor")
        if predecessor is not None:
            predecessor = validate_version(predecessor, field=f"{field}.predecessor")
        raw_actions = data.get("actions") or []
        if not isinstance(raw_actions, list):
            raise InvalidInputError(f"{field}.actions must be a list", field=f"{field}.actions")
        actions: list[ReleaseAction] = []
        allowed = {"phase", "order", "kind", "name", "body", "database_ref"}
        for i, raw in enumerate(raw_actions):
            where = f"{field}.actions[{i}]"
            if not isinstance(raw, Mapping):
                raise InvalidInputError(f"{where} must be an object", field=where)
            extra = sorted(set(raw) - allowed)
            if extra:
                raise InvalidInputError(f"{where} has unknown key {extra[0]!r}", field=where)
            try:
                actions.append(
                    ReleaseAction.create(
                        version=version,
                        phase=raw.get("phase"),  # type: ignore[arg-type]
                        order=raw.get("order"),  # type: ignore[arg-type]
                        kind=raw.get("kind"),  # type: ignore[arg-type]
                        name=raw.get("name"),  # type: ignore[arg-type]
                        body=raw.get("body"),  # type: ignore[arg-type]
                        database_ref=raw.get("database_ref"),
                    )
                )
            except InvalidInputError as exc:
                raise InvalidInputError(
                    f"{where}: {exc.message}", field=f"{where}.{exc.field or 'action'}"
                ) from None
        return cls(version, predecessor, tuple(actions))


@dataclass(frozen=True)
class VersionSync:
    """What a sync did to one version."""

    version: str
    created: bool
    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    predecessor: str | None = None
    predecessor_changed: bool = False

    @property
    def changed(self) -> bool:
        return bool(
            self.created or self.added or self.replaced or self.removed or self.predecessor_changed
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "created": self.created,
            "changed": self.changed,
            "added": list(self.added),
            "replaced": list(self.replaced),
            "removed": list(self.removed),
            "predecessor": self.predecessor,
            "predecessor_changed": self.predecessor_changed,
        }


@dataclass(frozen=True)
class SyncReport:
    product: str
    versions: tuple[VersionSync, ...]
    ignored: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return any(v.changed for v in self.versions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "changed": self.changed,
            "versions": [v.to_dict() for v in self.versions],
            "ignored": list(self.ignored),
        }


# -- validation helpers ---------------------------------------------------------------


def _product_name(product: object, *, lookup: bool = False) -> str:
    if lookup:
        return validate_lookup_name(product, field="product", max_length=255)
    return validate_name(product, field="product", max_length=255)


def _check_action(action: ReleaseAction) -> None:
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


def _slot(action: ReleaseAction) -> str:
    return f"{action.phase} #{action.order} {action.name!r}"


# -- reading rows ---------------------------------------------------------------------


def _require_product(conn: Connection, product: str) -> int:
    product_id = find_product_id(conn, product)
    if product_id is None:
        raise NotFoundError(f"product {product!r} does not exist", field="product")
    return product_id


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
    action = ReleaseAction.create(
        version=row.version,
        phase=row.phase,
        order=row.sort_order,
        kind=row.kind,
        name=row.name,
        body=row.body,
        database_ref=row.database_ref,
        checksum=row.checksum,  # a row changed behind shipmate's back fails here
    )
    return StoredAction(
        id=int(row.id),
        product=product,
        action=action,
        source=row.source,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _load_stored(
    conn: Connection, product_id: int, product: str, version_id: int | None = None
) -> list[StoredAction]:
    query = _action_query().where(release_actions.c.product_id == product_id)
    if version_id is not None:
        query = query.where(release_actions.c.version_id == version_id)
    query = query.order_by(
        release_actions.c.version_id, release_actions.c.phase.desc(), release_actions.c.sort_order
    )
    return [_row_to_stored(row, product) for row in conn.execute(query)]


def list_actions(ctx: Context, product: str, *, version: str | None = None) -> list[StoredAction]:
    """A product's actions: by version (first appearance), ``up`` before ``down``, by order."""
    product = _product_name(product, lookup=True)
    with ctx.read() as conn:
        product_id = _require_product(conn, product)
        version_id = None
        if version is not None:
            version = validate_version(version, lookup=True)
            version_id = _find_version_id(conn, product_id, version)
            if version_id is None:
                raise NotFoundError(
                    f"version {version} of {product} does not exist", field="version"
                )
        return _load_stored(conn, product_id, product, version_id)


def _find_version_id(conn: Connection, product_id: int, version: str) -> int | None:
    return conn.execute(
        select(versions.c.id).where(
            versions.c.product_id == product_id, versions.c.version == version
        )
    ).scalar()


def _lock_reason(conn: Connection, product_id: int, version_id: int, version: str) -> str | None:
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
    product = _product_name(product)
    version = validate_version(spec.version, strict_semver=ctx.settings.strict_semver)
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
    _check_action(probe)
    now = ctx.now()
    with ctx.write() as conn:
        product_id = ensure_product(conn, product, now)
        version_id = ensure_version(
            conn, product_id, version, parse_semver(version) is not None, now
        ).id
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
        reason = _lock_reason(conn, product_id, version_id, version)
        if reason is not None:
            what = (
                f"changing {action.phase} action #{action.order}"
                if existing is not None
                else f"adding {_slot(action)}"
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
            conn.execute(
                update(release_actions)
                .where(release_actions.c.id == existing.id)
                .values(**_action_values(action), source=source, updated_at=now)
            )
            action_id = int(existing.id)
            change = "replaced"
        else:
            action_id = int(
                conn.execute(
                    release_actions.insert()
                    .values(
                        product_id=product_id,
                        version_id=version_id,
                        **_action_values(action),
                        source=source,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(release_actions.c.id)
                ).scalar_one()
            )
            change = "created"
        row = conn.execute(_action_query().where(release_actions.c.id == action_id)).one()
        return ActionChange(_row_to_stored(row, product), change)


def _action_values(action: ReleaseAction) -> dict[str, Any]:
    return {
        "phase": str(action.phase),
        "sort_order": action.order,
        "kind": str(action.kind),
        "name": action.name,
        "body": action.body,
        "database_ref": action.database_ref,
        "checksum": action.checksum,
    }


# -- predecessors -----------------------------------------------------------------------


def set_predecessor(
    ctx: Context, product: str, version: str, predecessor: str | None
) -> dict[str, Any]:
    """Set (or with None clear) the explicit predecessor of ``version``.

    The predecessor may name a version that does not exist yet; the lineage then
    reports the gap (``predecessor_known`` in the answer says so up front).
    """
    product = _product_name(product)
    version = validate_version(version, strict_semver=ctx.settings.strict_semver)
    if predecessor is not None:
        predecessor = validate_version(predecessor, field="predecessor")
        if predecessor == version:
            raise InvalidInputError(
                f"version {version} cannot be its own predecessor", field="predecessor"
            )
    now = ctx.now()
    with ctx.write() as conn:
        product_id = ensure_product(conn, product, now)
        version_id = ensure_version(
            conn, product_id, version, parse_semver(version) is not None, now
        ).id
        _write_predecessor(conn, product_id, version_id, predecessor, now)
        known = predecessor is None or _find_version_id(conn, product_id, predecessor) is not None
    return {
        "product": product,
        "version": version,
        "predecessor": predecessor,
        "predecessor_known": known,
    }


def _write_predecessor(
    conn: Connection, product_id: int, version_id: int, predecessor: str | None, now: datetime
) -> None:
    if predecessor is None:
        conn.execute(
            delete(release_predecessors).where(release_predecessors.c.version_id == version_id)
        )
        return
    stmt = dialect_insert(conn, release_predecessors).values(
        version_id=version_id, product_id=product_id, predecessor=predecessor, updated_at=now
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["version_id"],
            set_={"predecessor": predecessor, "updated_at": now},
        )
    )


# -- lineage ----------------------------------------------------------------------------


def _lineage_nodes(conn: Connection, product_id: int) -> list[VersionNode]:
    rows = conn.execute(
        select(versions.c.id, versions.c.version, release_predecessors.c.predecessor)
        .select_from(
            versions.outerjoin(
                release_predecessors, release_predecessors.c.version_id == versions.c.id
            )
        )
        .where(versions.c.product_id == product_id)
        .order_by(versions.c.id)
    ).all()
    return [VersionNode(row.version, int(row.id), row.predecessor) for row in rows]


def load_lineage(ctx: Context, product: str, *, strict: bool | None = None) -> Lineage:
    """The product's lineage; ConflictError listing every gap/cycle (and, strict, more)."""
    product = _product_name(product, lookup=True)
    strict_mode = lineage_is_strict(ctx.settings, product, strict)
    with ctx.read() as conn:
        product_id = _require_product(conn, product)
        nodes = _lineage_nodes(conn, product_id)
    return Lineage.build(nodes, strict=strict_mode)


# -- positions and the current version ------------------------------------------------


def current_version(conn: Connection, product_id: int, environment_id: int | None) -> str | None:
    """The running application version (from current_state), None for a fresh environment."""
    if environment_id is None:
        return None
    value: str | None = conn.execute(
        select(deployments.c.version)
        .select_from(
            current_state.join(deployments, deployments.c.id == current_state.c.deployment_id)
        )
        .where(
            current_state.c.product_id == product_id,
            current_state.c.environment_id == environment_id,
        )
    ).scalar()
    return value


def current_deployment_id(
    conn: Connection, product_id: int, environment_id: int | None
) -> int | None:
    if environment_id is None:
        return None
    value = conn.execute(
        select(current_state.c.deployment_id).where(
            current_state.c.product_id == product_id,
            current_state.c.environment_id == environment_id,
        )
    ).scalar()
    return None if value is None else int(value)


def _position_row(conn: Connection, product_id: int, environment_id: int) -> Any:
    return conn.execute(
        select(
            release_positions.c.version_id,
            versions.c.version,
            release_positions.c.run_id,
            release_positions.c.deployment_id,
            release_positions.c.updated_at,
            release_positions.c.lock_owner,
            release_positions.c.lock_until,
        )
        .select_from(
            release_positions.outerjoin(versions, versions.c.id == release_positions.c.version_id)
        )
        .where(
            release_positions.c.product_id == product_id,
            release_positions.c.environment_id == environment_id,
        )
    ).first()


def get_position(ctx: Context, product: str, environment: str) -> Position | None:
    """The schema position, or None when no action ever ran there (nor a lease was taken)."""
    product = _product_name(product, lookup=True)
    environment = validate_lookup_name(environment, field="environment")
    with ctx.read() as conn:
        product_id = find_product_id(conn, product)
        environment_id = find_environment_id(conn, environment)
        if product_id is None or environment_id is None:
            return None
        row = _position_row(conn, product_id, environment_id)
    if row is None:
        return None
    return Position(
        product=product,
        environment=environment,
        version=row.version,
        updated_at=row.updated_at,
        run_id=row.run_id,
        deployment_id=row.deployment_id,
        lock_owner=row.lock_owner,
        lock_until=row.lock_until,
    )


def _ids_for_write(
    conn: Connection, product: str, environment: str, now: datetime
) -> tuple[int, int]:
    product_id = _require_product(conn, product)
    environment_id = ensure_environment(
        conn, environment, now, infer_kind(environment), inferred=True
    )
    return product_id, environment_id


def set_position(
    ctx: Context,
    product: str,
    environment: str,
    version: str,
    *,
    run_id: int | None = None,
    deployment_id: int | None = None,
) -> None:
    """Record that the actions up to ``version`` completed there (its own transaction)."""
    product = _product_name(product)
    environment = validate_name(environment, field="environment")
    now = ctx.now()
    with ctx.write() as conn:
        product_id, environment_id = _ids_for_write(conn, product, environment, now)
        version_id = _find_version_id(conn, product_id, version)
        if version_id is None:
            raise NotFoundError(f"version {version} of {product} does not exist", field="version")
        values = {
            "version_id": version_id,
            "run_id": run_id,
            "deployment_id": deployment_id,
            "updated_at": now,
        }
        stmt = dialect_insert(conn, release_positions).values(
            product_id=product_id, environment_id=environment_id, **values
        )
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["product_id", "environment_id"], set_=values)
        )


def acquire_lease(
    ctx: Context, product: str, environment: str, owner: str, *, seconds: float
) -> None:
    """Take (or renew) the right to run actions there for ``seconds``.

    ConflictError (``field="environment"``) when someone else holds a lease that has
    not run out.  The same ``owner`` may take it again (a resumed run, a renewal).
    """
    now = ctx.now()
    until = now + timedelta(seconds=seconds)
    with ctx.write() as conn:
        product_id, environment_id = _ids_for_write(conn, product, environment, now)
        lock_product_environment(conn, product_id, environment_id)
        row = _position_row(conn, product_id, environment_id)
        if (
            row is not None
            and row.lock_owner is not None
            and row.lock_owner != owner
            and row.lock_until is not None
            and row.lock_until > now
        ):
            raise ConflictError(
                f"release actions of {product} are already running in {environment} "
                f"({row.lock_owner}, lease until {format_time(row.lock_until)}); wait for it "
                "to finish",
                field="environment",
                owner=row.lock_owner,
            )
        if row is None:
            conn.execute(
                release_positions.insert().values(
                    product_id=product_id,
                    environment_id=environment_id,
                    version_id=None,
                    updated_at=now,
                    lock_owner=owner,
                    lock_until=until,
                )
            )
        else:
            conn.execute(
                update(release_positions)
                .where(
                    release_positions.c.product_id == product_id,
                    release_positions.c.environment_id == environment_id,
                )
                .values(lock_owner=owner, lock_until=until)
            )


def release_lease(ctx: Context, product: str, environment: str, owner: str) -> None:
    """Give the lease back (only if ``owner`` still holds it)."""
    with ctx.write() as conn:
        product_id = find_product_id(conn, product)
        environment_id = find_environment_id(conn, environment)
        if product_id is None or environment_id is None:
            return
        conn.execute(
            update(release_positions)
            .where(
                release_positions.c.product_id == product_id,
                release_positions.c.environment_id == environment_id,
                release_positions.c.lock_owner == owner,
            )
            .values(lock_owner=None, lock_until=None)
        )


# -- plans ------------------------------------------------------------------------------


def plan_for(
    ctx: Context,
    product: str,
    environment: str,
    target: str,
    *,
    strict: bool | None = None,
    assume_new_target: bool = False,
) -> Plan:
    """The plan for moving ``environment`` to ``target``; nothing changes.

    The application version comes from the current state (none: a fresh
    environment, starting from the base), the schema position from
    :func:`get_position`.  Lineage problems raise before anything runs.  With
    ``assume_new_target`` a target that is not a version of the product yet is
    planned as its newest version (where recording it will put it: a deploy run
    plans before it records the version); otherwise it is a NotFoundError.
    """
    product = _product_name(product)
    environment = validate_name(environment, field="environment")
    if not isinstance(target, str):
        raise InvalidInputError("target must be a version", field="target")
    # A full version (1.4.0+build.7) names its version: builds share its actions.
    target = validate_version(parse_full_version(target).version, field="target")
    strict_mode = lineage_is_strict(ctx.settings, product, strict)
    with ctx.read() as conn:
        product_id = _require_product(conn, product)
        environment_id = find_environment_id(conn, environment)
        nodes = _lineage_nodes(conn, product_id)
        if assume_new_target and all(n.version != target for n in nodes):
            last = max((n.ordinal for n in nodes), default=0)
            nodes.append(VersionNode(target, last + 1))
        stored = _load_stored(conn, product_id, product)
        current = current_version(conn, product_id, environment_id)
        position = None
        if environment_id is not None:
            row = _position_row(conn, product_id, environment_id)
            position = None if row is None else row.version
    lineage = Lineage.build(nodes, strict=strict_mode)
    return plan(lineage, current, target, [s.action for s in stored], position=position)


# -- versions folder and sync ----------------------------------------------------------


def read_versions_dir(
    path: str | Path, *, database_ref: str | None = None
) -> tuple[list[DeclaredVersion], list[str]]:
    """Read a versions folder (layout in the module doc); also returns what was ignored.

    ``database_ref`` is the default for SQL files of versions whose ``release.toml``
    names none.  Errors name the file (``field`` is ``dir``, ``release.toml`` keys or
    ``database_ref``).
    """
    root = Path(path)
    if not root.is_dir():
        raise InvalidInputError(f"the versions folder {str(path)!r} does not exist", field="dir")
    label = root.name or str(root)
    real = root.resolve()
    declared: list[DeclaredVersion] = []
    ignored: list[str] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        require_inside(real, entry, f"{label}/{entry.name}")
        if not entry.is_dir():
            ignored.append(f"{label}/{entry.name}")
            continue
        try:
            version = validate_version(entry.name, field="dir")
        except InvalidInputError:
            ignored.append(f"{label}/{entry.name}/")
            continue
        if version != entry.name:
            ignored.append(f"{label}/{entry.name}/")
            continue
        toml = f"{label}/{entry.name}/release.toml"
        meta = _read_release_toml(require_inside(real, entry / "release.toml", toml), toml)
        predecessor = meta.get("predecessor")
        ref = meta.get("database_ref", database_ref)
        actions: list[ReleaseAction] = []
        for child in sorted(entry.iterdir(), key=lambda p: p.name):
            if child.name.startswith(".") or child.name == "release.toml":
                continue
            require_inside(real, child, f"{label}/{entry.name}/{child.name}")
            if child.name not in ("up", "down") or not child.is_dir():
                ignored.append(f"{label}/{entry.name}/{child.name}")
                continue
            files = [f for f in sorted(child.iterdir(), key=lambda p: p.name)]
            order = 0
            for file in files:
                shown = f"{label}/{entry.name}/{child.name}/{file.name}"
                if not file.name.startswith("."):
                    require_inside(real, file, shown)
                if file.name.startswith(".") or not file.is_file():
                    if not file.name.startswith("."):
                        ignored.append(shown + "/")
                    continue
                if file.suffix not in (".sql", ".sh"):
                    ignored.append(shown)
                    continue
                try:
                    body = file.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise InvalidInputError(f"{shown} cannot be read: {exc}", field="dir") from None
                if not body.strip():
                    raise InvalidInputError(f"{shown} is empty", field="dir")
                kind = "sql" if file.suffix == ".sql" else "shell"
                if kind == "sql" and not ref:
                    raise InvalidInputError(
                        f"{shown} is SQL but no database_ref is set: add database_ref = "
                        f'"APP_DB_URL" to {label}/{entry.name}/release.toml or pass '
                        "--database-ref (the name of the variable holding the URL)",
                        field="database_ref",
                    )
                order += 10
                try:
                    action = ReleaseAction.create(
                        version=version,
                        phase=child.name,
                        order=order,
                        kind=kind,
                        name=shown,
                        body=body,
                        database_ref=ref if kind == "sql" else None,
                    )
                except InvalidInputError as exc:
                    raise InvalidInputError(f"{shown}: {exc.message}", field=exc.field) from None
                _check_action(action)
                actions.append(action)
        declared.append(DeclaredVersion(version, predecessor, tuple(actions)))
    return declared, ignored


def _read_release_toml(path: Path, shown: str) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(f"{shown} cannot be read: {exc}", field="release.toml") from None
    unknown = sorted(set(data) - set(_RELEASE_TOML_KEYS))
    if unknown:
        raise InvalidInputError(
            f"{shown} has unknown key {unknown[0]!r} (known: {', '.join(_RELEASE_TOML_KEYS)})",
            field=f"release.toml.{unknown[0]}",
        )
    result: dict[str, str] = {}
    if "predecessor" in data:
        result["predecessor"] = validate_version(
            data["predecessor"], field="release.toml.predecessor"
        )
    if "database_ref" in data:
        ref = data["database_ref"]
        if not isinstance(ref, str) or not ref.strip():
            raise InvalidInputError(
                f"{shown}: database_ref must name an environment variable",
                field="release.toml.database_ref",
            )
        result["database_ref"] = ref.strip()
    return result


def _creation_order(declared: Sequence[DeclaredVersion]) -> list[DeclaredVersion]:
    """SemVer versions by precedence, then the others in the order given."""
    semver = [d for d in declared if parse_semver(d.version) is not None]
    semver.sort(key=lambda d: parse_semver(d.version).precedence_key())  # type: ignore[union-attr]
    return semver + [d for d in declared if parse_semver(d.version) is None]


def sync_versions(
    ctx: Context,
    product: str,
    declared: Sequence[DeclaredVersion],
    *,
    ignored: Sequence[str] = (),
    source: str = "sync",
) -> SyncReport:
    """Make the declared versions' actions and predecessors match (module doc); all or nothing."""
    product = _product_name(product)
    seen: set[str] = set()
    for item in declared:
        validate_version(item.version, strict_semver=ctx.settings.strict_semver)
        if item.version in seen:
            raise InvalidInputError(
                f"version {item.version} is declared twice", field="versions", version=item.version
            )
        seen.add(item.version)
        slots: set[tuple[str, int]] = set()
        for action in item.actions:
            if action.version != item.version:
                raise InvalidInputError(
                    f"action {action.name!r} belongs to {action.version}, not {item.version}",
                    field="versions",
                )
            key = (str(action.phase), action.order)
            if key in slots:
                raise InvalidInputError(
                    f"version {item.version} has two {action.phase} actions with order "
                    f"{action.order}",
                    field="order",
                )
            slots.add(key)
            _check_action(action)
    now = ctx.now()
    results: list[VersionSync] = []
    problems: list[str] = []
    refused: list[dict[str, Any]] = []
    with ctx.write() as conn:
        product_id = ensure_product(conn, product, now)
        for item in _creation_order(declared):
            existed = _find_version_id(conn, product_id, item.version)
            version_id = ensure_version(
                conn, product_id, item.version, parse_semver(item.version) is not None, now
            ).id
            stored = {
                (str(s.action.phase), s.action.order): s
                for s in _load_stored(conn, product_id, product, version_id)
            }
            wanted = {(str(a.phase), a.order): a for a in item.actions}
            added = [a for key, a in wanted.items() if key not in stored]
            replaced = [
                a
                for key, a in wanted.items()
                if key in stored
                and (stored[key].action.checksum != a.checksum or stored[key].action.name != a.name)
            ]
            removed = [s for key, s in stored.items() if key not in wanted]
            old_pred = conn.execute(
                select(release_predecessors.c.predecessor).where(
                    release_predecessors.c.version_id == version_id
                )
            ).scalar()
            pred_changed = old_pred != item.predecessor
            if added or replaced or removed:
                reason = _lock_reason(conn, product_id, version_id, item.version)
                if reason is not None:
                    changes = (
                        [f"adding {_slot(a)}" for a in added]
                        + [f"changing {_slot(a)}" for a in replaced]
                        + [f"removing {_slot(s.action)}" for s in removed]
                    )
                    problems.append(f"{item.version} ({reason}): " + "; ".join(changes))
                    refused.append({"version": item.version, "reason": reason, "changes": changes})
                    continue
            for s in removed:
                conn.execute(delete(release_actions).where(release_actions.c.id == s.id))
            for a in replaced:
                conn.execute(
                    update(release_actions)
                    .where(release_actions.c.id == stored[(str(a.phase), a.order)].id)
                    .values(**_action_values(a), source=source, updated_at=now)
                )
            for a in added:
                conn.execute(
                    release_actions.insert().values(
                        product_id=product_id,
                        version_id=version_id,
                        **_action_values(a),
                        source=source,
                        created_at=now,
                        updated_at=now,
                    )
                )
            if pred_changed:
                _write_predecessor(conn, product_id, version_id, item.predecessor, now)
            results.append(
                VersionSync(
                    version=item.version,
                    created=existed is None,
                    added=tuple(a.name for a in added),
                    replaced=tuple(a.name for a in replaced),
                    removed=tuple(s.action.name for s in removed),
                    predecessor=item.predecessor,
                    predecessor_changed=pred_changed,
                )
            )
        if problems:
            raise ConflictError(
                f"the actions of {product} cannot change for versions that were deployed or "
                "whose actions ran (make a new version instead); nothing was synced: "
                + " | ".join(problems),
                field="version",
                product=product,
                refused=refused,
            )
    order = {d.version: i for i, d in enumerate(declared)}
    results.sort(key=lambda r: order[r.version])
    return SyncReport(product, tuple(results), tuple(ignored))
