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

import json
import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from itertools import count
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, Row, and_, desc, func, select, update

from shipmate import __version__
from shipmate.config import Settings
from shipmate.domain.inputs.fields import format_time, parse_time
from shipmate.domain.notify.config import parse_notify_config
from shipmate.domain.notify.escape import message_format
from shipmate.domain.notify.messages import Message, build_message, build_test_message
from shipmate.domain.notify.retries import Outcome, classify_status, next_attempt_delay
from shipmate.domain.notify.rules import (
    Channel,
    NotificationEvent,
    NotificationRule,
    NotifyConfig,
    matches,
)
from shipmate.domain.notify.webhooks import SIGNATURE_HEADER, sign, webhook_body
from shipmate.errors import ConfigError, InvalidInputError, NotFoundError
from shipmate.services.context import Context, log_failed_pass
from shipmate.services.notify.targets import apprise_service, log_level
from shipmate.store.catalog import dialect_insert
from shipmate.store.deployments import deployment_select, event_select, row_to_deployment
from shipmate.store.schema import deployments, environments, events, products
from shipmate.store.schema_notify import (
    notification_attempts,
    notification_cursor,
    notification_deliveries,
)

__all__ = [
    "DELIVERY_STATUSES",
    "AttemptRecord",
    "DefaultSender",
    "DeliveryRecord",
    "NotificationWorker",
    "Outgoing",
    "PassReport",
    "SendResult",
    "Sender",
    "check_apprise_urls",
    "deliver_due",
    "get_delivery",
    "list_deliveries",
    "load_notify_config",
    "scan_events",
    "send_test",
    "start_notification_worker",
]

log = logging.getLogger("shipmate.notifications")

DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed", "expired")
CURSOR_NAME = "events"
#: Most ids remembered as gaps at once (a huge jump in ids keeps its newest holes).
MAX_GAPS = 1000
MAX_PAGE_SIZE = 500
_ERROR_LIMIT = 1000
_worker_numbers = count(1)


# --------------------------------------------------------------------- config


def load_notify_config(
    settings: Settings,
    env: Mapping[str, str] | None = None,
    *,
    check_apprise: bool = True,
) -> NotifyConfig:
    """The rules and worker options of ``settings``; ``${VAR}`` from ``env`` (default: os.environ).

    With ``check_apprise`` every Apprise URL is handed to Apprise to validate, so
    a typo fails at start-up rather than at the first delivery.
    """
    config = parse_notify_config(
        settings.sections.get("notifications"),
        env=os.environ if env is None else env,
        default_base_url=settings.url,
    )
    if check_apprise:
        check_apprise_urls(config)
    return config


_apprise_lock = threading.Lock()
_apprise_module: Any = None


def _apprise() -> Any:
    """Apprise, imported on first use with its plugins loaded.

    Apprise loads its plugins lazily, and one of them imports the deprecated
    ``imghdr`` module; that warning is Apprise's business, so it is silenced here,
    once, while the plugins load.
    """
    global _apprise_module
    with _apprise_lock:
        if _apprise_module is None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    import apprise

                    apprise.Apprise.instantiate("json://localhost")  # loads every plugin
            except ImportError:  # pragma: no cover - apprise comes with the server extra
                raise ConfigError(
                    "Apprise URLs need the apprise package: pip install 'shipmate[server]' "
                    "(or pip install apprise)",
                    field="notifications",
                ) from None
            _apprise_module = apprise
    return _apprise_module


def check_apprise_urls(config: NotifyConfig) -> None:
    """Refuse an Apprise URL that Apprise does not recognise, naming the rule's key."""
    rules = [r for r in config.rules if r.channel == Channel.APPRISE]
    if not rules:
        return
    apprise = _apprise()
    for rule in rules:
        if apprise.Apprise.instantiate(rule.url) is None:
            key = f"{rule.key}.url" if rule.key else "notifications"
            scheme = rule.url.split("://", 1)[0]
            raise ConfigError(
                f"{key}: Apprise does not accept this {scheme}:// URL (rule {rule.name!r}); "
                "check its form at https://appriseit.com (Teams uses workflows://)",
                field=key,
            )


