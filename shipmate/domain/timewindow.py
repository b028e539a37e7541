"""The moments ``--since`` and ``--until`` name: a date, an RFC 3339 time, or a
duration ago.

- ``2026-11-22``: that day's midnight, UTC;
- ``2026-11-22T10:00:00Z`` (any RFC 3339 time with a zone): that time;
- ``7d``, ``12h``, ``30m``, ``2w``, ``90s``: that long before ``now``.

Pure: the caller passes ``now``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from shipmate.domain.inputs.fields import parse_time
from shipmate.errors import InvalidInputError

__all__ = ["DURATION_UNITS", "parse_moment"]

#: The units of a relative moment, and how long one of each is.
DURATION_UNITS: dict[str, timedelta] = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}

_RELATIVE = re.compile(r"(\d{1,6})([smhdw])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_moment(value: str, *, field: str, now: datetime) -> datetime:
    """The UTC moment ``value`` names (see the module docstring)."""
    text = value.strip()
    relative = _RELATIVE.fullmatch(text.lower())
    if relative:
        count, unit = relative.groups()
        try:
            return (now - int(count) * DURATION_UNITS[unit]).astimezone(UTC)
        except OverflowError:
            raise InvalidInputError(f"{field} {value!r} is too long ago", field=field) from None
    if _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise InvalidInputError(
                f"{field} {value!r} is not a calendar date", field=field
            ) from None
        return parse_time(datetime(day.year, day.month, day.day, tzinfo=UTC), field=field)
    if _DATE.match(text):  # a time: its own message says what is wrong with it
        return parse_time(text, field=field)
    try:
        return parse_time(text, field=field)
    except InvalidInputError:
        raise InvalidInputError(
            f"{field} {value!r} is not a date (2026-11-22), an RFC 3339 time "
            "(2026-11-22T10:00:00Z) or a duration ago (7d, 12h, 30m, 2w)",
            field=field,
        ) from None
