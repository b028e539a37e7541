"""Notification delivery: the event log is the outbox, a worker drains it.

Recording a deployment does nothing for notifications: it appends to ``events``
as it always does, in its own transaction, and returns.  A
:class:`NotificationWorker` (started by ``shipmate serve`` when rules exist, or
run by ``shipmate notifications run``) does the rest, in three short steps that
never hold a database lock while talking to the network:

1. **Scan** (one write transaction, holding the cursor row): read the events past
   the cursor, match them against the rules, and insert one delivery per
   (rule, event) with the exact body to send.  ``UNIQUE (rule, event_id)`` and
   ``ON CONFLICT DO NOTHING`` make a re-scan harmless.  On PostgreSQL event ids
   can commit out of order (id 10 may commit after id 11), so a missing id below
   the cursor is remembered as a *gap* and looked for again on every pass until
   it appears or ``gap_timeout_seconds`` pass (ids lost to rolled-back
   transactions never appear).  The first pass of a new database starts at the
   newest event: history recorded before notifications existed is not sent.
2. **Claim** (one short write transaction per delivery): pick one due delivery,
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite: ``BEGIN IMMEDIATE``
   serialises writers), mark it ``sending`` and push ``next_attempt_at`` a lease
   ahead (``max(60 s, 3 × timeout)``).  Another worker skips it.
3. **Send** outside any transaction, then **record** the attempt (one row in
   ``notification_attempts``) and the delivery's new state: ``delivered``;
   ``pending`` again with exponential backoff; or ``failed`` when attempts are
   exhausted or the receiver refused the request.

Guarantee: **at least once** per (rule, event) while the rule exists, the
attempts last and the event was younger than ``max_age_seconds`` when first
scanned; *exactly once in the absence of crashes and timeouts*.  A delivery is
sent only by the worker holding its claim, so two workers never send it side by
side.  A duplicate is possible when a worker dies (or loses the database) after
the receiver accepted the request but before the result was recorded, when a
receiver accepts but its answer is lost (timeout), or when one send outlasts
the lease and another worker claims it meanwhile; the repeat carries the same
body and the same ``X-Shipmate-Delivery`` id, so receivers can drop duplicates.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from itertools import count

from shipmate.domain.notify.rules import NotifyConfig
from shipmate.services.context import Context, log_failed_pass
from shipmate.services.notify.config import load_notify_config
from shipmate.services.notify.delivery import deliver_due
from shipmate.services.notify.pass_report import PassReport
from shipmate.services.notify.scanning import scan_events
from shipmate.services.notify.sending import DefaultSender, Sender

__all__ = ["NotificationWorker", "start_notification_worker"]

log = logging.getLogger("shipmate.notifications")

_worker_numbers = count(1)


class NotificationWorker:
    """Scans the event log and sends deliveries: ``run_once()`` in tests and the CLI,
    ``start()`` / ``stop()`` for a background thread in ``shipmate serve``."""

    def __init__(
        self,
        ctx: Context,
        config: NotifyConfig,
        *,
        sender: Sender | None = None,
        name: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.config = config
        self.sender: Sender = sender or DefaultSender(timeout=config.timeout_seconds, clock=ctx.now)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{next(_worker_numbers)}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> PassReport:
        """One scan and up to ``batch_size`` deliveries."""
        report = scan_events(self.ctx, self.config)
        report.add(deliver_due(self.ctx, self.config, self.sender, worker=self.name))
        return report

    def drain(self, *, max_passes: int = 10_000) -> PassReport:
        """Pass until nothing new is scanned and nothing is due now (retries that are
        due later are left for a later call)."""
        total = PassReport()
        for _ in range(max_passes):
            report = self.run_once()
            total.add(report)
            if not report.did_work:
                break
        return total

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run_forever, name="shipmate-notifications", daemon=True
        )
        self._thread.start()
        log.info(
            "notification worker %s started (%d rule(s))", self.name, len(self.config.active_rules)
        )

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout if timeout is not None else self.config.timeout_seconds + 5)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_forever(self) -> None:
        """Pass, and wait ``poll_interval_seconds`` whenever a pass found nothing to do."""
        while not self._stop.is_set():
            try:
                busy = self.run_once().did_work
            except Exception:
                log_failed_pass(log, "notification worker pass failed; retrying")
                busy = False
            if not busy:
                self._stop.wait(self.config.poll_interval_seconds)


def start_notification_worker(ctx: Context) -> NotificationWorker | None:
    """For ``shipmate serve``: a started worker when rules are configured, else None."""
    config = load_notify_config(ctx.settings)
    if not config.active_rules:
        return None
    worker = NotificationWorker(ctx, config)
    worker.start()
    return worker
