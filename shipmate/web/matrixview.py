"""The matrix page's model: each cell's current deployment and any newer attempt there.

The current version comes from :func:`shipmate.services.queries.current_matrix`
(the API's ``/api/v1/current``).  A cell also shows the newest deployment of the
last :data:`ATTEMPT_WINDOW` when that is not the current one and did not
complete: in progress, failed, aborted or rolled back.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shipmate.domain.lifecycle import Status
from shipmate.domain.matrix import Matrix, MatrixCell
from shipmate.domain.records import DeploymentRecord
from shipmate.domain.requests import HistoryFilter
from shipmate.errors import ShipmateError
from shipmate.services import queries
from shipmate.services.auth.keys import Principal
from shipmate.services.context import Context
from shipmate.web.templating import DRIFT_SYMBOLS, Urls, ago, drift_flag, short

__all__ = [
    "ATTEMPT_WINDOW",
    "MatrixEntry",
    "latest_event",
    "matrix_view",
    "newest_attempts",
]

#: The matrix shows a newer attempt (in progress, failed, ...) from this far back.
ATTEMPT_WINDOW = timedelta(days=7)


_URLS = Urls()
_ATTEMPT_STATES = {
    "started": "progress",
    "pending": "progress",
    "failed": "failed",
    "aborted": "aborted",
    "rolled_back": "rolledback",
}


#: A cell's state by drift direction: only behind and skipped are amber.
_DRIFT_STATES: dict[str | None, str] = {
    None: "ok",
    "ahead": "ahead",
    "behind": "drift",
    "skipped": "drift",
}


class MatrixEntry:
    """One cell of the matrix page: the current deployment and a newer attempt, if any.

    The page shows 2,400 of these for 200 products × 12 environments, so each
    computes its display strings once, here, and the template only prints them
    (still escaped by Jinja): an attribute lookup and a filter per value per cell
    in the template was most of the page's time.
    """

    __slots__ = (
        "attempt",
        "attempt_href",
        "cell",
        "environment",
        "flag",
        "href",
        "meta",
        "state",
        "symbol",
        "title",
    )

    def __init__(
        self, cell: MatrixCell | None, attempt: DeploymentRecord | None, environment: str = ""
    ) -> None:
        self.cell = cell
        self.attempt = attempt
        self.environment = environment
        if attempt is not None:
            self.state = _ATTEMPT_STATES.get(attempt.status, "ok")
            self.attempt_href = _URLS.deployment(attempt.id)
        else:
            self.state = "empty" if cell is None else _DRIFT_STATES[cell.drift_direction]
            self.attempt_href = ""
        if cell is None:
            self.href = self.title = self.symbol = self.meta = self.flag = ""
            return
        self.href = _URLS.deployment(cell.deployment_id)
        self.title = f"{cell.full_version} · commit {short(cell.commit_sha)}"
        self.symbol = DRIFT_SYMBOLS[cell.drift_direction]
        self.flag = drift_flag(cell)
        age = ago(cell.age_seconds)
        self.meta = f"{age} ago · {cell.deployed_by}" if cell.deployed_by else f"{age} ago"


def newest_attempts(ctx: Context, principal: Principal) -> dict[tuple[str, str], DeploymentRecord]:
    """The newest deployment of the last week per product and environment."""
    since = ctx.now() - ATTEMPT_WINDOW
    filters = (
        [HistoryFilter(product=p, since=since) for p in principal.products]
        if principal.products
        else [HistoryFilter(since=since)]
    )
    newest: dict[tuple[str, str], DeploymentRecord] = {}
    for f in filters:
        try:
            items = queries.history(ctx, f, limit=queries.MAX_PAGE_SIZE).items
        except ShipmateError:
            continue  # a limited key naming a product that does not exist yet
        for dep in items:  # newest first
            newest.setdefault((dep.product, dep.environment), dep)
    return newest


def matrix_view(ctx: Context, principal: Principal) -> tuple[Matrix, dict[str, Any]]:
    """The matrix (the API's data) and the page's rows built from it."""
    matrix = queries.current_matrix(ctx)
    if principal.products:
        matrix = Matrix(
            products=tuple(p for p in matrix.products if p in principal.products),
            environments=matrix.environments,
            cells=tuple(c for c in matrix.cells if c.product in principal.products),
        )
    newest = newest_attempts(ctx, principal)
    rows = []
    attempts = []
    for product in matrix.products:
        entries = []
        for env, _ in matrix.environments:
            cell = matrix.cell(product, env)
            latest = newest.get((product, env))
            attempt = None
            newer = latest is not None and (cell is None or latest.id != cell.deployment_id)
            if newer and latest is not None and latest.status != Status.COMPLETED.value:
                attempt = latest
                attempts.append(latest)
            entries.append(MatrixEntry(cell, attempt, env))
        rows.append({"product": product, "entries": entries})
    return matrix, {
        "rows": rows,
        "drift": sum(1 for c in matrix.cells if c.drift_warning),
        "ahead": sum(1 for c in matrix.cells if c.drift_direction == "ahead"),
        "attempts": attempts,
        "latest_event": latest_event(ctx),
    }


def latest_event(ctx: Context) -> int:
    events = queries.list_events(ctx, limit=1)
    return events[0].id if events else 0
