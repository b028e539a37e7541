"""The two ends of a changelog, worked out from shipmate's records, without git.

Which commits
=============

:func:`changelog_range` works out the two ends:

* **to**: ``to_ref`` when given, else the product's current deployment in the
  environment (see *current state*).
* **from**: ``from_ref`` when given; else, when *to* is a deployment in that
  environment, the completed (or later rolled-back) deployment there that
  finished just before it; else the current deployment there (so ``--to`` alone
  previews what deploying that commit would ship).

A ref is first looked up as a version of the product: a full version
(``1.4.0+build.7``) or a version (``1.4.0``) that was deployed (preferring a
deployment in the environment, newest first), built, or registered with a
commit.  Anything else is taken as a git revision (a commit, tag or branch) and
resolved by the repository.  So a version wins over a git tag of the same name.

:func:`deployment_range` is what one deployment shipped: from the deployment before
it in its environment to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, case, desc, select

from shipmate.domain import changelog as domain
from shipmate.domain.fielddicts import fields_dict, optional_str
from shipmate.domain.lifecycle import Status
from shipmate.domain.records import DeploymentRecord
from shipmate.errors import InvalidInputError, NotFoundError
from shipmate.services.context import Context
from shipmate.store.catalog import find_environment_id, find_product_id
from shipmate.store.deployments import deployment_select, get_deployment, row_to_deployment
from shipmate.store.schema import builds, current_state, deployments, versions

__all__ = ["ChangelogEnd", "ChangelogRange", "changelog_range", "deployment_range"]

_COMPLETED = (Status.COMPLETED.value, Status.ROLLED_BACK.value)


@dataclass(frozen=True)
class ChangelogEnd:
    """One end of a changelog: what was asked for and what it stands for."""

    ref: str
    sha: str | None = None
    version: str | None = None
    full_version: str | None = None
    deployment_id: int | None = None

    @property
    def label(self) -> str:
        if self.full_version:
            return self.full_version
        if self.version:
            return self.version
        if self.sha and self.sha.startswith(self.ref) and len(self.ref) >= 12:
            return self.sha[: domain.SHORT_SHA]
        return self.ref

    def to_dict(self) -> dict[str, Any]:
        return {**fields_dict(self, deployment_id=optional_str), "label": self.label}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChangelogEnd:
        dep = data.get("deployment_id")
        return cls(
            ref=str(data["ref"]),
            sha=data.get("sha"),
            version=data.get("version"),
            full_version=data.get("full_version"),
            deployment_id=None if dep is None else int(dep),
        )


@dataclass(frozen=True)
class ChangelogRange:
    """The two ends; ``start`` is None when there is no earlier deployment to start from."""

    product: str
    environment: str | None
    start: ChangelogEnd | None
    end: ChangelogEnd

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "environment": self.environment,
            "from": None if self.start is None else self.start.to_dict(),
            "to": self.end.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChangelogRange:
        return cls(
            product=str(data["product"]),
            environment=data.get("environment"),
            start=None if data.get("from") is None else ChangelogEnd.from_dict(data["from"]),
            end=ChangelogEnd.from_dict(data["to"]),
        )


def _deployment_end(dep: DeploymentRecord, *, field: str) -> ChangelogEnd:
    if not dep.commit_sha:
        raise NotFoundError(
            f"deployment {dep.id} ({dep.product} {dep.full_version} in {dep.environment}) "
            f"recorded no commit; pass --{field} with a commit or version",
            field=field,
            deployment_id=str(dep.id),
        )
    return ChangelogEnd(
        ref=dep.full_version,
        sha=dep.commit_sha,
        version=dep.version,
        full_version=dep.full_version,
        deployment_id=dep.id,
    )


def _previous_completed(conn: Connection, dep: DeploymentRecord) -> DeploymentRecord | None:
    """The completed (or rolled-back) deployment in ``dep``'s stream that finished before it."""
    finished = dep.finished_at or dep.deployed_at
    row = conn.execute(
        deployment_select()
        .where(
            deployments.c.product_id == dep.product_id,
            deployments.c.environment_id == dep.environment_id,
            deployments.c.status.in_(_COMPLETED),
            deployments.c.id != dep.id,
            (deployments.c.finished_at < finished)
            | and_(deployments.c.finished_at == finished, deployments.c.id < dep.id),
        )
        .order_by(desc(deployments.c.finished_at), desc(deployments.c.id))
        .limit(1)
    ).first()
    return None if row is None else row_to_deployment(row)


def _current(conn: Connection, product_id: int, environment_id: int) -> DeploymentRecord | None:
    dep_id = conn.execute(
        select(current_state.c.deployment_id).where(
            current_state.c.product_id == product_id,
            current_state.c.environment_id == environment_id,
        )
    ).scalar()
    return None if dep_id is None else get_deployment(conn, int(dep_id))


