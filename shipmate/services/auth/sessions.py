"""Dashboard sessions: a login exchanges an API key for a random, expiring session id.

The browser keeps only the session id (``sms_<random>``, 256 bits), never the API
key.  The database keeps only the id's SHA-256.  A session stands for the key it
was made with and is accepted while

* it has not been ended (logout sets ``revoked_at``),
* it has not expired (``expires_at``, set at login from the configured lifetime),
* its key has not been revoked: every check reads the key's ``revoked_at`` in the
  same query, on every worker and every server, so revoking a key ends its
  sessions at once.

Each form a session may post carries a CSRF token derived from the session id
(:func:`csrf_token`): a page of another site can neither read the cookie nor
compute the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, insert, select, update

from shipmate.errors import AuthenticationError
from shipmate.services.auth.keys import PRINCIPAL_COLUMNS, Principal, authenticate, principal_of
from shipmate.services.context import Context
from shipmate.store.schema import api_keys
from shipmate.store.schema_sessions import dashboard_sessions

__all__ = [
    "PREFIX",
    "Session",
    "csrf_token",
    "end_session",
    "session_principal",
    "start_session",
]

#: Session ids start with this, so that one can never pass for an API key (``shm_``).
PREFIX = "sms_"
_CSRF_CONTEXT = b"shipmate-csrf\x00"


@dataclass(frozen=True)
class Session:
    """A session just started: the id for the cookie (shown once) and its principal."""

    id: str
    principal: Principal
    lifetime: timedelta


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_token(session_id: str) -> str:
    """The token a form of this session must send back (not the id, not reversible)."""
    return hashlib.sha256(_CSRF_CONTEXT + session_id.encode()).hexdigest()


def csrf_matches(session_id: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_token(session_id), str(sent))


def start_session(ctx: Context, token: str, lifetime: timedelta) -> Session:
    """Check the API key and open a session for it; AuthenticationError when the key
    is unknown or revoked.  Sessions that expired are deleted on the way."""
    principal = authenticate(ctx, token)
    prefix = token.strip().split("_", 2)[1]
    session_id = PREFIX + secrets.token_urlsafe(32)
    now = ctx.now()
    with ctx.write() as conn:
        key = conn.execute(
            select(api_keys.c.id, api_keys.c.revoked_at).where(api_keys.c.prefix == prefix)
        ).first()
        if key is None or key.revoked_at is not None:  # revoked in between
            raise AuthenticationError("Invalid authentication credentials", field="key")
        conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.expires_at <= now))
        conn.execute(
            insert(dashboard_sessions).values(
                id_hash=_hash(session_id),
                key_id=key.id,
                created_at=now,
                expires_at=now + lifetime,
            )
        )
    return Session(id=session_id, principal=principal, lifetime=lifetime)


def session_principal(ctx: Context, session_id: str | None) -> Principal | None:
    """Whom a session id stands for, or None: unknown, ended, expired or its key revoked."""
    if not session_id or not session_id.startswith(PREFIX) or len(session_id) > 100:
        return None
    with ctx.read() as conn:
        row = conn.execute(
            select(
                dashboard_sessions.c.expires_at,
                dashboard_sessions.c.revoked_at,
                *PRINCIPAL_COLUMNS,
                api_keys.c.revoked_at.label("key_revoked_at"),
            )
            .join(api_keys, api_keys.c.id == dashboard_sessions.c.key_id)
            .where(dashboard_sessions.c.id_hash == _hash(session_id))
        ).first()
    if row is None or row.revoked_at is not None or row.key_revoked_at is not None:
        return None
    if row.expires_at <= ctx.now():
        return None
    return principal_of(row)


def end_session(ctx: Context, session_id: str) -> bool:
    """Log out: the session id stops working everywhere.  True when it was open."""
    with ctx.write() as conn:
        done = conn.execute(
            update(dashboard_sessions)
            .where(
                dashboard_sessions.c.id_hash == _hash(session_id),
                dashboard_sessions.c.revoked_at.is_(None),
            )
            .values(revoked_at=ctx.now())
        )
    return bool(done.rowcount)
