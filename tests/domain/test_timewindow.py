"""``--since``/``--until`` moments: dates, RFC 3339 times, durations ago."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from shipmate.domain.timewindow import parse_moment
from shipmate.errors import InvalidInputError

NOW = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22", datetime(2026, 11, 22, tzinfo=UTC)),
        ("2026-11-22T10:00:00Z", datetime(2026, 11, 22, 10, tzinfo=UTC)),
        ("2026-11-22T12:00:00+02:00", datetime(2026, 11, 22, 10, tzinfo=UTC)),
        ("7d", NOW - timedelta(days=7)),
        ("12h", NOW - timedelta(hours=12)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2w", NOW - timedelta(weeks=2)),
        ("90s", NOW - timedelta(seconds=90)),
        (" 7D ", NOW - timedelta(days=7)),
        ("0d", NOW),
    ],
)
def test_accepted_moments(text: str, expected: datetime) -> None:
    got = parse_moment(text, field="since", now=NOW)
    assert got == expected and got.tzinfo == UTC


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "is not a date (2026-11-22), an RFC 3339 time"),
        ("7y", "or a duration ago (7d, 12h, 30m, 2w)"),
        ("-7d", "is not a date"),
        ("2026-13-01", "is not a calendar date"),
        ("2026-11-22T10:00:00", "has no time zone"),
        ("1969-12-31", "out of range"),
        ("999999w", "too long ago"),
    ],
)
def test_refused_moments_say_what_is_accepted(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)) as refused:
        parse_moment(text, field="since", now=NOW)
    assert refused.value.field == "since"