def _resolve_ref(
    conn: Connection, product_id: int, environment_id: int | None, ref: str, *, field: str
) -> tuple[ChangelogEnd, DeploymentRecord | None]:
    """A version of the product (deployed, built or registered), else a git revision."""
    ref = ref.strip()
    if not ref:
        raise InvalidInputError(f"{field} must not be empty", field=field)
    if len(ref) > 255 or ref.startswith("-") or any(c in ref for c in "\x00\n\r"):
        raise InvalidInputError(
            f"{field} {ref[:80]!r} is not a version or git revision", field=field
        )
    column = deployments.c.full_version if "+build." in ref else deployments.c.version
    order = [desc(deployments.c.id)]
    if environment_id is not None:  # a deployment in the environment first
        order.insert(0, case((deployments.c.environment_id == environment_id, 0), else_=1))
    row = conn.execute(
        deployment_select()
        .where(
            deployments.c.product_id == product_id,
            column == ref,
            deployments.c.commit_sha.is_not(None),
        )
        .order_by(*order)
        .limit(1)
    ).first()
    if row is not None:
        dep = row_to_deployment(row)
        here = environment_id is not None and dep.environment_id == environment_id
        end = ChangelogEnd(
            ref=ref,
            sha=dep.commit_sha,
            version=dep.version,
            full_version=dep.full_version if "+build." in ref else None,
            deployment_id=dep.id if here else None,
        )
        return end, dep if here else None
    build_col = builds.c.full_version if "+build." in ref else versions.c.version
    built = conn.execute(
        select(builds.c.commit_sha, builds.c.full_version, versions.c.version)
        .select_from(builds.join(versions, versions.c.id == builds.c.version_id))
        .where(
            builds.c.product_id == product_id, build_col == ref, builds.c.commit_sha.is_not(None)
        )
        .order_by(desc(builds.c.id))
        .limit(1)
    ).first()
    if built is not None:
        full = built.full_version if "+build." in ref else None
        return ChangelogEnd(ref, built.commit_sha, built.version, full), None
    pinned = conn.execute(
        select(versions.c.commit_sha).where(
            versions.c.product_id == product_id,
            versions.c.version == ref,
            versions.c.commit_sha.is_not(None),
        )
    ).scalar()
    if pinned is not None:
        return ChangelogEnd(ref, pinned, ref), None
    return ChangelogEnd(ref), None


def changelog_range(
    ctx: Context,
    product: str,
    environment: str | None,
    from_ref: str | None = None,
    to_ref: str | None = None,
) -> ChangelogRange:
    """The two ends of a changelog, from shipmate's records (rules in the module docstring)."""
    if not product:
        raise InvalidInputError("product is required", field="product")
    with ctx.read() as conn:
        product_id = find_product_id(conn, product)
        if product_id is None:
            raise NotFoundError(f"product {product!r} does not exist", field="product")
        environment_id = None
        if environment:
            environment_id = find_environment_id(conn, environment)
            if environment_id is None:
                raise NotFoundError(
                    f"environment {environment!r} does not exist", field="environment"
                )
        elif from_ref is None or to_ref is None:
            raise InvalidInputError(
                "environment is required unless both from and to are given", field="environment"
            )
        to_dep: DeploymentRecord | None
        if to_ref is not None:
            end, to_dep = _resolve_ref(conn, product_id, environment_id, to_ref, field="to")
        else:
            assert environment_id is not None
            to_dep = _current(conn, product_id, environment_id)
            if to_dep is None:
                raise NotFoundError(
                    f"{product} has no current deployment in {environment}; pass --to",
                    field="to",
                )
            end = _deployment_end(to_dep, field="to")
        start: ChangelogEnd | None
        if from_ref is not None:
            start, _ = _resolve_ref(conn, product_id, environment_id, from_ref, field="from")
        else:
            assert environment_id is not None
            base = (
                _previous_completed(conn, to_dep)
                if to_dep is not None
                else _current(conn, product_id, environment_id)
            )
            start = None if base is None else _deployment_end(base, field="from")
    return ChangelogRange(product=product, environment=environment, start=start, end=end)


def deployment_range(ctx: Context, deployment_id: int) -> ChangelogRange:
    """What deployment ``deployment_id`` shipped: from the deployment before it there."""
    with ctx.read() as conn:
        dep = get_deployment(conn, deployment_id)
        if dep is None:
            raise NotFoundError(f"deployment {deployment_id} does not exist", field="id")
        end = _deployment_end(dep, field="to")
        base = _previous_completed(conn, dep)
    start = None if base is None else _deployment_end(base, field="from")
    return ChangelogRange(dep.product, dep.environment, start, end)
