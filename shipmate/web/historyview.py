"""The history page's model: its filters from the query string, and its pager.

Every filter lives in the URL (the form is a plain ``GET`` form), so a filtered,
paged view is a link.  ``from`` and ``until`` take a date (``2026-11-22``, whole
UTC days, ``until`` inclusive) or an RFC 3339 time; ``q`` searches the version,
commit, deployer and metadata values (:mod:`shipmate.store.historysearch`).

Pages: *Older* follows the keyset cursor as before; page numbers, *first*,
*previous* and *last* jump by a keyset seek (:mod:`shipmate.services.historypages`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request

from shipmate.domain.requests import HistoryFilter
from shipmate.domain.timewindow import parse_moment
from shipmate.errors import InvalidInputError
from shipmate.services.historypages import MAX_JUMP_PAGES, PageCount

__all__ = [
    "DATE_FILTERS",
    "TEXT_FILTERS",
    "Pager",
    "chosen_filters",
    "history_filter",
    "parse_day_or_time",
]

#: Filters taken as they are (names as in the URL and on HistoryFilter).
TEXT_FILTERS = ("product", "environment", "status", "version", "branch", "actor", "kind", "q")
#: Date range filters: a day or a time.
DATE_FILTERS = ("from", "until")
#: Page numbers shown either side of the current one.
_NEAR = 2
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_day_or_time(text: str, *, field: str, now: datetime, end: bool = False) -> datetime:
    """What ``--since``/``--until`` take (:func:`parse_moment`: a date, an RFC 3339 time
    or a duration ago); a date given as the ``end`` means the whole day, so the start of
    the next one."""
    moment = parse_moment(text, field=field, now=now)
    return moment + timedelta(days=1) if end and _DAY.match(text.strip()) else moment


def history_filter(chosen: dict[str, str | None], *, now: datetime) -> HistoryFilter:
    """The filter the chosen URL values (names of TEXT_FILTERS and DATE_FILTERS) ask for."""
    since = chosen.get("from")
    until = chosen.get("until")
    start = None if since is None else parse_day_or_time(since, field="from", now=now)
    end = None if until is None else parse_day_or_time(until, field="until", now=now, end=True)
    if start is not None and end is not None and end <= start:
        raise InvalidInputError("until must be after from", field="until")
    same = {name: chosen.get(name) for name in TEXT_FILTERS if name != "q"}
    return HistoryFilter(**same, since=start, until=end, search=chosen.get("q"))


@dataclass
class Pager:
    """Where this page is and the pages one can go to, as URL query dicts."""

    #: This page's number; None beyond the numbered pages (reached by Older only).
    number: int | None
    count: PageCount
    next_cursor: str | None
    base: dict[str, Any] = field(default_factory=dict)

    def link(self, page: int) -> dict[str, Any]:
        return {**self.base, "page": page if page > 1 else None}

    @property
    def numbers(self) -> list[int]:
        if self.number is None:
            return []
        low = max(1, self.number - _NEAR)
        high = min(self.count.pages, self.number + _NEAR)
        return list(range(low, high + 1))

    @property
    def previous(self) -> dict[str, Any] | None:
        if self.number is None or self.number <= 1:
            return None
        return self.link(self.number - 1)

    @property
    def first(self) -> dict[str, Any] | None:
        return None if self.number == 1 else self.link(1)

    @property
    def last(self) -> dict[str, Any] | None:
        if self.count.more or self.number == self.count.pages:
            return None
        return self.link(self.count.pages)

    @property
    def older(self) -> dict[str, Any] | None:
        if self.next_cursor is None:
            return None
        following = None if self.number is None else self.number + 1
        page = following if following is not None and following <= MAX_JUMP_PAGES else None
        return {**self.base, "cursor": self.next_cursor, "page": page}

    @property
    def label(self) -> str:
        total = f"{self.count.pages}+" if self.count.more else str(self.count.pages)
        if self.number is None:
            return f"beyond page {MAX_JUMP_PAGES}"
        return f"page {self.number} of {total}"


def chosen_filters(request: Request, param: Any) -> dict[str, str | None]:
    """Every filter's value from the URL (None when absent); ``param`` checks length."""
    values = {name: param(request, name) for name in TEXT_FILTERS}
    values.update({name: param(request, name, max_length=64) for name in DATE_FILTERS})
    return values
