"""The server's thread that retires drained versions every :data:`DRAIN_CHECK_INTERVAL` seconds."""

from __future__ import annotations

import logging

from shipmate.services.context import Context
from shipmate.services.draining.check import check_draining
from shipmate.services.periodic import PeriodicPass

__all__ = ["DRAIN_CHECK_INTERVAL", "DrainWatcher"]

#: How often the server looks at versions a run left draining.
DRAIN_CHECK_INTERVAL = 30.0

log = logging.getLogger("shipmate.draining")


def _retire_drained(ctx: Context) -> None:
    for item in check_draining(ctx):
        log.info(
            "%s %s in %s: %s: %s",
            item.product,
            item.full_version,
            item.environment,
            item.outcome,
            item.message,
        )


class DrainWatcher(PeriodicPass):
    """The server's thread: :func:`check_draining` every ``interval`` seconds."""

    def __init__(self, ctx: Context, interval: float = DRAIN_CHECK_INTERVAL) -> None:
        self.ctx = ctx
        super().__init__(
            "drain-watcher",
            interval,
            lambda: _retire_drained(ctx),
            log=log,
            failure="checking draining versions failed",
            first_now=False,
        )
