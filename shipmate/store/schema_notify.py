"""Tables of notifications: the worker's cursor over the event log, deliveries, attempts.

The event log (``events``) is the outbox: recording a deployment writes nothing
here.  The delivery worker reads events past its cursor, and for every rule an
event matches inserts one ``notification_deliveries`` row, unique per
(rule, event_id), holding the exact body it will send.  Rules live in the
config file, so a delivery names its rule by ``rule`` (the rule's name).

``notification_cursor`` has one row per cursor (``name = "events"``):
``position`` is the highest event id scanned, ``gaps`` the ids below it that
were missing when scanned (a PostgreSQL transaction that had taken its id but
not yet committed), watched until they appear or time out.

``notification_deliveries.status``: ``pending`` (due at ``next_attempt_at``),
``sending`` (claimed by a worker until ``next_attempt_at``, its lease),
``delivered``, ``failed`` (attempts exhausted or refused), ``expired`` (the event
was too old when first seen; never sent).  ``notification_attempts`` is
append-only: one row per attempt with its answer.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text, UniqueConstraint

from shipmate.store.columns import Id, id_column, reference, written_columns
from shipmate.store.schema import metadata
from shipmate.store.types import UTCDateTime

__all__ = ["notification_attempts", "notification_cursor", "notification_deliveries"]

notification_cursor = Table(
    "notification_cursor",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("position", Id, nullable=False),
    Column("gaps", JSON(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

notification_deliveries = Table(
    "notification_deliveries",
    metadata,
    id_column(),
    Column("rule", String(100), nullable=False),
    reference("event_id", "events"),
    Column("event_type", String(50), nullable=False),
    reference("deployment_id", "deployments", nullable=True),
    Column("channel", String(10), nullable=False),
    # The target with secrets cut out (see domain.notifications.redact_target).
    Column("target", String(500), nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("last_attempt_at", UTCDateTime(), nullable=True),
    Column("delivered_at", UTCDateTime(), nullable=True),
    Column("last_status_code", Integer(), nullable=True),
    Column("last_error", String(1000), nullable=True),
    # The exact JSON body sent (and signed) on every attempt.
    Column("body", Text(), nullable=False),
    *written_columns(),
    UniqueConstraint("rule", "event_id"),
    Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
    Index("ix_notification_deliveries_event_id", "event_id"),
)

notification_attempts = Table(
    "notification_attempts",
    metadata,
    id_column(),
    reference("delivery_id", "notification_deliveries"),
    Column("attempt", Integer(), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("status_code", Integer(), nullable=True),
    Column("error", String(1000), nullable=True),
    Column("duration_ms", Integer(), nullable=False),
    Column("worker", String(100), nullable=False),
    Index("ix_notification_attempts_delivery_id", "delivery_id", "attempt"),
)
