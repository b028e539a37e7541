"""The grace drain check: connection draining without a way to count.

:class:`GraceDrainCheck` reports 1 until a fixed number of seconds has passed since
the first reading of a version, then 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shipmate.engine.drain.seconds import is_seconds
from shipmate.errors import ConfigError

__all__ = ["GraceDrainCheck"]


class GraceDrainCheck:
    """Pending (1) until ``seconds`` have passed since a version's first reading, then 0."""

    def __init__(self, seconds: float, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        if not is_seconds(seconds, allow_zero=True):
            raise ConfigError("seconds must be a non-negative number", field="seconds")
        self.seconds = float(seconds)
        self._monotonic = monotonic
        self._started: dict[str, float] = {}

    def describe(self) -> str:
        return f"grace period of {self.seconds:g} s"

    def pending(self, version: str) -> int:
        now = self._monotonic()
        started = self._started.setdefault(version, now)
        return 0 if now - started >= self.seconds else 1
