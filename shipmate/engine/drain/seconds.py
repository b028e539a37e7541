"""What the drain settings accept as a number of seconds: a finite, non-negative
``int`` or ``float`` (not a ``bool``), and above zero where zero makes no sense."""

from __future__ import annotations

import math
from typing import TypeGuard

__all__ = ["is_seconds"]


def is_seconds(value: object, *, allow_zero: bool) -> TypeGuard[int | float]:
    """Whether ``value`` is a usable number of seconds (zero only with ``allow_zero``)."""
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value >= 0
        and (value > 0 or allow_zero)
    )
