"""``--all``: every page of a paged listing, fetched page after page."""

from __future__ import annotations

from shipmate.cli.backends.interface import Backend
from shipmate.domain.records import DeploymentRecord, HistoryPage
from shipmate.domain.requests import HistoryFilter

__all__ = ["PAGE_SIZE", "every_page"]

#: Rows per request while following the pages (the API's largest page).
PAGE_SIZE = 500


def every_page(backend: Backend, f: HistoryFilter, *, cursor: str | None) -> HistoryPage:
    """Every deployment ``f`` matches from ``cursor`` on, as one page without a next."""
    items: list[DeploymentRecord] = []
    while True:
        page = backend.history(f, limit=PAGE_SIZE, cursor=cursor)
        items.extend(page.items)
        if page.next_cursor is None or not page.items:
            return HistoryPage(items=tuple(items), next_cursor=None)
        cursor = page.next_cursor
