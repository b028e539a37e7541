"""The ids of a (product, environment) pair, found by name.

Many reads and writes concern one product in one environment and do nothing (or
refuse) when either is unknown; :func:`find_pair_ids` finds both ids at once.
"""

from __future__ import annotations

from sqlalchemy import Connection

from shipmate.store.catalog import find_environment_id, find_product_id

__all__ = ["find_pair_ids"]


def find_pair_ids(conn: Connection, product: str, environment: str) -> tuple[int, int] | None:
    """``(product_id, environment_id)``, or None when the product or the environment is
    not known."""
    product_id = find_product_id(conn, product)
    environment_id = find_environment_id(conn, environment)
    if product_id is None or environment_id is None:
        return None
    return product_id, environment_id
