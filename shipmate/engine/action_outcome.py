"""What one release action did: :class:`ActionOutcome`, and how its duration is measured."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from shipmate.domain.fielddicts import fields_dict

__all__ = ["ActionOutcome", "ms_since"]


@dataclass(frozen=True)
class ActionOutcome:
    """What one action did.  ``error`` is one line for people; ``output`` its log."""

    ok: bool
    output: str
    error: str | None = None
    exit_code: int | None = None
    timed_out: bool = False
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self, duration_ms=lambda ms: round(ms, 3))


def ms_since(started: float) -> float:
    """Milliseconds since ``started`` (a :func:`time.monotonic` reading)."""
    return (time.monotonic() - started) * 1000.0
