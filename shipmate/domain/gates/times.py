"""Instants and time zones in gate rules and their facts, with no clock.

A rule's own times (a one-off freeze's ``start`` and ``end``, the ``now`` of
the facts) must be zone-aware: :func:`aware_instant` refuses a naive one.  Times
read back from the database (``started_at``, completions, approvals) that are
naive are taken as UTC, which is what SQLite hands back: :func:`stored_instant`.
Zones are IANA names (:func:`time_zone`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shipmate.errors import InvalidInputError

__all__ = ["aware_instant", "stored_instant", "time_zone"]


def time_zone(value: object, key: str) -> ZoneInfo:
    """The IANA time zone named ``value``; ``key`` names the setting in errors."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(
            f"{key} must be an IANA time zone name such as Europe/Berlin", field=key
        )
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInputError(
            f"{key} {value!r} is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)",
            field=key,
        ) from None


def aware_instant(value: object, key: str, missing: str = "") -> datetime:
    """A zone-aware datetime, in UTC; ``missing`` explains why ``None`` is refused."""
    if value is None and missing:
        raise InvalidInputError(f"{key} is missing: {missing}", field=key)
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{key} must be a datetime", field=key)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(f"{key} must have a time zone", field=key)
    return value.astimezone(UTC)


def stored_instant(value: datetime) -> datetime:
    """A stored time, in UTC: naive means UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
