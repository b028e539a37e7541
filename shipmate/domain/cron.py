"""Five-field cron expressions, evaluated on the wall clock of an IANA time zone.

Syntax (the classic Vixie cron one)::

    ┌───────────── minute        0-59
    │ ┌─────────── hour          0-23
    │ │ ┌───────── day-of-month  1-31
    │ │ │ ┌─────── month         1-12 or jan-dec
    │ │ │ │ ┌───── day-of-week   0-7 or sun-sat (0 and 7 are both Sunday)
    │ │ │ │ │
    0 22 * * fri

- Each field is a comma list of items; an item is ``*``, a value, a range ``a-b``,
  or any of those with a step: ``*/15``, ``8-18/2``, ``5/10`` (= ``5-59/10``).
  Names are case-insensitive and may appear in ranges (``mon-fri``, ``fri-sun``).  A backwards
  range (``5-2``) is refused rather than wrapped.
- Day matching: when both day-of-month and day-of-week are restricted, a day
  matches if *either* matches (``0 0 1 * mon`` fires on the 1st and on every
  Monday).  A field counts as unrestricted when it starts with ``*`` (so ``*/2``
  is "unrestricted" for this rule, as in Vixie cron); then both must match.
- Macros: ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily``
  (``@midnight``), ``@hourly``.
- An expression that can never fire (``0 0 31 2 *``, ``0 0 30 2 *``) is refused
  by :meth:`CronExpr.parse`, naming the fields that contradict each other.

Time zones and daylight saving.  A fire time is a local *wall* time (date, hour,
minute) that matches the expression; it becomes an instant as follows:

- a wall time that exists once fires at that instant;
- a wall time skipped by a spring-forward change (``02:30`` on 2026-03-29 in
  ``Europe/Berlin``) fires at the first valid instant after the gap (03:00
  CEST = 01:00 UTC).  Several matching wall times inside one gap fire once;
- a wall time that occurs twice in an autumn fold (``01:30`` on 2026-11-01 in
  ``America/New_York``) fires once, at its first occurrence (01:30 EDT).

:func:`local_to_utc` applies exactly this rule to any wall time, so callers
that add a wall-clock duration to a fire time resolve its end the same way.

Searches are bounded: :meth:`CronExpr.next_fire` and :meth:`CronExpr.latest_fire`
look at most :data:`SEARCH_HORIZON` (28 years, one full cycle of the Gregorian
calendar's weekdays) away, or less when ``within`` is given, and return ``None``
when nothing fires in that span.  Every expression ``parse`` accepts fires
within any 28-year span between 1901 and 2099.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shipmate.errors import InvalidInputError

__all__ = ["MACROS", "SEARCH_HORIZON", "CronExpr", "Fire", "local_to_utc"]

#: The farthest a search looks: 28 years, a full cycle of calendar weekdays.
SEARCH_HORIZON = timedelta(days=365 * 28 + 7)

MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_DOW_NAMES = {
    name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}

# (name, lowest, highest, names)
_FIELD_SPECS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTH_NAMES),
    ("day-of-week", 0, 7, _DOW_NAMES),
)

# 2000-01-01 .. 2027-12-31 holds every kind of year (14 calendars) once at least.
_CYCLE_START = date(2000, 1, 1)
_CYCLE_END = date(2027, 12, 31)
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Fire:
    """One firing: the local wall time that matched and the UTC instant it fires."""

    wall: datetime
    at: datetime


@dataclass(frozen=True, repr=False)
class CronExpr:
    """A parsed cron expression.  Build it with :meth:`parse`."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]  # 0 = Sunday .. 6 = Saturday
    either_day: bool  # both day fields restricted: a day matches if either matches

    @classmethod
    def parse(cls, text: object, *, field: str = "cron") -> CronExpr:
        """Parse ``text``; raise InvalidInputError naming ``field`` and the bad part."""
        if not isinstance(text, str):
            raise InvalidInputError(f"{field} must be a cron expression string", field=field)
        source = " ".join(text.split())
        if not source:
            raise InvalidInputError(f"{field} must not be empty", field=field)
        expanded = source
        if source.startswith("@"):
            macro = MACROS.get(source.lower())
            if macro is None:
                raise InvalidInputError(
                    f"{field} {source!r} is not a known macro; use one of "
                    f"{', '.join(MACROS)} or five fields",
                    field=field,
                )
            expanded = macro
        parts = expanded.split(" ")
        if len(parts) != 5:
            raise InvalidInputError(
                f"{field} {source!r} has {len(parts)} field(s); a cron expression has 5: "
                "minute hour day-of-month month day-of-week (no seconds or year field)",
                field=field,
            )
        sets: list[frozenset[int]] = []
        for part, (name, low, high, names) in zip(parts, _FIELD_SPECS, strict=True):
            sets.append(_parse_field(part, name, low, high, names, source=source, field=field))
        minutes, hours, doms, months, dows = sets
        dows = frozenset(0 if d == 7 else d for d in dows)
        dom_restricted = not parts[2].startswith("*")
        dow_restricted = not parts[4].startswith("*")
        expr = cls(
            text=source,
            minutes=tuple(sorted(minutes)),
            hours=tuple(sorted(hours)),
            days_of_month=doms,
            months=months,
            days_of_week=dows,
            either_day=dom_restricted and dow_restricted,
        )
        expr._check_can_fire(parts, field=field)
        return expr

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"CronExpr.parse({self.text!r})"

    def matches_day(self, day: date) -> bool:
        """Whether the expression fires at some time on this calendar date."""
        if day.month not in self.months:
            return False
        dom = day.day in self.days_of_month
        dow = (day.weekday() + 1) % 7 in self.days_of_week
        return (dom or dow) if self.either_day else (dom and dow)

    def next_fire(
        self, after: datetime, tz: ZoneInfo, *, within: timedelta | None = None
    ) -> Fire | None:
        """The first firing strictly after the instant ``after``.

        ``None`` when nothing fires within ``within`` (inclusive; default and
        maximum :data:`SEARCH_HORIZON`).
        """
        after = _aware_utc(after, "after")
        limit = _add_clamped(after, _span(within))
        local = after.astimezone(tz)
        first_wall = local.replace(tzinfo=None, fold=0, second=0, microsecond=0)
        # Walls earlier than first_wall fire at or before `after` (resolution is
        # monotonic), so the scan can start there.
        last_day = _local_day(limit, tz, 1)
        day: date | None = first_wall.date()
        while day is not None and day <= last_day:
            if self.matches_day(day):
                for hour in self.hours:
                    if day == first_wall.date() and hour < first_wall.hour:
                        continue
                    for minute in self.minutes:
                        wall = datetime.combine(day, time(hour, minute))
                        if wall < first_wall:
                            continue
                        instant = local_to_utc(wall, tz)
                        if instant > after:
                            return Fire(wall, instant) if instant <= limit else None
            day = _day_shift(day, 1)
        return None

    def latest_fire(
        self, at: datetime, tz: ZoneInfo, *, within: timedelta | None = None
    ) -> Fire | None:
        """The last firing at or before the instant ``at``.

        ``None`` when nothing fired within ``within`` before ``at`` (inclusive;
        default and maximum :data:`SEARCH_HORIZON`).
        """
        at = _aware_utc(at, "at")
        limit = _add_clamped(at, -_span(within))
        local = at.astimezone(tz)
        top_wall = local.replace(tzinfo=None, fold=0)
        if local.fold == 1:
            # `at` is in the second pass of a fold: later wall times up to the end
            # of the fold fired (at their first occurrence) before `at`.
            first_offset = local.replace(fold=0).utcoffset()
            second_offset = local.utcoffset()
            if first_offset is not None and second_offset is not None:
                top_wall += first_offset - second_offset
        first_day = _local_day(limit, tz, -1)
        day: date | None = top_wall.date()
        while day is not None and day >= first_day:
            if self.matches_day(day):
                for hour in reversed(self.hours):
                    if day == top_wall.date() and hour > top_wall.hour:
                        continue
                    for minute in reversed(self.minutes):
                        wall = datetime.combine(day, time(hour, minute))
                        if wall > top_wall:
                            continue
                        instant = local_to_utc(wall, tz)
                        if instant <= at:
                            return Fire(wall, instant) if instant >= limit else None
            day = _day_shift(day, -1)
        return None

    def next_after(
        self, after: datetime, tz: ZoneInfo, *, within: timedelta | None = None
    ) -> datetime | None:
        """The UTC instant of :meth:`next_fire`, or ``None``."""
        fire = self.next_fire(after, tz, within=within)
        return None if fire is None else fire.at

    def latest_at_or_before(
        self, at: datetime, tz: ZoneInfo, *, within: timedelta | None = None
    ) -> datetime | None:
        """The UTC instant of :meth:`latest_fire`, or ``None``."""
        fire = self.latest_fire(at, tz, within=within)
        return None if fire is None else fire.at

    def _check_can_fire(self, parts: list[str], *, field: str) -> None:
        day: date = _CYCLE_START
        while day <= _CYCLE_END:
            if self.matches_day(day):
                return
            day += _ONE_DAY
        if parts[4] == "*":
            what = f"day-of-month {parts[2]!r} in month {parts[3]!r}"
        else:
            what = (
                f"day-of-month {parts[2]!r} and day-of-week {parts[4]!r} together "
                f"in month {parts[3]!r}"
            )
        raise InvalidInputError(
            f"{field} {self.text!r} never fires: no date has {what}", field=field
        )


