"""Summaries of repeated measurements: medians and percentiles, nothing clever.

Percentiles interpolate linearly between the two nearest ranks (the same rule as
``numpy.percentile``'s default), so p50 is the median and p100 the maximum.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["median", "percentile", "rate"]


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0..100) of ``values``."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, not {p}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def rate(count: int, seconds: float) -> float:
    """Operations per second; refuses a non-positive duration."""
    if seconds <= 0:
        raise ValueError(f"cannot compute a rate over {seconds} s")
    return count / seconds
