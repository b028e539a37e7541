"""The drain check interface and the wait for an old version to drain.

Between the traffic switch and the retirement of the old slot, a run waits for the
old version to *drain*.  A :class:`DrainCheck` answers one question,
``pending(version) -> int``: how many units of work of that application version are
still in flight.  The implementations: :class:`~shipmate.engine.drain.dbos.DbosDrainCheck`
(active DBOS workflows), :class:`~shipmate.engine.drain.http_count.HttpDrainCheck` (a
count an HTTP endpoint of the old slot answers), :class:`~shipmate.engine.drain.grace.GraceDrainCheck`
(a fixed grace period) and, for tests of the layers above, :class:`ScriptedDrainCheck`.

:func:`wait_drained` polls a check until it reads zero ``consecutive_zeros`` times in
a row (new old-version work can still appear shortly after the switch: schedules,
child workflows, requests in flight) or until its deadline.  A read error
(:class:`~shipmate.errors.DeployError` from ``pending``) counts as a non-zero reading
and is reported through ``on_progress``; only when the last reading at the deadline
also fails is it raised.  At the deadline it returns ``drained=False`` with the last
count: the caller applies the ``keep`` / ``force`` policy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from shipmate.engine.drain.seconds import is_seconds
from shipmate.errors import DeployError, InvalidInputError

__all__ = [
    "DrainCheck",
    "DrainResult",
    "ProgressCallback",
    "ScriptedDrainCheck",
    "wait_drained",
]


@runtime_checkable
class DrainCheck(Protocol):
    """Counts the in-flight work of one application version."""

    def pending(self, version: str) -> int:
        """In-flight units of ``version``; :class:`DeployError` when unreadable."""
        ...

    def describe(self) -> str:
        """One line for logs and progress output (never a password)."""
        ...


# --------------------------------------------------------------------------- fake


class ScriptedDrainCheck:
    """A fake for tests of the layers above: plays back readings, then repeats the last.

    Each reading is a count or a :class:`DeployError` to raise.  ``calls`` records the
    versions asked for.
    """

    def __init__(self, readings: Sequence[int | DeployError]) -> None:
        if not readings:
            raise InvalidInputError("readings must not be empty", field="readings")
        self._readings = list(readings)
        self.calls: list[str] = []

    def describe(self) -> str:
        return "scripted readings"

    def pending(self, version: str) -> int:
        index = min(len(self.calls), len(self._readings) - 1)
        self.calls.append(version)
        reading = self._readings[index]
        if isinstance(reading, DeployError):
            raise reading
        return reading


# --------------------------------------------------------------------------- wait


@dataclass(frozen=True)
class DrainResult:
    """How a wait for a drain ended."""

    #: True once ``consecutive_zeros`` readings in a row were 0.
    drained: bool
    #: The last count read successfully (None if no reading ever succeeded).
    last_pending: int | None
    elapsed_seconds: float
    #: Readings taken, failed ones included.
    readings: int
    #: The message of the last reading when it failed, else None.
    last_error: str | None = None


class ProgressCallback(Protocol):
    """Told about every reading: the count (None when it failed), seconds since the
    start of the wait, and the read error (None when it succeeded)."""

    def __call__(
        self, pending: int | None, elapsed: float, error: DeployError | None, /
    ) -> None: ...


def _positive_number(name: str, value: object, *, allow_zero: bool) -> float:
    if is_seconds(value, allow_zero=allow_zero):
        return float(value)
    kind = "a non-negative" if allow_zero else "a positive"
    raise InvalidInputError(f"{name} must be {kind} number, not {value!r}", field=name)


def wait_drained(
    check: DrainCheck,
    version: str,
    *,
    consecutive_zeros: int = 3,
    interval: float = 2.0,
    deadline: float = 3600.0,
    on_progress: ProgressCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> DrainResult:
    """Poll ``check`` for ``version`` until drained or ``deadline`` seconds have passed.

    Drained means ``consecutive_zeros`` zero readings in a row.  Readings are
    ``interval`` seconds apart; the last one is taken at the deadline.  A reading
    that raises :class:`DeployError` counts as non-zero and is passed to
    ``on_progress``; if the reading at the deadline fails too, that error is raised
    (with ``last_pending`` and ``readings`` in its details).  Otherwise the deadline
    returns ``drained=False`` with the last count.
    """
    if isinstance(consecutive_zeros, bool) or not isinstance(consecutive_zeros, int):
        raise InvalidInputError("consecutive_zeros must be an integer", field="consecutive_zeros")
    if consecutive_zeros < 1:
        raise InvalidInputError("consecutive_zeros must be at least 1", field="consecutive_zeros")
    interval = _positive_number("interval", interval, allow_zero=True)
    deadline = _positive_number("deadline", deadline, allow_zero=True)

    start = monotonic()
    zeros = 0
    readings = 0
    last_pending: int | None = None
    while True:
        error: DeployError | None = None
        count: int | None = None
        try:
            count = check.pending(version)
        except DeployError as exc:
            error = exc
        readings += 1
        elapsed = monotonic() - start
        if count is not None:
            last_pending = count
        zeros = zeros + 1 if count == 0 else 0
        if on_progress is not None:
            on_progress(count, elapsed, error)
        if zeros >= consecutive_zeros:
            return DrainResult(True, 0, elapsed, readings)
        if elapsed >= deadline:
            if error is not None:
                error.details.setdefault("last_pending", last_pending)
                error.details.setdefault("readings", readings)
                raise error
            return DrainResult(False, last_pending, elapsed, readings)
        sleep(min(interval, deadline - elapsed))
