"""Scanning: the events past the cursor become deliveries (step 1 of the worker).

One write transaction, holding the cursor row, reads the events past the cursor,
matches them against the rules and inserts one delivery per (rule, event) with
the exact body to send; ids missing below the cursor are remembered as gaps and
looked for again (see :mod:`shipmate.services.notify.worker`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Row, func, select, update

from shipmate.domain.inputs.fields import format_time, parse_time
from shipmate.domain.notify.escape import message_format
from shipmate.domain.notify.messages import build_message
from shipmate.domain.notify.rules import NotificationEvent, NotificationRule, NotifyConfig, matches
from shipmate.domain.notify.webhooks import webhook_body
from shipmate.services.context import Context
from shipmate.services.notify.pass_report import PassReport
from shipmate.store.catalog import dialect_insert
from shipmate.store.deployments import deployment_select, event_select, row_to_deployment
from shipmate.store.schema import deployments, events
from shipmate.store.schema_notify import notification_cursor, notification_deliveries

__all__ = ["CURSOR_NAME", "MAX_GAPS", "scan_events"]

CURSOR_NAME = "events"
#: Most ids remembered as gaps at once (a huge jump in ids keeps its newest holes).
MAX_GAPS = 1000


def _lock_cursor(
    conn: Connection, now: datetime
) -> tuple[int, dict[str, str]] | Literal["busy", "created"]:
    """The cursor (position, gaps), locked for this transaction; ``"busy"`` when
    another worker holds it; ``"created"`` when this call made it (at the newest
    event: nothing to scan on the very first pass)."""
    query = select(notification_cursor.c.position, notification_cursor.c.gaps).where(
        notification_cursor.c.name == CURSOR_NAME
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = conn.execute(query).first()
    if row is not None:
        return int(row.position), {str(k): str(v) for k, v in dict(row.gaps or {}).items()}
    start = conn.execute(select(func.max(events.c.id))).scalar()
    stmt = dialect_insert(conn, notification_cursor).values(
        name=CURSOR_NAME, position=int(start or 0), gaps={}, updated_at=now
    )
    created = conn.execute(
        stmt.on_conflict_do_nothing(index_elements=["name"]).returning(notification_cursor.c.name)
    ).first()
    return "created" if created is not None else "busy"


def _name(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _event_facts(row: Row[Any], deps: Mapping[int, Any]) -> NotificationEvent:
    """The event with its names; an event about a product or environment that did not
    exist yet (a refused first deployment) names them in its data instead."""
    m = row._mapping
    data = dict(m["data"] or {})
    return NotificationEvent(
        id=int(m["id"]),
        type=m["type"],
        at=m["at"],
        actor=m["actor"],
        product=m["product_name"] or _name(data.get("product")),
        environment=m["environment_name"] or _name(data.get("environment")),
        from_status=m["from_status"],
        to_status=m["to_status"],
        deployment_id=m["deployment_id"],
        data=data,
        deployment=deps.get(m["deployment_id"]) if m["deployment_id"] is not None else None,
    )


def scan_events(ctx: Context, config: NotifyConfig) -> PassReport:
    """Turn the events past the cursor into deliveries (see the module docstring)."""
    report = PassReport()
    now = ctx.now()
    rules = config.active_rules
    with ctx.write() as conn:
        cursor = _lock_cursor(conn, now)
        if cursor == "busy":
            report.cursor_busy = True
            return report
        if cursor == "created":
            return report
        position, gaps = cursor
        found: list[Row[Any]] = []
        if gaps:
            ids = [int(k) for k in gaps]
            found = list(conn.execute(event_select().where(events.c.id.in_(ids))).all())
            for row in found:
                gaps.pop(str(row.id), None)
        fresh = list(
            conn.execute(
                event_select()
                .where(events.c.id > position)
                .order_by(events.c.id)
                .limit(config.batch_size)
            ).all()
        )
        expected = position + 1
        stamp = format_time(now) or ""
        for row in fresh:
            first_missing = max(expected, int(row.id) - MAX_GAPS)
            for missing in range(first_missing, int(row.id)):
                gaps[str(missing)] = stamp
            expected = int(row.id) + 1
        if fresh:
            position = int(fresh[-1].id)
        cutoff = now - timedelta(seconds=config.gap_timeout_seconds)
        gaps = {k: v for k, v in gaps.items() if parse_time(v, field="gap") > cutoff}
        if len(gaps) > MAX_GAPS:
            gaps = {k: gaps[k] for k in sorted(gaps, key=int)[-MAX_GAPS:]}
        rows = found + fresh
        report.scanned = len(rows)
        if rows and rules:
            _queue(conn, config, rules, rows, now, report)
        conn.execute(
            update(notification_cursor)
            .where(notification_cursor.c.name == CURSOR_NAME)
            .values(position=position, gaps=gaps, updated_at=now)
        )
    return report


def _queue(
    conn: Connection,
    config: NotifyConfig,
    rules: tuple[NotificationRule, ...],
    rows: list[Row[Any]],
    now: datetime,
    report: PassReport,
) -> None:
    dep_ids = sorted({int(r.deployment_id) for r in rows if r.deployment_id is not None})
    deps: dict[int, Any] = {}
    if dep_ids:
        for dep_row in conn.execute(deployment_select().where(deployments.c.id.in_(dep_ids))):
            deps[int(dep_row.id)] = row_to_deployment(dep_row)
    max_age = timedelta(seconds=config.max_age_seconds)
    for row in rows:
        event = _event_facts(row, deps)
        for rule in rules:
            if not matches(rule, event):
                continue
            fmt = message_format(rule.url)
            message = build_message(event, rule_name=rule.name, base_url=config.base_url, fmt=fmt)
            expired = now - event.at > max_age
            stmt = dialect_insert(conn, notification_deliveries).values(
                rule=rule.name,
                event_id=event.id,
                event_type=event.type,
                deployment_id=event.deployment_id,
                channel=rule.channel.value,
                target=rule.target[:500],
                status="expired" if expired else "pending",
                attempts=0,
                next_attempt_at=None if expired else now,
                last_error=(
                    f"not sent: the event was older than max_age_seconds "
                    f"({config.max_age_seconds}) when the worker first saw it"
                    if expired
                    else None
                ),
                body=webhook_body(message).decode(),
                created_at=now,
                updated_at=now,
            )
            inserted = conn.execute(
                stmt.on_conflict_do_nothing(index_elements=["rule", "event_id"]).returning(
                    notification_deliveries.c.id
                )
            ).first()
            if inserted is not None:
                if expired:
                    report.expired += 1
                else:
                    report.queued += 1
