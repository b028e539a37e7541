"""``--all``: every page of a paged listing, fetched page after page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shipmate.cli.backends.interface import Backend
from shipmate.domain.records import DeploymentRecord, HistoryPage
from shipmate.domain.requests import HistoryFilter

__all__ = ["PAGE_SIZE", "every_page", "pages"]

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


def pages(
    fetch: Callable[[str | None], dict[str, Any]], next_key: str, start: str | None, every: bool
) -> dict[str, Any]:
    """The page ``fetch(start)`` returns (``{"items": [...], next_key: ...}``); with
    ``every``, the following pages' items too, and no next page."""
    data = fetch(start)
    if not every:
        return data
    items = list(data["items"])
    while data[next_key] is not None and data["items"]:
        data = fetch(data[next_key])
        items.extend(data["items"])
    return {**data, "items": items, next_key: None}
