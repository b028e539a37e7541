"""Products, environments and versions as lists; setting an environment's kind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from shipmate.domain.environments import EnvironmentKind
from shipmate.domain.environments import parse_kind as parse_env_kind
from shipmate.domain.inputs.fields import format_time, validate_name
from shipmate.domain.versions import parse_semver
from shipmate.errors import NotFoundError
from shipmate.services.context import Context
from shipmate.store.catalog import ensure_environment, find_product_id
from shipmate.store.deployments import append_event
from shipmate.store.name_guard import creating_names
from shipmate.store.schema import deployments, environments, products, versions

__all__ = [
    "EnvironmentInfo",
    "ProductInfo",
    "VersionInfo",
    "list_environments",
    "list_products",
    "list_versions",
    "set_environment_kind",
]


def _time(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)


@dataclass(frozen=True)
class ProductInfo:
    id: int
    name: str
    created_at: datetime
    deployments: int
    archived_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "created_at": format_time(self.created_at),
            "deployments": self.deployments,
            "archived_at": _time(self.archived_at),
        }


@dataclass(frozen=True)
class EnvironmentInfo:
    id: int
    name: str
    kind: str
    kind_inferred: bool
    created_at: datetime
    archived_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "kind": self.kind,
            "kind_inferred": self.kind_inferred,
            "created_at": format_time(self.created_at),
            "archived_at": _time(self.archived_at),
        }


@dataclass(frozen=True)
class VersionInfo:
    id: int
    product: str
    version: str
    is_semver: bool
    commit_sha: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "product": self.product,
            "version": self.version,
            "is_semver": self.is_semver,
            "commit_sha": self.commit_sha,
            "created_at": format_time(self.created_at),
        }


def list_products(ctx: Context) -> list[ProductInfo]:
    with ctx.read() as conn:
        counts: dict[int, int] = dict(
            conn.execute(
                select(deployments.c.product_id, func.count()).group_by(deployments.c.product_id)
            ).all()
        )
        rows = conn.execute(select(products).order_by(products.c.name)).all()
    return [
        ProductInfo(r.id, r.name, r.created_at, int(counts.get(r.id, 0)), r.archived_at)
        for r in rows
    ]


def _env_key(row: Any) -> tuple[int, str]:
    try:
        return (EnvironmentKind(row.kind).rank, row.name)
    except ValueError:
        return (0, row.name)


def list_environments(ctx: Context) -> list[EnvironmentInfo]:
    with ctx.read() as conn:
        rows = conn.execute(select(environments)).all()
    return [
        EnvironmentInfo(r.id, r.name, r.kind, bool(r.kind_inferred), r.created_at, r.archived_at)
        for r in sorted(rows, key=_env_key)
    ]


def set_environment_kind(
    ctx: Context, name: str, kind: str, *, actor: str | None = None, key_name: str | None = None
) -> EnvironmentInfo:
    """Create the environment if needed and set its kind explicitly."""
    name = validate_name(name, field="environment")
    parsed = parse_env_kind(kind)
    now = ctx.now()
    # Setting a kind declares the environment: no near-miss check.
    with creating_names(), ctx.write() as conn:
        env_id = ensure_environment(conn, name, now, parsed.value, inferred=False)
        conn.execute(
            update(environments)
            .where(environments.c.id == env_id)
            .values(kind=parsed.value, kind_inferred=False)
        )
        append_event(
            conn,
            type="environment.kind_set",
            at=now,
            actor=actor,
            key_name=key_name,
            environment_id=env_id,
            data={"kind": parsed.value},
        )
        row = conn.execute(select(environments).where(environments.c.id == env_id)).one()
    return EnvironmentInfo(
        row.id, row.name, row.kind, bool(row.kind_inferred), row.created_at, row.archived_at
    )


def list_versions(ctx: Context, product: str) -> list[VersionInfo]:
    """A product's versions: SemVer by precedence (newest first), then opaque by appearance."""
    with ctx.read() as conn:
        pid = find_product_id(conn, product)
        if pid is None:
            raise NotFoundError(f"product {product!r} does not exist", field="product")
        rows = conn.execute(select(versions).where(versions.c.product_id == pid)).all()
    semver = [r for r in rows if r.is_semver]
    opaque = [r for r in rows if not r.is_semver]

    def precedence(row: Any) -> tuple[object, ...]:
        parsed = parse_semver(row.version)
        assert parsed is not None
        return parsed.precedence_key()

    ordered = sorted(semver, key=precedence, reverse=True) + sorted(
        opaque, key=lambda r: r.id, reverse=True
    )
    return [
        VersionInfo(r.id, product, r.version, bool(r.is_semver), r.commit_sha, r.created_at)
        for r in ordered
    ]
