"""The hot read queries, as service calls on a seeded database.

Shared by the EXPLAIN test (``tests/test_explain.py``), which checks their plans,
and the query benchmark (``bench/bench_queries.py``), which times them beside
raw SQL.  :func:`pick_subjects` chooses what to ask about once per database (not
timed): the product with the most deployments (the worst case for per-product
figures), its busiest environment, one of its versions, and a cursor deep in the
busiest pair's history.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import desc, func, select

from shipmate.domain.requests import HistoryFilter
from shipmate.services import queries
from shipmate.services.context import Context
from shipmate.store.schema import deployments, environments, products

__all__ = ["DEEP_PAGE", "PAGE", "HotQuery", "Subjects", "hot_queries", "pick_subjects"]

#: Page size of the history queries (the API's default) and the deep page's number.
PAGE = 50
DEEP_PAGE = 200


@dataclass(frozen=True)
class Subjects:
    """What the hot queries ask about."""

    product: str
    product_deployments: int
    environment: str
    pair_deployments: int
    version: str
    version_deployments: int
    end: datetime
    deep_cursor: str | None
    deep_page: int
    deployment_id: int


def pick_subjects(ctx: Context, *, deep_page: int = DEEP_PAGE) -> Subjects:
    """The biggest product, its busiest environment, its most deployed version, the
    newest deployment's time, and the cursor of page ``deep_page`` (or the deepest
    page there is) of the pair's history, walked page by page through the service."""
    with ctx.read() as conn:
        pid, product_count = conn.execute(
            select(deployments.c.product_id, func.count().label("n"))
            .group_by(deployments.c.product_id)
            .order_by(desc("n"), deployments.c.product_id)
            .limit(1)
        ).one()
        eid, pair_count = conn.execute(
            select(deployments.c.environment_id, func.count().label("n"))
            .where(deployments.c.product_id == pid)
            .group_by(deployments.c.environment_id)
            .order_by(desc("n"), deployments.c.environment_id)
            .limit(1)
        ).one()
        version, version_count = conn.execute(
            select(deployments.c.version, func.count().label("n"))
            .where(deployments.c.product_id == pid)
            .group_by(deployments.c.version)
            .order_by(desc("n"), deployments.c.version)
            .limit(1)
        ).one()
        product = conn.execute(select(products.c.name).where(products.c.id == pid)).scalar_one()
        environment = conn.execute(
            select(environments.c.name).where(environments.c.id == eid)
        ).scalar_one()
        end = conn.execute(
            select(deployments.c.deployed_at).order_by(desc(deployments.c.deployed_at)).limit(1)
        ).scalar_one()
        newest = conn.execute(
            select(deployments.c.id).order_by(desc(deployments.c.id)).limit(1)
        ).scalar_one()
    cursor: str | None = None
    page = 1
    flt = HistoryFilter(product=product, environment=environment)
    while page < deep_page:
        got = queries.history(ctx, flt, limit=PAGE, cursor=cursor)
        if got.next_cursor is None:
            break
        cursor = got.next_cursor
        page += 1
    return Subjects(
        product=product,
        product_deployments=int(product_count),
        environment=environment,
        pair_deployments=int(pair_count),
        version=str(version),
        version_deployments=int(version_count),
        end=end,
        deep_cursor=cursor,
        deep_page=page,
        deployment_id=int(newest),
    )


@dataclass(frozen=True)
class HotQuery:
    """One hot query: a name, the service call, and its latency target (ms) if any."""

    name: str
    call: Callable[[Context], Any]
    target_ms: float | None = None
    raw_ratio: float | None = None


def _dora_available() -> bool:
    try:
        importlib.import_module("shipmate.services.dora")
    except ImportError:
        return False
    return True


def hot_queries(s: Subjects) -> list[HotQuery]:
    """The hot queries, bound to ``s``; DORA only when its service exists."""
    pair = HistoryFilter(product=s.product, environment=s.environment)
    window = HistoryFilter(status="failed", since=s.end - timedelta(days=30), until=s.end)
    out = [
        HotQuery(
            "history · product + environment, first page",
            lambda ctx: queries.history(ctx, pair, limit=PAGE),
            target_ms=5,
            raw_ratio=2,
        ),
        HotQuery(
            f"history · product + environment, page {s.deep_page} (cursor)",
            lambda ctx: queries.history(ctx, pair, limit=PAGE, cursor=s.deep_cursor),
            target_ms=5,
            raw_ratio=2,
        ),
        HotQuery(
            "history · status failed, last 30 days",
            lambda ctx: queries.history(ctx, window, limit=PAGE),
            target_ms=5,
            raw_ratio=2,
        ),
        HotQuery(
            "history · product + version",
            lambda ctx: queries.history(
                ctx, HistoryFilter(product=s.product, version=s.version), limit=PAGE
            ),
            target_ms=5,
            raw_ratio=2,
        ),
        HotQuery(
            "history · version, every product",
            lambda ctx: queries.history(ctx, HistoryFilter(version=s.version), limit=PAGE),
        ),
        HotQuery("current matrix · every product", queries.current_matrix, target_ms=20),
        HotQuery(
            "stats · one product",
            lambda ctx: queries.stats(ctx, HistoryFilter(product=s.product)),
            target_ms=100,
        ),
        HotQuery(
            "stats · one product in one environment",
            lambda ctx: queries.stats(ctx, pair),
            target_ms=100,
        ),
        HotQuery(
            "one deployment with its events",
            lambda ctx: queries.show_deployment(ctx, s.deployment_id),
        ),
    ]
    if _dora_available():
        from shipmate.services.dora import dora_report

        out.append(
            HotQuery(
                "DORA · one product, 90 days",
                lambda ctx: dora_report(ctx, product=s.product, days=90, until=s.end),
                target_ms=100,
            )
        )
    return out
