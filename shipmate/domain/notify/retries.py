"""Retries: what an attempt's answer means and how long to wait before the next.  No I/O.

Attempt ``n`` (1-based) that fails is retried after
``retry_base_seconds * 2**(n-1)`` seconds (40, 80, 160, 320 by default: five
attempts over ten minutes), or later when the receiver sent ``Retry-After``.
A 2xx answer is delivered; 408, 425, 429 and 5xx answers, timeouts and
connection errors are retried; any other 4xx is given up at once (the request
itself is wrong, sending it again cannot help).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["MAX_RETRY_AFTER_SECONDS", "Outcome", "classify_status", "next_attempt_delay"]

#: Longest wait a Retry-After header can ask for.
MAX_RETRY_AFTER_SECONDS = 3600


class Outcome(StrEnum):
    """What one delivery attempt's result means for the delivery."""

    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"


def classify_status(status_code: int | None) -> Outcome:
    """An HTTP answer (None: no answer at all) → delivered, retry, or give up."""
    if status_code is None:
        return Outcome.RETRY
    if 200 <= status_code < 300:
        return Outcome.DELIVERED
    if status_code in (408, 425, 429) or status_code >= 500:
        return Outcome.RETRY
    return Outcome.GIVE_UP


def next_attempt_delay(
    attempt: int, *, base_seconds: int, retry_after_seconds: float | None = None
) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    delay = float(base_seconds * 2 ** (attempt - 1))
    if retry_after_seconds is not None and retry_after_seconds > 0:
        delay = max(delay, min(float(retry_after_seconds), float(MAX_RETRY_AFTER_SECONDS)))
    return delay
