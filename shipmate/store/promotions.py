"""Which versions environments ever had: what tells drift "skipped" from "ahead".

The matrix asks, for each cell whose version differs from the environment
before it, whether that previous environment ever ran the version.  One grouped
query per chunk of such cells answers all of them; the index
``ix_deployments_product_version`` (product_id, version, status,
environment_id, ...) serves each product's versions as seeks, read from the index
alone (``tests/test_explain.py`` checks the matrix never scans the history).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Select,
    String,
    and_,
    column,
    exists,
    or_,
    select,
    values,
)

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
    found: set[tuple[int, int, str]] = set()
    todo = sorted(set(wanted))
    ask = _joined if conn.dialect.name == "postgresql" else _ored
    for start in range(0, len(todo), _CHUNK):
        chunk = todo[start : start + _CHUNK]
        rows = conn.execute(ask(chunk)).all()
        asked = set(chunk)
        found.update(t for t in ((int(p), int(e), str(v)) for p, e, v in rows) if t in asked)
    return found


def _joined(chunk: list[tuple[int, int, str]]) -> Select[Any]:
    """PostgreSQL: the triples as a VALUES list, each checked by an index seek
    (a nested loop; one big OR costs more to plan than to run)."""
    d = deployments.c
    w = values(column("p", Integer), column("e", Integer), column("v", String), name="wanted").data(
        chunk
    )
    return select(w.c.p, w.c.e, w.c.v).where(
        exists().where(
            d.product_id == w.c.p,
            d.version == w.c.v,
            d.status.in_(_WENT_LIVE),
            d.environment_id == w.c.e,
        )
    )


def _ored(chunk: list[tuple[int, int, str]]) -> Select[Any]:
    """SQLite (no VALUES list with column names in FROM): per product,
    ``product_id = ? AND version IN (...)``, a seek each (a row-value IN is none)."""
    d = deployments.c
    by_product: dict[int, set[str]] = defaultdict(set)
    for p, _e, v in chunk:
        by_product[p].add(v)
    return (
        select(d.product_id, d.environment_id, d.version)
        .where(
            or_(
                *(
                    and_(d.product_id == p, d.version.in_(sorted(vs)))
                    for p, vs in sorted(by_product.items())
                )
            ),
            d.status.in_(_WENT_LIVE),
            d.environment_id.in_(sorted({e for _p, e, _v in chunk})),
        )
        .group_by(d.product_id, d.environment_id, d.version)
    )
