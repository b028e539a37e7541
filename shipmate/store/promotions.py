"""Which versions environments ever had: what tells drift "skipped" from "ahead".

The matrix asks, for each cell whose version differs from the environment
before it, whether that previous environment ever ran the version.  One grouped
query per chunk of such cells answers all of them; the index
``ix_deployments_product_version`` (product_id, version, status,
environment_id, ...) serves each triple as a seek.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, select, tuple_

from shipmate.domain.lifecycle import Status
from shipmate.store.schema import deployments

__all__ = ["versions_ever_deployed"]

_CHUNK = 300
#: A version that went live counts, even if it was rolled back since.
_WENT_LIVE = (Status.COMPLETED.value, Status.ROLLED_BACK.value)


def versions_ever_deployed(
    conn: Connection, wanted: Collection[tuple[int, int, str]]
) -> set[tuple[int, int, str]]:
    """The ``(product_id, environment_id, version)`` triples of ``wanted`` that
    had a deployment go live (completed, or completed and later rolled back)."""
    d = deployments.c
    found: set[tuple[int, int, str]] = set()
    todo = sorted(set(wanted))
    for start in range(0, len(todo), _CHUNK):
        chunk = todo[start : start + _CHUNK]
        rows = conn.execute(
            select(d.product_id, d.environment_id, d.version)
            .where(
                tuple_(d.product_id, d.environment_id, d.version).in_(chunk),
                d.status.in_(_WENT_LIVE),
            )
            .group_by(d.product_id, d.environment_id, d.version)
        ).all()
        found.update((int(p), int(e), str(v)) for p, e, v in rows)
    return found