# --------------------------------------------------------------------- sending


@dataclass(frozen=True)
class Outgoing:
    """One message on its way: what a :class:`Sender` needs and nothing more."""

    delivery_id: int | None
    event_type: str
    title: str
    text: str
    severity: str
    #: The exact bytes a webhook receives (and the signature covers).
    body: bytes


@dataclass(frozen=True)
class SendResult:
    """The answer to one attempt."""

    status_code: int | None = None
    error: str | None = None
    retry_after_seconds: float | None = None
    #: Set by senders that know the answer without a status code (Apprise).
    ok: bool | None = None
    #: Sending again cannot help (the rule is gone): fail the delivery now.
    give_up: bool = False

    @property
    def outcome(self) -> Outcome:
        if self.give_up:
            return Outcome.GIVE_UP
        if self.ok is not None and self.status_code is None:
            return Outcome.DELIVERED if self.ok else Outcome.RETRY
        return classify_status(self.status_code)

    def to_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.outcome == Outcome.DELIVERED,
            "outcome": self.outcome.value,
            "status_code": self.status_code,
            "error": self.error,
        }


class Sender(Protocol):
    def send(self, rule: NotificationRule, message: Outgoing) -> SendResult: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _retry_after(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


class DefaultSender:
    """Generic webhooks with urllib (signed), everything else through Apprise."""

    def __init__(
        self, *, timeout: float = 10.0, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._clock = clock

    def send(self, rule: NotificationRule, message: Outgoing) -> SendResult:
        if rule.channel == Channel.WEBHOOK:
            return self._webhook(rule, message)
        return self._apprise(rule, message)

    def _webhook(self, rule: NotificationRule, message: Outgoing) -> SendResult:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"shipmate/{__version__}",
            "X-Shipmate-Event": message.event_type,
        }
        if message.delivery_id is not None:
            headers["X-Shipmate-Delivery"] = str(message.delivery_id)
        if rule.secret is not None:
            headers[SIGNATURE_HEADER] = sign(message.body, rule.secret)
        request = urllib.request.Request(
            rule.url, data=message.body, method="POST", headers=headers
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(65536)
                return SendResult(status_code=int(response.status))
        except urllib.error.HTTPError as exc:
            detail = _snippet(exc)
            if 300 <= exc.code < 400:
                where = exc.headers.get("Location", "?")
                detail = f"redirected to {where}; point the rule's url at the final address"
            now = self._clock() if self._clock is not None else datetime.now(UTC)
            return SendResult(
                status_code=exc.code,
                error=f"HTTP {exc.code}" + (f": {detail}" if detail else ""),
                retry_after_seconds=_retry_after(exc.headers.get("Retry-After"), now),
            )
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return SendResult(error=f"cannot reach {rule.target}: {reason}")

    def _apprise(self, rule: NotificationRule, message: Outgoing) -> SendResult:
        apprise = _apprise()
        asset = apprise.AppriseAsset(storage_mode="memory")
        service = apprise_service(apprise, rule.url, asset)
        notifier = apprise.Apprise(asset=asset)
        if service is None or not notifier.add(service):
            return SendResult(ok=False, error=f"Apprise does not accept the {rule.target} URL")
        result = notifier.notify(
            body=message.text,
            title=message.title,
            notify_type=message.severity,
            body_format=apprise.NotifyFormat.TEXT,
        )
        if bool(result):
            return SendResult(ok=True)
        problems = [
            str(entry.message) for entry in result.logs() if log_level(entry) >= logging.WARNING
        ]
        return SendResult(ok=False, error=(problems[-1] if problems else "Apprise could not send"))


def _snippet(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read(300)
    except OSError:
        return ""
    return " ".join(raw.decode("utf-8", "replace").split())[:200]


def _outgoing(delivery_id: int | None, event_type: str, body: str) -> Outgoing:
    payload = json.loads(body)
    return Outgoing(
        delivery_id=delivery_id,
        event_type=event_type,
        title=str(payload.get("title") or "shipmate"),
        text=str(payload.get("text") or ""),
        severity=str(payload.get("severity") or "info"),
        body=body.encode(),
    )


# --------------------------------------------------------------------- records


@dataclass(frozen=True)
class AttemptRecord:
    attempt: int
    at: datetime
    outcome: str
    status_code: int | None
    error: str | None
    duration_ms: int
    worker: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "at": format_time(self.at),
            "outcome": self.outcome,
            "status_code": self.status_code,
            "error": self.error,
            "duration_ms": self.duration_ms,
            "worker": self.worker,
        }


@dataclass(frozen=True)
class DeliveryRecord:
    id: int
    rule: str
    event_id: int
    event_type: str
    deployment_id: int | None
    product: str | None
    environment: str | None
    channel: str
    target: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    body: str = field(repr=False, default="")
    attempt_log: tuple[AttemptRecord, ...] = ()

    def to_dict(self, *, with_body: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "rule": self.rule,
            "event_id": str(self.event_id),
            "event_type": self.event_type,
            "deployment_id": None if self.deployment_id is None else str(self.deployment_id),
            "product": self.product,
            "environment": self.environment,
            "via": self.channel,
            "target": self.target,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": format_time(self.next_attempt_at),
            "last_attempt_at": format_time(self.last_attempt_at),
            "delivered_at": format_time(self.delivered_at),
            "last_status_code": self.last_status_code,
            "last_error": self.last_error,
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
        }
        if self.attempt_log:
            data["attempt_log"] = [a.to_dict() for a in self.attempt_log]
        if with_body:
            data["body"] = self.body
        return data


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


# --------------------------------------------------------------------- scanning


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _lock_cursor(
    conn: Connection, now: datetime
) -> tuple[int, dict[str, str]] | Literal["busy", "created"]:
    """The cursor (position, gaps), locked for this transaction; ``"busy"`` when
    another worker holds it; ``"created"`` when this call made it (at the newest
    event: nothing to scan on the very first pass)."""
    query = select(notification_cursor.c.position, notification_cursor.c.gaps).where(
        notification_cursor.c.name == CURSOR_NAME
    )
    if _is_pg(conn):
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


# --------------------------------------------------------------------- delivering


@dataclass(frozen=True)
class _Claim:
    id: int
    rule: str
    event_type: str
    body: str
    attempt: int


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
            if _is_pg(conn):
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query).first()
            if row is None:
                return None
            where = notification_deliveries.c.id == row.id
            if row.attempts >= config.max_attempts:
                # Its last attempt was interrupted (the worker died mid-send).
                conn.execute(
                    update(notification_deliveries)
                    .where(where)
                    .values(
                        status="failed",
                        next_attempt_at=None,
                        updated_at=now,
                        last_error=(row.last_error or "the last attempt was interrupted")[
                            :_ERROR_LIMIT
                        ],
                    )
                )
                report.failed += 1
                continue
            attempt = int(row.attempts) + 1
            conn.execute(
                update(notification_deliveries)
                .where(where)
                .values(
                    status="sending",
                    attempts=attempt,
                    next_attempt_at=now + timedelta(seconds=config.lease_seconds),
                    last_attempt_at=now,
                    updated_at=now,
                )
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
                result = sender.send(rule, _outgoing(claim.id, claim.event_type, claim.body))
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


# --------------------------------------------------------------------- the worker


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


# --------------------------------------------------------------------- queries


def _delivery_select() -> Any:
    d = notification_deliveries
    return select(
        *d.c,
        products.c.name.label("product_name"),
        environments.c.name.label("environment_name"),
    ).select_from(
        d.join(events, events.c.id == d.c.event_id)
        .outerjoin(products, products.c.id == events.c.product_id)
        .outerjoin(environments, environments.c.id == events.c.environment_id)
    )


def _row_to_delivery(row: Row[Any], attempts: tuple[AttemptRecord, ...] = ()) -> DeliveryRecord:
    m = row._mapping
    return DeliveryRecord(
        id=int(m["id"]),
        rule=m["rule"],
        event_id=int(m["event_id"]),
        event_type=m["event_type"],
        deployment_id=m["deployment_id"],
        product=m["product_name"],
        environment=m["environment_name"],
        channel=m["channel"],
        target=m["target"],
        status=m["status"],
        attempts=int(m["attempts"]),
        next_attempt_at=m["next_attempt_at"],
        last_attempt_at=m["last_attempt_at"],
        delivered_at=m["delivered_at"],
        last_status_code=m["last_status_code"],
        last_error=m["last_error"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        body=m["body"],
        attempt_log=attempts,
    )


def _attempts(conn: Connection, ids: list[int]) -> dict[int, list[AttemptRecord]]:
    out: dict[int, list[AttemptRecord]] = {i: [] for i in ids}
    if not ids:
        return out
    a = notification_attempts
    for r in conn.execute(
        select(a).where(a.c.delivery_id.in_(ids)).order_by(a.c.delivery_id, a.c.attempt, a.c.id)
    ):
        out[int(r.delivery_id)].append(
            AttemptRecord(
                attempt=int(r.attempt),
                at=r.at,
                outcome=r.outcome,
                status_code=r.status_code,
                error=r.error,
                duration_ms=int(r.duration_ms),
                worker=r.worker,
            )
        )
    return out


def list_deliveries(
    ctx: Context,
    *,
    status: str | None = None,
    rule: str | None = None,
    event_type: str | None = None,
    product: str | None = None,
    environment: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
    with_attempts: bool = True,
) -> list[DeliveryRecord]:
    """The delivery log, newest first; page with ``before_id`` (the last id seen)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit")
    if status is not None and status not in DELIVERY_STATUSES:
        raise InvalidInputError(
            f"status {status!r} is not a delivery status ({', '.join(DELIVERY_STATUSES)})",
            field="status",
        )
    d = notification_deliveries
    query = _delivery_select()
    if status is not None:
        query = query.where(d.c.status == status)
    if rule is not None:
        query = query.where(d.c.rule == rule)
    if event_type is not None:
        query = query.where(d.c.event_type == event_type)
    if product is not None:
        query = query.where(products.c.name == product)
    if environment is not None:
        query = query.where(environments.c.name == environment)
    if before_id is not None:
        query = query.where(d.c.id < before_id)
    with ctx.read() as conn:
        rows = conn.execute(query.order_by(desc(d.c.id)).limit(limit)).all()
        log_by_id = _attempts(conn, [int(r.id) for r in rows]) if with_attempts else {}
    return [_row_to_delivery(r, tuple(log_by_id.get(int(r.id), ()))) for r in rows]


def get_delivery(ctx: Context, delivery_id: int) -> DeliveryRecord:
    """One delivery with every attempt and its body."""
    with ctx.read() as conn:
        row = conn.execute(
            _delivery_select().where(notification_deliveries.c.id == delivery_id)
        ).first()
        if row is None:
            raise NotFoundError(f"delivery {delivery_id} does not exist", field="id")
        log_by_id = _attempts(conn, [delivery_id])
    return _row_to_delivery(row, tuple(log_by_id[delivery_id]))


def send_test(
    ctx: Context, config: NotifyConfig, rule_name: str, *, sender: Sender | None = None
) -> SendResult:
    """Send a test message to ``rule_name``'s target now, on the caller's thread.

    Nothing is written to the database; the answer is returned.
    """
    rule = config.rule(rule_name)
    if rule is None:
        known = ", ".join(r.name for r in config.rules) or "none configured"
        raise NotFoundError(
            f"notification rule {rule_name!r} does not exist (rules: {known})", field="rule"
        )
    message: Message = build_test_message(
        rule_name=rule.name, at=ctx.now(), base_url=config.base_url
    )
    outgoing = Outgoing(
        delivery_id=None,
        event_type="test",
        title=message.title,
        text=message.text,
        severity=message.severity,
        body=webhook_body(message),
    )
    chosen = sender or DefaultSender(timeout=config.timeout_seconds, clock=ctx.now)
    try:
        return chosen.send(rule, outgoing)
    except Exception as exc:
        return SendResult(error=f"{type(exc).__name__}: {exc}")
