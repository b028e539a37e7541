"""What release actions belong to: product names checked, products and versions found or made.

Every release service validates the product name the same way (:func:`product_name`)
and refuses an unknown product with the same NotFoundError (:func:`require_product`);
registering actions or predecessors creates the version first
(:func:`ensure_version_id`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from shipmate.domain.inputs.fields import validate_lookup_name, validate_name
from shipmate.domain.versions import parse_semver
from shipmate.errors import NotFoundError
from shipmate.store.catalog import ensure_version, find_product_id
from shipmate.store.schema import versions

__all__ = ["ensure_version_id", "find_version_id", "product_name", "require_product"]


def product_name(product: object, *, lookup: bool = False) -> str:
    """The validated product name (``lookup``: as a name to look up, not to create)."""
    if lookup:
        return validate_lookup_name(product, field="product", max_length=255)
    return validate_name(product, field="product", max_length=255)


def require_product(conn: Connection, product: str) -> int:
    """The product's id; NotFoundError when it does not exist."""
    product_id = find_product_id(conn, product)
    if product_id is None:
        raise NotFoundError(f"product {product!r} does not exist", field="product")
    return product_id


def find_version_id(conn: Connection, product_id: int, version: str) -> int | None:
    """The id of ``version`` of the product, None when it is not one of its versions."""
    return conn.execute(
        select(versions.c.id).where(
            versions.c.product_id == product_id, versions.c.version == version
        )
    ).scalar()


def ensure_version_id(conn: Connection, product_id: int, version: str, now: datetime) -> int:
    """The id of ``version`` of the product, created (SemVer or opaque) when it is new."""
    return ensure_version(conn, product_id, version, parse_semver(version) is not None, now).id
