"""Stored names outside the name charset: what ``shipmate db check`` lists.

Older versions accepted ``/ @ :`` in product and environment names and
``/ : ~`` in versions (see :mod:`shipmate.domain.inputs.names`).  Such rows stay
readable; this finds them so an operator knows which ones no write accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from shipmate.domain.inputs.names import name_problem
from shipmate.store.schema import environments, products, versions

__all__ = ["OffendingName", "names_outside_charset"]


@dataclass(frozen=True, slots=True)
class OffendingName:
    """One stored name that breaks the charset: ``kind`` is product, environment or version."""

    kind: str
    name: str
    problem: str
    product: str | None = None

    def describe(self) -> str:
        of = f" of product {self.product!r}" if self.product is not None else ""
        return f"{self.kind} {self.name!r}{of} {self.problem}"


def names_outside_charset(conn: Connection) -> list[OffendingName]:
    """Every product, environment and version name outside the charset, sorted."""
    found: list[OffendingName] = []
    for (name,) in conn.execute(select(products.c.name).order_by(products.c.name)):
        if (problem := name_problem(name)) is not None:
            found.append(OffendingName("product", name, problem))
    for (name,) in conn.execute(select(environments.c.name).order_by(environments.c.name)):
        if (problem := name_problem(name)) is not None:
            found.append(OffendingName("environment", name, problem))
    rows = conn.execute(
        select(products.c.name, versions.c.version)
        .join(products, products.c.id == versions.c.product_id)
        .order_by(products.c.name, versions.c.version)
    )
    for product, version in rows:
        if (problem := name_problem(version)) is not None:
            found.append(OffendingName("version", version, problem, product=product))
    return found
