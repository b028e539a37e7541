"""The server's thread that retires drained versions every :data:`DRAIN_CHECK_INTERVAL` seconds."""

from __future__ import annotations

import logging
import threading

from shipmate.services.context import Context, log_failed_pass
from shipmate.services.draining.check import check_draining

__all__ = ["DRAIN_CHECK_INTERVAL", "DrainWatcher"]

#: How often the server looks at versions a run left draining.
DRAIN_CHECK_INTERVAL = 30.0

log = logging.getLogger("shipmate.draining")


class DrainWatcher:
    """The server's thread: :func:`check_draining` every ``interval`` seconds."""

    def __init__(self, ctx: Context, interval: float = DRAIN_CHECK_INTERVAL) -> None:
        self.ctx = ctx
        self.interval = interval
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="drain-watcher", daemon=True)

    def start(self) -> DrainWatcher:
        self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                for item in check_draining(self.ctx):
                    log.info(
                        "%s %s in %s: %s: %s",
                        item.product,
                        item.full_version,
                        item.environment,
                        item.outcome,
                        item.message,
                    )
            except Exception:
                log_failed_pass(log, "checking draining versions failed")
