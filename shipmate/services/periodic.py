"""A server thread that does one pass of work every few seconds until it is closed.

The drain watcher and the run watch are both such a thread.  A failed pass is
logged (a ``ShipmateError`` as one line, anything else with its traceback, a
database outage not at all: the engine logged it once when it began) and the
next pass tries again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Self

from shipmate.errors import DatabaseUnavailableError, ShipmateError
from shipmate.services.context import log_failed_pass

__all__ = ["PeriodicPass"]


class PeriodicPass:
    """Call ``one_pass`` every ``interval`` seconds on a daemon thread named ``name``
    (the first call at once when ``first_now``, else after one interval)."""

    def __init__(
        self,
        name: str,
        interval: float,
        one_pass: Callable[[], None],
        *,
        log: logging.Logger,
        failure: str,
        first_now: bool,
    ) -> None:
        self.interval = interval
        self.stop = threading.Event()
        self._one_pass = one_pass
        self._log = log
        self._failure = failure
        self._first_now = first_now
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        if not self._first_now and self.stop.wait(self.interval):
            return
        while True:
            try:
                self._one_pass()
            except DatabaseUnavailableError:
                pass  # the engine logged the outage once; the next pass tries again
            except ShipmateError as exc:
                self._log.warning("%s: %s", self._failure, exc.message)
            except Exception:
                log_failed_pass(self._log, self._failure)
            if self.stop.wait(self.interval):
                return
