"""Numbered history pages on top of keyset pagination.

A history page is still one keyset query (``(deployed_at, id) < cursor``, newest
first: :func:`shipmate.services.queries.history`), so paging on stays as cheap as
page 1 and a deployment recorded meanwhile never shifts a page you are reading
through.  What this module adds is *jumping*:

- :func:`count_pages` counts the matching deployments only up to
  :data:`MAX_JUMP_PAGES` pages (a bounded read: ``LIMIT`` in a subquery), so the
  pager can offer page numbers and *last* without counting a million rows;
- :func:`page_cursor` seeks the cursor that starts page *n* (the key of the row
  just before it, ``OFFSET`` within that same bound), and the page itself is then
  the ordinary keyset query after that cursor.

Beyond :data:`MAX_JUMP_PAGES` pages the history is still there, page after page
by *Older*; narrow the filters (a date range) to jump within it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import desc, func, select

from shipmate.domain.records import HistoryPage
from shipmate.domain.requests import HistoryFilter
from shipmate.errors import InvalidInputError
from shipmate.services.context import Context
from shipmate.services.queries import encode_cursor, filter_values, history
from shipmate.store.history import filter_terms
from shipmate.store.schema import deployments

__all__ = [
    "MAX_JUMP_PAGES",
    "NumberedPage",
    "PageCount",
    "count_pages",
    "numbered_page",
    "page_cursor",
]

#: How far page numbers reach: pages beyond are read by keyset only (Older »).
MAX_JUMP_PAGES = 200

_d = deployments.c


@dataclass(frozen=True)
class PageCount:
    """How many pages the filters give, counted up to :data:`MAX_JUMP_PAGES`."""

    pages: int
    #: More than :data:`MAX_JUMP_PAGES` pages: ``pages`` is the cap, *last* unknown.
    more: bool


def _check(limit: int, page: int | None = None) -> None:
    if page is not None and not 1 <= page <= MAX_JUMP_PAGES:
        raise InvalidInputError(
            f"page must be between 1 and {MAX_JUMP_PAGES}; narrow the filters to go further",
            field="page",
        )
    if not 1 <= limit <= 500:
        raise InvalidInputError("limit must be between 1 and 500", field="limit")


def count_pages(ctx: Context, f: HistoryFilter, *, limit: int) -> PageCount:
    """Pages of ``limit`` deployments matching ``f`` (at least 1, at most the cap)."""
    _check(limit)
    cap = MAX_JUMP_PAGES * limit
    with ctx.read() as conn:
        terms = filter_terms(filter_values(ctx, conn, f))
        bounded = select(_d.id).where(*terms).limit(cap + 1).subquery()
        n = int(conn.execute(select(func.count()).select_from(bounded)).scalar_one())
    if n > cap:
        return PageCount(pages=MAX_JUMP_PAGES, more=True)
    return PageCount(pages=max(1, -(-n // limit)), more=False)


def page_cursor(ctx: Context, f: HistoryFilter, *, limit: int, page: int) -> str | None:
    """The keyset cursor that starts page ``page`` (None for page 1, and for a page
    past the end: the caller shows the first)."""
    _check(limit, page)
    if page == 1:
        return None
    with ctx.read() as conn:
        terms = filter_terms(filter_values(ctx, conn, f))
        row = conn.execute(
            select(_d.deployed_at, _d.id)
            .where(*terms)
            .order_by(desc(_d.deployed_at), desc(_d.id))
            .offset((page - 1) * limit - 1)
            .limit(1)
        ).first()
    return None if row is None else encode_cursor(row.deployed_at, int(row.id))


@dataclass(frozen=True)
class NumberedPage:
    page: HistoryPage
    #: The page's number; None beyond the numbered pages (reached by cursor only).
    number: int | None
    count: PageCount


def numbered_page(
    ctx: Context, f: HistoryFilter, *, limit: int, cursor: str | None, number: int | None
) -> NumberedPage:
    """The page at ``cursor``, or page ``number`` found by a seek (clamped to the
    last page), with the page count.  A first page with no next page is all there
    is: nothing more is counted (a search that finds little costs one query)."""
    if cursor is None and number is not None and number > 1:
        count = count_pages(ctx, f, limit=limit)
        number = number if count.more else min(number, count.pages)
        cursor = page_cursor(ctx, f, limit=limit, page=number)
        number = number if cursor is not None else 1
        return NumberedPage(history(ctx, f, limit=limit, cursor=cursor), number, count)
    page = history(ctx, f, limit=limit, cursor=cursor)
    if number == 1 and page.next_cursor is None:
        return NumberedPage(page, 1, PageCount(pages=1, more=False))
    return NumberedPage(page, number, count_pages(ctx, f, limit=limit))
