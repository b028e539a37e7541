"""Delivering: claim one due delivery, send it, record the attempt (steps 2 and 3 of the worker).

The claim is one short write transaction (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL) that marks the delivery ``sending`` for a lease; the send happens
outside any transaction; the record writes the attempt and the delivery's new
state (see :mod:`shipmate.services.notify.worker`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, select, update

from shipmate.domain.notify.retries import Outcome, next_attempt_delay
from shipmate.domain.notify.rules import NotifyConfig
from shipmate.services.context import Context
from shipmate.services.notify.pass_report import PassReport
from shipmate.services.notify.sending import Sender, SendResult, outgoing_from_body
from shipmate.store.schema_notify import notification_attempts, notification_deliveries

__all__ = ["deliver_due"]

log = logging.getLogger("shipmate.notifications")

_ERROR_LIMIT = 1000


@dataclass(frozen=True)
class _Claim:
    id: int
    rule: str
    event_type: str
    body: str
    attempt: int


def _set_delivery(conn: Connection, delivery_id: int, **values: Any) -> None:
    conn.execute(
        update(notification_deliveries)
        .where(notification_deliveries.c.id == delivery_id)
        .values(**values)
    )


def _claim(ctx: Context, config: NotifyConfig, report: PassReport) -> _Claim | None:
    """Take one due delivery for this worker (or None when nothing is due)."""
    while True:
        now = ctx.now()
        with ctx.write() as conn:
            query = (
                select(notification_deliveries)
                .where(
                    notification_deliveries.c.status.in_(("pending", "sending")),
                    notification_deliveries.c.next_attempt_at <= now,
                )
                .order_by(notification_deliveries.c.next_attempt_at, notification_deliveries.c.id)
                .limit(1)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query).first()
            if row is None:
                return None
            if row.attempts >= config.max_attempts:
                # Its last attempt was interrupted (the worker died mid-send).
                _set_delivery(
                    conn,
                    row.id,
                    status="failed",
                    next_attempt_at=None,
                    updated_at=now,
                    last_error=(row.last_error or "the last attempt was interrupted")[
                        :_ERROR_LIMIT
                    ],
                )
                report.failed += 1
                continue
            attempt = int(row.attempts) + 1
            _set_delivery(
                conn,
                row.id,
                status="sending",
                attempts=attempt,
                next_attempt_at=now + timedelta(seconds=config.lease_seconds),
                last_attempt_at=now,
                updated_at=now,
            )
            return _Claim(int(row.id), row.rule, row.event_type, row.body, attempt)


def _record(
    ctx: Context,
    config: NotifyConfig,
    claim: _Claim,
    result: SendResult,
    *,
    started: datetime,
    duration_ms: int,
    worker: str,
    report: PassReport,
) -> None:
    now = ctx.now()
    outcome = result.outcome
    error = None if result.error is None else result.error[:_ERROR_LIMIT]
    values: dict[str, Any] = {
        "updated_at": now,
        "last_status_code": result.status_code,
        "last_error": error,
    }
    if outcome == Outcome.DELIVERED:
        values.update(status="delivered", delivered_at=now, next_attempt_at=None, last_error=None)
        report.delivered += 1
    elif outcome == Outcome.RETRY and claim.attempt < config.max_attempts:
        delay = next_attempt_delay(
            claim.attempt,
            base_seconds=config.retry_base_seconds,
            retry_after_seconds=result.retry_after_seconds,
        )
        values.update(status="pending", next_attempt_at=now + timedelta(seconds=delay))
        report.retrying += 1
    else:
        if outcome == Outcome.RETRY:
            values["last_error"] = f"gave up after {claim.attempt} attempts: {error or 'failed'}"[
                :_ERROR_LIMIT
            ]
        values.update(status="failed", next_attempt_at=None)
        report.failed += 1
    with ctx.write() as conn:
        conn.execute(
            notification_attempts.insert().values(
                delivery_id=claim.id,
                attempt=claim.attempt,
                at=started,
                outcome=outcome.value,
                status_code=result.status_code,
                error=error,
                duration_ms=duration_ms,
                worker=worker[:100],
            )
        )
        conn.execute(
            update(notification_deliveries)
            .where(
                and_(
                    notification_deliveries.c.id == claim.id,
                    notification_deliveries.c.status == "sending",
                    notification_deliveries.c.attempts == claim.attempt,
                )
            )
            .values(**values)
        )


def deliver_due(
    ctx: Context, config: NotifyConfig, sender: Sender, *, worker: str, limit: int | None = None
) -> PassReport:
    """Claim, send and record due deliveries, one at a time, up to ``limit`` (batch size)."""
    report = PassReport()
    for _ in range(limit or config.batch_size):
        claim = _claim(ctx, config, report)
        if claim is None:
            break
        report.attempted += 1
        rule = config.rule(claim.rule)
        started = ctx.now()
        t0 = time.monotonic()
        if rule is None or not rule.enabled:
            why = "is no longer configured" if rule is None else "is disabled"
            result = SendResult(give_up=True, error=f"rule {claim.rule!r} {why}; not sent")
        else:
            try:
                result = sender.send(
                    rule, outgoing_from_body(claim.id, claim.event_type, claim.body)
                )
            except Exception as exc:  # a sender bug must not kill the worker
                log.exception("notification sender failed for delivery %s", claim.id)
                result = SendResult(error=f"{type(exc).__name__}: {exc}")
        duration_ms = int((time.monotonic() - t0) * 1000)
        _record(
            ctx,
            config,
            claim,
            result,
            started=started,
            duration_ms=duration_ms,
            worker=worker,
            report=report,
        )
    return report
