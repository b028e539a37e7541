"""Ids a process remembers by name stay right after another process renames, merges or
archives.

Build allocation and the history filters remember ``name -> id`` in
:attr:`Context.cache`, because ids never change.  A name can, though: a rename,
merge or archive in another server worker, another server or the CLI makes a
remembered id wrong.  So before trusting what it remembers, a process re-reads the
catalog mark (:func:`shipmate.store.catalog_moves.catalog_mark`) at most every
:data:`CATALOG_CHECK_SECONDS`, and forgets everything when it moved.  A change made
anywhere is seen everywhere within that time plus one transaction; the process that
made it forgets at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from shipmate.services.context import Context
from shipmate.store.catalog_moves import catalog_mark

__all__ = ["CATALOG_CHECK_SECONDS", "remembered"]

#: How long a process trusts its remembered ids without re-reading the catalog mark.
CATALOG_CHECK_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class _Checked:
    mark: int
    at: float  # time.monotonic()


def remembered(ctx: Context, conn: Connection) -> dict[Any, Any]:
    """``ctx.cache``, emptied first when the catalog changed since it was last checked."""
    checked: _Checked | None = ctx.cache.get(_Checked)
    now = time.monotonic()
    if checked is not None and now - checked.at < CATALOG_CHECK_SECONDS:
        return ctx.cache
    mark = catalog_mark(conn)
    if checked is None or checked.mark != mark:
        ctx.cache.clear()
    ctx.cache[_Checked] = _Checked(mark, now)
    return ctx.cache
