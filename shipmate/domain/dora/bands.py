"""The DORA bands, their thresholds, and the nearest-rank percentile they judge."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from shipmate.errors import InvalidInputError

__all__ = [
    "CFR_BANDS",
    "DAY",
    "FREQUENCY_ELITE_DAYS_PER_WEEK",
    "FREQUENCY_HIGH_DAYS_PER_WEEK",
    "FREQUENCY_MEDIUM_DAYS_PER_MONTH",
    "LEAD_TIME_BANDS",
    "MONTH_DATES",
    "RECOVERY_BANDS",
    "WEEK_DATES",
    "Band",
    "band_below",
    "cfr_band",
    "format_duration",
    "frequency_band",
    "percentile",
]

DAY = 86_400.0
HOUR = 3_600.0
WEEK = 7 * DAY


class Band(StrEnum):
    ELITE = "elite"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


#: Upper bounds (exclusive, seconds) of the median lead time per band; above: low.
LEAD_TIME_BANDS: tuple[tuple[Band, float], ...] = (
    (Band.ELITE, DAY),
    (Band.HIGH, WEEK),
    (Band.MEDIUM, 30 * DAY),
)
#: Upper bounds (exclusive, seconds) of the median recovery time per band; above: low.
RECOVERY_BANDS: tuple[tuple[Band, float], ...] = (
    (Band.ELITE, HOUR),
    (Band.HIGH, DAY),
    (Band.MEDIUM, WEEK),
)
#: Upper bounds (inclusive, percent) of the change failure rate per band; above: low.
CFR_BANDS: tuple[tuple[Band, int], ...] = (
    (Band.ELITE, 5),
    (Band.HIGH, 10),
    (Band.MEDIUM, 15),
)
#: Frequency: median deployment days per week for elite and high, per 30 days for medium.
FREQUENCY_ELITE_DAYS_PER_WEEK = 3
FREQUENCY_HIGH_DAYS_PER_WEEK = 1
FREQUENCY_MEDIUM_DAYS_PER_MONTH = 1
WEEK_DATES = 7
MONTH_DATES = 30


def percentile(values: Sequence[float], percent: int) -> float | None:
    """Nearest-rank percentile: the value at 1-based rank ``ceil(percent × n / 100)``.

    ``values`` need not be sorted.  None for no values.
    """
    if not 0 < percent <= 100:
        raise InvalidInputError("percent must be between 1 and 100", field="percent")
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-percent * len(ordered) // 100))
    return float(ordered[rank - 1])


def format_duration(seconds: float | None) -> str | None:
    """A short human duration with the two largest units: ``42s``, ``5m 3s``, ``2h 5m``, ``3d 4h``."""
    if seconds is None:
        return None
    sign = "-" if seconds < 0 else ""
    total = round(abs(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    first = next((i for i, (n, _) in enumerate(units) if n), len(units) - 1)
    shown = [f"{n}{u}" for n, u in units[first : first + 2] if n]
    return sign + (" ".join(shown) if shown else "0s")


def band_below(value: float | None, bounds: Sequence[tuple[Band, float]]) -> Band | None:
    if value is None:
        return None
    for band, bound in bounds:
        if value < bound:
            return band
    return Band.LOW


def frequency_band(
    per_week: float | None, per_month: float | None, deployments: int
) -> Band | None:
    if deployments == 0 or per_week is None or per_month is None:
        return None
    if per_week >= FREQUENCY_ELITE_DAYS_PER_WEEK:
        return Band.ELITE
    if per_week >= FREQUENCY_HIGH_DAYS_PER_WEEK:
        return Band.HIGH
    if per_month >= FREQUENCY_MEDIUM_DAYS_PER_MONTH:
        return Band.MEDIUM
    return Band.LOW


def cfr_band(failures: int, finished: int) -> Band | None:
    if finished == 0:
        return None
    for band, percent in CFR_BANDS:
        if failures * 100 <= percent * finished:  # exact: no float rounding at the bounds
            return band
    return Band.LOW
