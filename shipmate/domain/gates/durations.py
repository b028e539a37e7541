"""Durations in gate rules: the limit, the text form (``"1h30m"``) and back.

Every duration in a rule (a lease, a freeze window's length, a soak) is a whole
number of seconds between a minimum and :data:`MAX_SECONDS` (366 days).  In
TOML or JSON it may also be written as text: ``"90m"``, ``"1h30m"``, ``"2d"``,
``"1w"`` (units w, d, h, m, s), which :func:`parse_duration` reads; messages
show it back the same way (:func:`human_duration`).
"""

from __future__ import annotations

import re

from shipmate.errors import InvalidInputError

__all__ = ["MAX_SECONDS", "check_seconds", "human_duration", "parse_duration"]

#: Upper bound for every duration in a rule (lease, freeze length, soak): 366 days.
MAX_SECONDS = 366 * 24 * 3600

_DURATION = re.compile(
    r"^(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$"
)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def check_seconds(value: object, key: str, *, minimum: int) -> int:
    """A whole number of seconds from ``minimum`` to :data:`MAX_SECONDS`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{key} must be a whole number of seconds", field=key)
    if value < minimum:
        raise InvalidInputError(f"{key} is {value}; it must be at least {minimum}", field=key)
    if value > MAX_SECONDS:
        raise InvalidInputError(
            f"{key} is {value}; the limit is {MAX_SECONDS} ({human_duration(MAX_SECONDS)})",
            field=key,
        )
    return value


def parse_duration(value: str, key: str) -> int:
    """``"1h30m"`` → ``5400``; bare digits are seconds.  At most :data:`MAX_SECONDS`."""
    compact = "".join(value.split()).lower()
    match = _DURATION.match(compact)
    if compact.isdigit():
        return int(compact)
    if not compact or match is None:
        raise InvalidInputError(
            f'{key} {value!r} is not a duration; write it like "90m", "1h30m", '
            '"10h", "2d" or "1w" (units w, d, h, m, s)',
            field=key,
        )
    total = sum(
        int(amount) * _UNIT_SECONDS[unit]
        for unit, amount in match.groupdict().items()
        if amount is not None
    )
    if total > MAX_SECONDS:
        raise InvalidInputError(
            f"{key} {value!r} is longer than the limit of {human_duration(MAX_SECONDS)}",
            field=key,
        )
    return total


def human_duration(seconds: int) -> str:
    """``90061`` → ``1d 1h 1m 1s``; ``0`` → ``0s``."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts)
