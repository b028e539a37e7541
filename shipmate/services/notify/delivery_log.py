"""The delivery log: every delivery the worker queued, with its attempts, newest first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, desc, select

from shipmate.domain.record_dicts import Formats, id_text, record_dict, time_fields
from shipmate.errors import InvalidInputError, NotFoundError
from shipmate.services.context import Context
from shipmate.store.decoding import RowDecoder
from shipmate.store.deployments import select_with_event_place
from shipmate.store.schema import environments, events, products
from shipmate.store.schema_notify import notification_attempts, notification_deliveries

__all__ = [
    "DELIVERY_STATUSES",
    "MAX_PAGE_SIZE",
    "AttemptRecord",
    "DeliveryRecord",
    "get_delivery",
    "list_deliveries",
]

DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed", "expired")
MAX_PAGE_SIZE = 500


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
        return record_dict(self, time_fields("at"))


_DELIVERY_FORMATS: Formats = {
    "id": str,
    "event_id": str,
    "deployment_id": id_text,
    **time_fields("next_attempt_at", "last_attempt_at", "delivered_at", "created_at", "updated_at"),
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
        data = record_dict(
            self, _DELIVERY_FORMATS, keys={"channel": "via"}, omit=("body", "attempt_log")
        )
        if self.attempt_log:
            data["attempt_log"] = [a.to_dict() for a in self.attempt_log]
        if with_body:
            data["body"] = self.body
        return data


def _delivery_select() -> Any:
    d = notification_deliveries
    return select_with_event_place(d.c, d.join(events, events.c.id == d.c.event_id))


_delivery_decoder = RowDecoder(
    DeliveryRecord,
    columns={"product": "product_name", "environment": "environment_name"},
    convert={"id": int, "event_id": int, "attempts": int},
    skip=("attempt_log",),
)
_attempt_decoder = RowDecoder(AttemptRecord, convert={"attempt": int, "duration_ms": int})


def _row_to_delivery(row: Row[Any], attempts: tuple[AttemptRecord, ...] = ()) -> DeliveryRecord:
    return _delivery_decoder(row, attempt_log=attempts)


def _attempts(conn: Connection, ids: list[int]) -> dict[int, list[AttemptRecord]]:
    out: dict[int, list[AttemptRecord]] = {i: [] for i in ids}
    if not ids:
        return out
    a = notification_attempts
    for r in conn.execute(
        select(a).where(a.c.delivery_id.in_(ids)).order_by(a.c.delivery_id, a.c.attempt, a.c.id)
    ):
        out[int(r.delivery_id)].append(_attempt_decoder(r))
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
