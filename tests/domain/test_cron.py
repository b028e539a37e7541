"""Cron parsing and fire-time search, including daylight-saving gaps and folds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shipmate.domain.cron import CronExpr, Fire, local_to_utc
from shipmate.errors import InvalidInputError

ZULU = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# ------------------------------------------------------------------ parsing


def test_fields_expand_lists_ranges_and_steps() -> None:
    expr = CronExpr.parse("*/15 8-18/2 1,15 jan-mar,DEC mon-fri")
    assert expr.minutes == (0, 15, 30, 45)
    assert expr.hours == (8, 10, 12, 14, 16, 18)
    assert expr.days_of_month == frozenset({1, 15})
    assert expr.months == frozenset({1, 2, 3, 12})
    assert expr.days_of_week == frozenset({1, 2, 3, 4, 5})
    assert expr.either_day is True


def test_value_with_step_runs_to_the_end_of_the_field() -> None:
    assert CronExpr.parse("5/20 * * * *").minutes == (5, 25, 45)


def test_day_of_week_seven_and_zero_are_both_sunday() -> None:
    assert CronExpr.parse("0 0 * * 7").days_of_week == frozenset({0})
    assert CronExpr.parse("0 0 * * 0").days_of_week == frozenset({0})
    assert CronExpr.parse("0 0 * * 5-7").days_of_week == frozenset({5, 6, 0})
    assert CronExpr.parse("0 0 * * fri-sun").days_of_week == frozenset({5, 6, 0})
    assert CronExpr.parse("0 0 * * *").days_of_week == frozenset(range(7))


def test_whitespace_is_normalised_and_text_kept() -> None:
    expr = CronExpr.parse("  0   22 * *\tfri ")
    assert expr.text == "0 22 * * fri"
    assert str(expr) == "0 22 * * fri"
    assert expr == CronExpr.parse("0 22 * * fri")


@pytest.mark.parametrize(
    ("macro", "equivalent"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("@DAILY", "0 0 * * *"),
    ],
)
def test_macros(macro: str, equivalent: str) -> None:
    parsed, plain = CronExpr.parse(macro), CronExpr.parse(equivalent)
    assert parsed.text == macro
    assert (parsed.minutes, parsed.hours, parsed.days_of_month) == (
        plain.minutes,
        plain.hours,
        plain.days_of_month,
    )
    assert (parsed.months, parsed.days_of_week, parsed.either_day) == (
        plain.months,
        plain.days_of_week,
        plain.either_day,
    )


def test_both_day_fields_restricted_means_either_matches() -> None:
    expr = CronExpr.parse("0 0 13 * fri")
    assert expr.matches_day(date(2026, 3, 13))  # a Friday the 13th
    assert expr.matches_day(date(2026, 4, 13))  # the 13th, a Monday
    assert expr.matches_day(date(2026, 4, 17))  # a Friday, the 17th
    assert not expr.matches_day(date(2026, 4, 14))


def test_a_starred_day_field_means_both_must_match() -> None:
    expr = CronExpr.parse("0 0 */2 * mon")  # odd days that are Mondays (Vixie rule)
    assert expr.either_day is False
    assert expr.matches_day(date(2026, 3, 9))  # Monday the 9th
    assert not expr.matches_day(date(2026, 3, 16))  # Monday the 16th
    assert not expr.matches_day(date(2026, 3, 11))  # Wednesday the 11th
    only_dow = CronExpr.parse("0 0 * * mon")
    assert only_dow.matches_day(date(2026, 3, 16))
    assert not only_dow.matches_day(date(2026, 3, 17))


def test_month_restricts_the_day() -> None:
    expr = CronExpr.parse("0 0 1 jun *")
    assert expr.matches_day(date(2026, 6, 1))
    assert not expr.matches_day(date(2026, 7, 1))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "must not be empty"),
        ("* * * *", "has 4 field(s)"),
        ("0 * * * * *", "has 6 field(s)"),
        ("60 * * * *", "minute field '60': 60 is out of range 0-59"),
        ("* 24 * * *", "hour field '24': 24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month field '0': 0 is out of range 1-31"),
        ("* * 32 * *", "day-of-month field '32'"),
        ("* * * 13 *", "month field '13': 13 is out of range 1-12"),
        ("* * * * 8", "day-of-week field '8': 8 is out of range 0-7"),
        ("* * * foo *", "'foo' is not a number or a name (jan, feb"),
        ("* * * * funday", "'funday' is not a number or a name (sun, mon"),
        ("mon * * * *", "minute field 'mon': 'mon' is not a number"),
        ("5-2 * * * *", "range '5-2' runs backwards"),
        ("*/0 * * * *", "step must be at least 1"),
        ("*/x * * * *", "step 'x' is not a positive number"),
        ("1,,2 * * * *", "empty list item"),
        ("-1 * * * *", "is not a number"),
        ("@reboot", "'@reboot' is not a known macro"),
        ("0 0 31 2 *", "never fires: no date has day-of-month '31' in month '2'"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 apr,jun,sep,nov *", "never fires"),
    ],
)
def test_bad_expressions_name_the_field_and_the_part(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        CronExpr.parse(text, field="gates[2].cron")
    assert caught.value.field == "gates[2].cron"
    assert caught.value.message.startswith("gates[2].cron")
    assert fragment in caught.value.message


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        CronExpr.parse(5)
    assert caught.value.field == "cron"


def test_february_29th_is_a_valid_if_rare_day() -> None:
    expr = CronExpr.parse("0 0 29 2 *")
    # 2100 is not a leap year: the next Feb 29 after 2096 is 2104.
    assert expr.next_after(utc(2097, 1, 1), ZULU) == utc(2104, 2, 29)


# ------------------------------------------------------------ search in UTC


def test_next_is_strictly_after_and_latest_is_at_or_before() -> None:
    expr = CronExpr.parse("0 22 * * fri")
    friday = utc(2026, 3, 27, 22)
    assert expr.next_after(friday, ZULU) == utc(2026, 4, 3, 22)
    assert expr.next_after(friday - timedelta(microseconds=1), ZULU) == friday
    assert expr.latest_at_or_before(friday, ZULU) == friday
    assert expr.latest_at_or_before(friday - timedelta(seconds=1), ZULU) == utc(2026, 3, 20, 22)


def test_fire_reports_the_wall_time() -> None:
    fire = CronExpr.parse("0 22 * * fri").next_fire(utc(2026, 3, 25), BERLIN)
    assert fire == Fire(wall=datetime(2026, 3, 27, 22, 0), at=utc(2026, 3, 27, 21))


def test_within_bounds_the_search() -> None:
    expr = CronExpr.parse("@yearly")
    start = utc(2026, 3, 1)
    assert expr.next_after(start, ZULU, within=timedelta(days=30)) is None
    assert expr.next_after(start, ZULU, within=timedelta(days=306)) == utc(2027, 1, 1)
    # 2026-01-01 is exactly 59 days before 2026-03-01: the bound is inclusive.
    assert expr.latest_at_or_before(start, ZULU, within=timedelta(days=58)) is None
    assert expr.latest_at_or_before(start, ZULU, within=timedelta(days=59)) == utc(2026, 1, 1)


def test_rare_expression_beyond_the_bound_gives_none_not_a_hang() -> None:
    expr = CronExpr.parse("0 0 29 2 *")
    assert expr.next_after(utc(2097, 1, 1), ZULU, within=timedelta(days=3 * 366)) is None


def test_search_near_the_end_of_the_calendar_stops() -> None:
    expr = CronExpr.parse("0 0 1 1 *")
    assert expr.next_after(datetime(9999, 6, 1, tzinfo=UTC), BERLIN) is None
    assert expr.latest_at_or_before(datetime(1, 6, 1, tzinfo=UTC), ZULU) == utc(1, 1, 1)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        CronExpr.parse("@daily").next_after(datetime(2026, 1, 1), ZULU)
    assert caught.value.field == "after"


# ------------------------------------------------- daylight saving: Europe/Berlin


def test_berlin_spring_gap_fires_at_the_first_instant_after_it() -> None:
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC); 02:30 does not exist.
    expr = CronExpr.parse("30 2 * * *")
    fire = expr.next_fire(utc(2026, 3, 28, 12), BERLIN)
    assert fire == Fire(wall=datetime(2026, 3, 29, 2, 30), at=utc(2026, 3, 29, 1))
    assert expr.next_after(utc(2026, 3, 29, 1), BERLIN) == utc(2026, 3, 30, 0, 30)
    assert expr.latest_at_or_before(utc(2026, 3, 29, 1), BERLIN) == utc(2026, 3, 29, 1)
    assert expr.latest_at_or_before(utc(2026, 3, 29, 0, 59), BERLIN) == utc(2026, 3, 28, 1, 30)


def test_berlin_several_times_in_the_gap_fire_once() -> None:
    expr = CronExpr.parse("*/20 2 * * *")
    first = expr.next_after(utc(2026, 3, 29, 0, 59), BERLIN)
    assert first == utc(2026, 3, 29, 1)
    assert expr.next_after(first, BERLIN) == utc(2026, 3, 30, 0)  # 02:00 CEST next day


def test_berlin_autumn_fold_fires_once_at_the_first_occurrence() -> None:
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET (01:00 UTC); 02:30 happens twice.
    expr = CronExpr.parse("30 2 * * *")
    first = expr.next_after(utc(2026, 10, 24, 12), BERLIN)
    assert first == utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    assert expr.next_after(first, BERLIN) == utc(2026, 10, 26, 1, 30)  # not 01:30 UTC
    # During the second 02:30 (CET) the latest firing is still the first one.
    assert expr.latest_at_or_before(utc(2026, 10, 25, 1, 45), BERLIN) == first


def test_berlin_hourly_across_the_fold_has_no_duplicates() -> None:
    expr = CronExpr.parse("@hourly")
    fires = []
    instant = utc(2026, 10, 24, 23, 30)
    for _ in range(5):
        fire = expr.next_fire(instant, BERLIN)
        assert fire is not None
        fires.append((fire.wall.hour, fire.at))
        instant = fire.at
    # 23:30 UTC is 01:30 CEST; 02:00 CEST is 00:00 UTC; the second 02:00 (CET,
    # 01:00 UTC) does not fire again; then 03:00 CET is 02:00 UTC.
    assert fires == [
        (2, utc(2026, 10, 25, 0)),
        (3, utc(2026, 10, 25, 2)),
        (4, utc(2026, 10, 25, 3)),
        (5, utc(2026, 10, 25, 4)),
        (6, utc(2026, 10, 25, 5)),
    ]


# ----------------------------------------------- daylight saving: America/New_York


def test_new_york_spring_gap() -> None:
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    expr = CronExpr.parse("30 2 * * *")
    assert expr.next_after(utc(2026, 3, 7, 12), NEW_YORK) == utc(2026, 3, 8, 7)
    assert expr.next_after(utc(2026, 3, 8, 7), NEW_YORK) == utc(2026, 3, 9, 6, 30)


def test_new_york_quarter_hours_through_the_autumn_fold() -> None:
    # 2026-11-01: 02:00 EDT falls back to 01:00 EST (06:00 UTC); 01:xx happens twice.
    expr = CronExpr.parse("*/15 * * * *")
    instant = utc(2026, 11, 1, 4, 50)
    seen = []
    for _ in range(9):
        fire = expr.next_fire(instant, NEW_YORK)
        assert fire is not None
        seen.append((fire.wall.strftime("%H:%M"), fire.at))
        instant = fire.at
    assert seen == [
        ("01:00", utc(2026, 11, 1, 5, 0)),
        ("01:15", utc(2026, 11, 1, 5, 15)),
        ("01:30", utc(2026, 11, 1, 5, 30)),
        ("01:45", utc(2026, 11, 1, 5, 45)),
        # the second pass through 01:00-01:59 (EST) fires nothing
        ("02:00", utc(2026, 11, 1, 7, 0)),
        ("02:15", utc(2026, 11, 1, 7, 15)),
        ("02:30", utc(2026, 11, 1, 7, 30)),
        ("02:45", utc(2026, 11, 1, 7, 45)),
        ("03:00", utc(2026, 11, 1, 8, 0)),
    ]


def test_new_york_latest_during_the_second_pass_of_the_fold() -> None:
    expr = CronExpr.parse("45 1 * * *")
    # 06:10 UTC is 01:10 EST, the second pass; 01:45 EDT (05:45 UTC) already fired.
    assert expr.latest_at_or_before(utc(2026, 11, 1, 6, 10), NEW_YORK) == utc(2026, 11, 1, 5, 45)
    # 05:40 UTC is 01:40 EDT, before it: the latest is the day before.
    assert expr.latest_at_or_before(utc(2026, 11, 1, 5, 40), NEW_YORK) == utc(2026, 10, 31, 5, 45)


# ------------------------------------------------------------- local_to_utc


def test_local_to_utc_plain_gap_and_fold() -> None:
    assert local_to_utc(datetime(2026, 7, 1, 12, 0), BERLIN) == utc(2026, 7, 1, 10)
    assert local_to_utc(datetime(2026, 3, 29, 2, 30), BERLIN) == utc(2026, 3, 29, 1)
    assert local_to_utc(datetime(2026, 10, 25, 2, 30), BERLIN) == utc(2026, 10, 25, 0, 30)
    assert local_to_utc(datetime(2026, 3, 8, 2, 0), NEW_YORK) == utc(2026, 3, 8, 7)
    assert local_to_utc(datetime(2026, 11, 1, 1, 30), NEW_YORK) == utc(2026, 11, 1, 5, 30)
