"""What one pass of the notification worker did: events scanned, deliveries sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PassReport"]


@dataclass
class PassReport:
    """What one pass of the worker did."""

    scanned: int = 0
    queued: int = 0
    expired: int = 0
    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    #: The scan was skipped because another worker held the cursor.
    cursor_busy: bool = False

    @property
    def did_work(self) -> bool:
        return bool(self.scanned or self.attempted)

    def add(self, other: PassReport) -> None:
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _COUNTERS}


_COUNTERS = ("scanned", "queued", "expired", "attempted", "delivered", "retrying", "failed")
