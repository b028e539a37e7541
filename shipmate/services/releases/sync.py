"""Syncing a product's versions with what a versions folder (or an API client) declares.

:func:`sync_versions` makes the declared versions (:class:`DeclaredVersion`, read
from a folder by :func:`~shipmate.services.releases.folder.read_versions_dir` or
received by the API) match: actions added, replaced or removed, predecessors set
or cleared.  Versions not declared are not touched, so the down actions of
versions newer than the code on disk stay.  Syncing identical content changes
nothing.  It is all or nothing: one refused change (an immutable version, see
:mod:`shipmate.services.releases.actions`) refuses the whole sync, listing every
problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from shipmate.domain.releases.planning import ReleaseAction
from shipmate.domain.versions import parse_semver, validate_version
from shipmate.errors import ConflictError, InvalidInputError
from shipmate.services.context import Context
from shipmate.services.releases.actions import (
    check_action,
    describe_slot,
    insert_action_row,
    load_stored,
    lock_reason,
    replace_action_row,
)
from shipmate.services.releases.lineage import write_predecessor
from shipmate.services.releases.lookups import ensure_version_id, find_version_id, product_name
from shipmate.store.catalog import ensure_product
from shipmate.store.schema_releases import release_actions, release_predecessors

__all__ = ["DeclaredVersion", "SyncReport", "VersionSync", "sync_versions"]


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
    product = product_name(product)
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
            check_action(action)
    now = ctx.now()
    results: list[VersionSync] = []
    problems: list[str] = []
    refused: list[dict[str, Any]] = []
    with ctx.write() as conn:
        product_id = ensure_product(conn, product, now)
        for item in _creation_order(declared):
            existed = find_version_id(conn, product_id, item.version)
            version_id = ensure_version_id(conn, product_id, item.version, now)
            stored = {
                (str(s.action.phase), s.action.order): s
                for s in load_stored(conn, product_id, product, version_id)
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
                reason = lock_reason(conn, product_id, version_id, item.version)
                if reason is not None:
                    changes = (
                        [f"adding {describe_slot(a)}" for a in added]
                        + [f"changing {describe_slot(a)}" for a in replaced]
                        + [f"removing {describe_slot(s.action)}" for s in removed]
                    )
                    problems.append(f"{item.version} ({reason}): " + "; ".join(changes))
                    refused.append({"version": item.version, "reason": reason, "changes": changes})
                    continue
            for s in removed:
                conn.execute(delete(release_actions).where(release_actions.c.id == s.id))
            for a in replaced:
                row_id = int(stored[(str(a.phase), a.order)].id)
                replace_action_row(conn, row_id, a, source=source, now=now)
            for a in added:
                insert_action_row(conn, product_id, version_id, a, source=source, now=now)
            if pred_changed:
                write_predecessor(conn, product_id, version_id, item.predecessor, now)
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