def local_to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a naive local wall time in ``tz``.

    A wall time inside a spring-forward gap resolves to the first valid instant
    after the gap; one that occurs twice (autumn fold) to its first occurrence.
    """
    if wall.tzinfo is not None:
        wall = wall.replace(tzinfo=None)
    instant = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None, fold=0) == wall.replace(fold=0):
        return instant
    return _gap_end(wall, tz)


def _gap_end(wall: datetime, tz: ZoneInfo) -> datetime:
    """The transition instant that ends the gap ``wall`` falls in."""
    # In a gap, fold=1 applies the offset after the change (an instant before it)
    # and fold=0 the offset before (an instant after it); bisect between them.
    low = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if high < low:
        low, high = high, low
    low_offset = low.astimezone(tz).utcoffset()
    span = int((high - low).total_seconds())
    while span > 1:
        middle = low + timedelta(seconds=span // 2)
        if middle.astimezone(tz).utcoffset() == low_offset:
            low = middle
        else:
            high = middle
        span = int((high - low).total_seconds())
    return high


def _parse_field(
    text: str,
    name: str,
    low: int,
    high: int,
    names: dict[str, int],
    *,
    source: str,
    field: str,
) -> frozenset[int]:
    def bad(problem: str) -> InvalidInputError:
        return InvalidInputError(
            f"{field} {source!r}: {name} field {text!r}: {problem}", field=field
        )

    def value(token: str) -> int:
        lowered = token.lower()
        if lowered in names:
            return names[lowered]
        if not token.isdigit() or not token.isascii():
            hint = f" or a name ({', '.join(names)})" if names else ""
            raise bad(f"{token!r} is not a number{hint}")
        number = int(token)
        if not low <= number <= high:
            raise bad(f"{number} is out of range {low}-{high}")
        return number

    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise bad("empty list item")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or not step_text.isascii():
                raise bad(f"step {step_text!r} is not a positive number")
            step = int(step_text)
            if step < 1:
                raise bad("step must be at least 1")
        if base == "*":
            # Day-of-week's 7 is Sunday again; `*` covers 0-6 once.
            start, stop = low, (6 if name == "day-of-week" else high)
        elif "-" in base:
            first, _, last = base.partition("-")
            start, stop = value(first), value(last)
            if name == "day-of-week" and stop == 0 and start > 0:
                stop = 7  # `fri-sun`: Sunday closes the week
            if start > stop:
                raise bad(f"range {base!r} runs backwards; write it as two ranges")
        else:
            start = value(base)
            stop = high if slash else start
        values.update(range(start, stop + 1, step))
    return frozenset(values)


def _aware_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(f"{name} must be a time-zone-aware datetime", field=name)
    return value.astimezone(UTC)


def _span(within: timedelta | None) -> timedelta:
    if within is None or within > SEARCH_HORIZON:
        return SEARCH_HORIZON
    return max(within, timedelta(0))


def _add_clamped(instant: datetime, delta: timedelta) -> datetime:
    try:
        return instant + delta
    except OverflowError:
        return (datetime.max if delta > timedelta(0) else datetime.min).replace(tzinfo=UTC)


def _local_day(instant: datetime, tz: ZoneInfo, days: int) -> date:
    """The local date of ``instant`` shifted by ``days``, clamped to the calendar."""
    try:
        return instant.astimezone(tz).date() + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def _day_shift(day: date, days: int) -> date | None:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return None
