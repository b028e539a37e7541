"""Tables of notifications (rules, outbox, deliveries): filled in by the notifications feature."""

from __future__ import annotations
