"""Dashboard sessions: who logged in to the dashboard with which key, until when.

``dashboard_sessions``: one row per login.  The browser holds a random session id
in a cookie; only its SHA-256 (``id_hash``) is stored, so a copy of the database
cannot be turned into a working cookie.  A session belongs to one API key
(``key_id``) and is valid while it is not ``revoked_at`` (logout), not past
``expires_at``, and its key is not revoked.  Rows past their expiry are deleted
at the next login: a session is access state, not history.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table

from shipmate.store.columns import id_column, reference
from shipmate.store.schema import metadata
from shipmate.store.types import UTCDateTime

__all__ = ["dashboard_sessions"]

dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    id_column(),
    Column("id_hash", String(64), nullable=False, unique=True),
    reference("key_id", "api_keys"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Index("ix_dashboard_sessions_expires_at", "expires_at"),
)
