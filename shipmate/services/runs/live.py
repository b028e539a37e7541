"""What a server process knows of runs as they happen, before (or beside) the journal.

Two things live here, in memory, per server process:

* **Progress lines.**  An agent reports a step's progress (health-check attempts,
  keep-warm time left) as it goes; those lines are not journaled (the step's row
  gets its output when it finishes), so a follower reads them from here.  Each run
  keeps its last :data:`KEEP_LINES` lines, numbered from 1; runs not touched for
  :data:`FORGET_AFTER_SECONDS` are forgotten.  With several servers, a follower
  sees the lines reported through its own server only: progress is a courtesy,
  the journal (the database) is the truth.
* **Wake-ups.**  :meth:`LiveRuns.changed` is called after a journal write (a run
  created, a step begun or finished, a run ended) and :meth:`LiveRuns.host_work`
  after a run is made claimable for a host; long polls (an agent waiting for work,
  a CLI following a run) wait on them instead of sleeping, and still re-read the
  database every :data:`RECHECK_SECONDS` for what another server changed.

Nothing here is durable and nothing depends on it for correctness.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

__all__ = [
    "FORGET_AFTER_SECONDS",
    "KEEP_LINES",
    "RECHECK_SECONDS",
    "LiveRuns",
    "ProgressLine",
    "live_runs",
]

KEEP_LINES = 200
FORGET_AFTER_SECONDS = 3600.0
#: How often a long poll re-reads the database even when nothing woke it.
RECHECK_SECONDS = 0.2


@dataclass(frozen=True)
class ProgressLine:
    number: int
    seq: int
    message: str


class _RunLines:
    __slots__ = ("lines", "next_number", "touched")

    def __init__(self) -> None:
        self.lines: deque[ProgressLine] = deque(maxlen=KEEP_LINES)
        self.next_number = 1
        self.touched = time.monotonic()


class LiveRuns:
    """Progress lines and wake-ups of the runs this server process serves."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._runs: dict[int, _RunLines] = {}
        self._run_marks: dict[int, int] = {}
        self._host_marks: dict[str, int] = {}

    # -- progress --------------------------------------------------------------------

    def publish(self, run_id: int, seq: int, message: str) -> ProgressLine:
        with self._lock:
            self._forget_old()
            lines = self._runs.setdefault(run_id, _RunLines())
            line = ProgressLine(lines.next_number, seq, message)
            lines.next_number += 1
            lines.lines.append(line)
            lines.touched = time.monotonic()
            self._bump_run(run_id)
            return line

    def progress(self, run_id: int, after: int = 0) -> list[ProgressLine]:
        """The lines of ``run_id`` numbered above ``after``, oldest first."""
        with self._lock:
            lines = self._runs.get(run_id)
            if lines is None:
                return []
            return [line for line in lines.lines if line.number > after]

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - FORGET_AFTER_SECONDS
        for run_id in [r for r, lines in self._runs.items() if lines.touched < cutoff]:
            del self._runs[run_id]
            self._run_marks.pop(run_id, None)

    # -- wake-ups --------------------------------------------------------------------

    def _bump_run(self, run_id: int) -> None:
        self._run_marks[run_id] = self._run_marks.get(run_id, 0) + 1
        self._lock.notify_all()

    def changed(self, run_id: int) -> None:
        """Something about ``run_id`` was written: wake whoever follows it."""
        with self._lock:
            self._bump_run(run_id)

    def host_work(self, host: str) -> None:
        """A run became claimable for ``host``: wake its agent's long poll."""
        with self._lock:
            self._host_marks[host] = self._host_marks.get(host, 0) + 1
            self._lock.notify_all()

    def run_mark(self, run_id: int) -> int:
        with self._lock:
            return self._run_marks.get(run_id, 0)

    def host_mark(self, host: str) -> int:
        with self._lock:
            return self._host_marks.get(host, 0)

    def wait_run(self, run_id: int, mark: int, timeout: float) -> int:
        """Wait until ``run_id`` changes past ``mark`` or ``timeout`` passes; the new mark."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            while self._run_marks.get(run_id, 0) == mark:
                left = deadline - time.monotonic()
                if left <= 0 or not self._lock.wait(left):
                    break
            return self._run_marks.get(run_id, 0)

    def wait_host(self, host: str, mark: int, timeout: float) -> int:
        """Wait until work for ``host`` is announced past ``mark`` or ``timeout`` passes."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            while self._host_marks.get(host, 0) == mark:
                left = deadline - time.monotonic()
                if left <= 0 or not self._lock.wait(left):
                    break
            return self._host_marks.get(host, 0)


#: The process's one instance (a server process serves every run it is asked about).
live_runs = LiveRuns()
