"""Deployment gates: approvals of a version for an environment.

:func:`approve` records one approval per identity (trimmed, case-insensitive)
of (product, version, environment), with a ``gate.approved`` event;
:func:`list_approvals` lists them.  Whether an approval counts is decided when
the deployment is evaluated (:mod:`shipmate.domain.gates.evaluate`): the
deployer's own does not, unless the rule allows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from shipmate.domain.environments import infer_kind
from shipmate.domain.fielddicts import fields_dict
from shipmate.domain.inputs.fields import (
    format_time,
    validate_lookup_name,
    validate_name,
    validate_text,
)
from shipmate.errors import InvalidInputError, NotFoundError
from shipmate.services.context import Context
from shipmate.services.gates.facts import find_version_id, subject_version
from shipmate.store.catalog import ensure_environment, find_product_id
from shipmate.store.deployments import append_event
from shipmate.store.schema import environments, products, versions
from shipmate.store.schema_gates import gate_approvals

__all__ = ["Approval", "approve", "list_approvals"]


@dataclass(frozen=True)
class Approval:
    id: int
    product: str
    version: str
    environment: str
    approver: str
    comment: str | None
    key_name: str | None
    approved_at: datetime
    #: False when this identity had already approved (the earlier approval is returned).
    created: bool = True

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self, id=str, approved_at=format_time)


def _identity(value: object, field_name: str) -> str:
    text = validate_text(value, field=field_name, max_length=255)
    if text is None:
        raise InvalidInputError(
            f"{field_name}: nobody to approve as (no key name; locally no CI actor nor "
            "login name: set LOGNAME)",
            field=field_name,
        )
    return text


def _approval_select() -> Any:
    return select(
        gate_approvals,
        products.c.name.label("product_name"),
        versions.c.version.label("version_name"),
        environments.c.name.label("environment_name"),
    ).select_from(
        gate_approvals.join(products, products.c.id == gate_approvals.c.product_id)
        .join(versions, versions.c.id == gate_approvals.c.version_id)
        .join(environments, environments.c.id == gate_approvals.c.environment_id)
    )


def _approval(row: Any, created: bool = True) -> Approval:
    m = row._mapping
    return Approval(
        id=m["id"],
        product=m["product_name"],
        version=m["version_name"],
        environment=m["environment_name"],
        approver=m["approver"],
        comment=m["comment"],
        key_name=m["key_name"],
        approved_at=m["approved_at"],
        created=created,
    )


def approve(
    ctx: Context,
    product: str,
    version: str,
    environment: str,
    *,
    approver: str | None,
    comment: str | None = None,
    key_name: str | None = None,
) -> Approval:
    """Approve deploying ``product`` ``version`` to ``environment``.

    The product and version must be recorded already (a build or a deployment
    somewhere); the environment is created on first use.  One approval per
    identity (trimmed, case-insensitive): approving again returns the first one.
    Whether an approval counts is decided when the deployment is evaluated: the
    deployer's own does not, unless the rule allows it.
    """
    product = validate_name(product, field="product", max_length=255)
    version = subject_version(version, ctx.settings)
    environment = validate_name(environment, field="environment")
    who = _identity(approver, "approver")
    comment = validate_text(comment, field="comment", max_length=500)
    now = ctx.now()
    with ctx.write() as conn:
        product_id = find_product_id(conn, product)
        if product_id is None:
            raise NotFoundError(f"product {product!r} does not exist", field="product")
        version_id = find_version_id(conn, product_id, version)
        if version_id is None:
            raise NotFoundError(
                f"version {version} of {product} is not recorded; approve a version that "
                "has been built or deployed",
                field="version",
            )
        environment_id = ensure_environment(
            conn, environment, now, infer_kind(environment), inferred=True
        )
        key = who.casefold()
        query = _approval_select().where(
            gate_approvals.c.version_id == version_id,
            gate_approvals.c.environment_id == environment_id,
            gate_approvals.c.approver_key == key,
        )
        existing = conn.execute(query).first()
        if existing is not None:
            return _approval(existing, created=False)
        conn.execute(
            insert(gate_approvals).values(
                product_id=product_id,
                version_id=version_id,
                environment_id=environment_id,
                approver=who,
                approver_key=key,
                comment=comment,
                key_name=key_name,
                approved_at=now,
            )
        )
        append_event(
            conn,
            type="gate.approved",
            at=now,
            actor=who,
            key_name=key_name,
            product_id=product_id,
            environment_id=environment_id,
            data={"version": version, "approver": who, "comment": comment},
        )
        row = conn.execute(query).first()
    assert row is not None
    return _approval(row)


def list_approvals(ctx: Context, product: str, version: str, environment: str) -> list[Approval]:
    product = validate_lookup_name(product, field="product", max_length=255)
    version = subject_version(version, ctx.settings, lookup=True)
    environment = validate_lookup_name(environment, field="environment")
    with ctx.read() as conn:
        query = _approval_select().where(
            products.c.name == product,
            versions.c.version == version,
            environments.c.name == environment,
        )
        return [_approval(r) for r in conn.execute(query.order_by(gate_approvals.c.id))]
