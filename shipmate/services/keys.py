"""API keys: created once and shown once, stored as a hash, checked in constant time.

A key looks like ``shm_<prefix>_<secret>``.  The prefix finds the row; only the
SHA-256 of the secret is stored, compared with :func:`hmac.compare_digest`.  Scopes
are ordered ``read < write < admin``; a key may be limited to some products.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select, update

from shipmate.domain.fields import format_time, validate_name
from shipmate.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from shipmate.services.context import Context
from shipmate.store.deployments import append_event
from shipmate.store.schema import api_keys

__all__ = [
    "ApiKey",
    "CreatedKey",
    "Principal",
    "Scope",
    "VerifiedKeys",
    "authenticate",
    "create_key",
    "list_keys",
    "revoke_key",
]

_LAST_USED_RESOLUTION = timedelta(minutes=1)


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return {"read": 0, "write": 1, "admin": 2}[self.value]


def parse_scope(value: str) -> Scope:
    try:
        return Scope(value.strip().lower())
    except ValueError:
        raise InvalidInputError(
            f"scope {value!r} is not a scope; use read, write or admin", field="scope"
        ) from None


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's name, scope and product limits; or anonymous."""

    name: str | None
    scope: Scope
    products: tuple[str, ...] = ()

    @property
    def anonymous(self) -> bool:
        return self.name is None

    def require(self, scope: Scope, product: str | None = None) -> None:
        if self.scope.rank < scope.rank:
            who = "anonymous access" if self.anonymous else f"key {self.name!r}"
            raise PermissionDeniedError(
                f"{who} has scope {self.scope.value}; this needs {scope.value}", field="scope"
            )
        self.require_product(product)

    def require_product(self, product: str | None) -> None:
        if product is not None and self.products and product not in self.products:
            raise PermissionDeniedError(
                f"key {self.name!r} is limited to {', '.join(self.products)}; not {product!r}",
                field="product",
            )


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    scope: str
    products: tuple[str, ...]
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "prefix": self.prefix,
            "scope": self.scope,
            "products": list(self.products),
            "created_at": format_time(self.created_at),
            "created_by": self.created_by,
            "last_used_at": format_time(self.last_used_at),
            "revoked_at": format_time(self.revoked_at),
            "active": self.revoked_at is None,
        }


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    token: str  # shown once, never stored

    def to_dict(self) -> dict[str, Any]:
        return {**self.key.to_dict(), "token": self.token}


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _row_to_key(row: Any) -> ApiKey:
    m = row._mapping
    return ApiKey(
        id=m["id"],
        name=m["name"],
        prefix=m["prefix"],
        scope=m["scope"],
        products=tuple(m["products"] or ()),
        created_at=m["created_at"],
        created_by=m["created_by"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
    )


def create_key(
    ctx: Context,
    name: str,
    scope: str,
    products: Sequence[str] = (),
    *,
    created_by: str | None = None,
) -> CreatedKey:
    name = validate_name(name, field="name")
    level = parse_scope(scope)
    limited = tuple(validate_name(p, field="product", max_length=255) for p in products)
    prefix = secrets.token_hex(5)
    secret = secrets.token_urlsafe(24)
    now = ctx.now()
    with ctx.write() as conn:
        if conn.execute(select(api_keys.c.id).where(api_keys.c.name == name)).first():
            raise ConflictError(f"a key named {name!r} already exists", field="name")
        key_id = conn.execute(
            insert(api_keys)
            .values(
                name=name,
                prefix=prefix,
                secret_hash=_hash(secret),
                scope=level.value,
                products=list(limited),
                created_at=now,
                created_by=created_by,
            )
            .returning(api_keys.c.id)
        ).scalar_one()
        append_event(
            conn,
            type="key.created",
            at=now,
            actor=created_by,
            data={"name": name, "scope": level.value, "products": list(limited)},
        )
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one()
    return CreatedKey(key=_row_to_key(row), token=f"shm_{prefix}_{secret}")


def list_keys(ctx: Context) -> list[ApiKey]:
    with ctx.read() as conn:
        return [_row_to_key(r) for r in conn.execute(select(api_keys).order_by(api_keys.c.id))]


def revoke_key(ctx: Context, name: str, *, actor: str | None = None) -> ApiKey:
    now = ctx.now()
    with ctx.write() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no key named {name!r}", field="name")
        if row.revoked_at is None:
            conn.execute(update(api_keys).where(api_keys.c.id == row.id).values(revoked_at=now))
            append_event(conn, type="key.revoked", at=now, actor=actor, data={"name": name})
        row = conn.execute(select(api_keys).where(api_keys.c.id == row.id)).one()
    return _row_to_key(row)


_INVALID = "Invalid authentication credentials"


def authenticate(ctx: Context, token: str | None) -> Principal:
    """The principal a bearer token stands for; AuthenticationError when none."""
    if not token:
        raise AuthenticationError(_INVALID, field="authorization")
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "shm":
        raise AuthenticationError(_INVALID, field="authorization")
    _, prefix, secret = parts
    with ctx.read() as conn:
        row = conn.execute(
            select(
                api_keys.c.id,
                api_keys.c.name,
                api_keys.c.secret_hash,
                api_keys.c.scope,
                api_keys.c.products,
                api_keys.c.revoked_at,
                api_keys.c.last_used_at,
            ).where(api_keys.c.prefix == prefix)
        ).first()
    expected = row.secret_hash if row is not None else _hash("")
    matches = hmac.compare_digest(_hash(secret), expected)
    if row is None or not matches or row.revoked_at is not None:
        raise AuthenticationError(_INVALID, field="authorization")
    now = ctx.now()
    if row.last_used_at is None or now - row.last_used_at >= _LAST_USED_RESOLUTION:
        with ctx.write() as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == row.id).values(last_used_at=now))
    return Principal(name=row.name, scope=Scope(row.scope), products=tuple(row.products or ()))


class VerifiedKeys:
    """Bearer tokens this server verified recently, and whom they stand for.

    Checking a key is a database read (and, once a minute, a write); a CI
    pipeline sends the same key request after request.  A token verified in the
    last ``seconds`` is trusted again without the read.  The price is that a key
    revoked elsewhere (another server, the CLI) keeps working here for at most
    ``seconds``; revoking through this server clears its memory at once.
    ``seconds = 0`` checks every request.  Failures are never remembered.
    Entries are keyed by the token's SHA-256, not the token.
    """

    #: Tokens remembered at most; the oldest half is forgotten beyond this.
    LIMIT = 10_000

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._known: dict[bytes, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> Principal | None:
        if self.seconds <= 0:
            return None
        found = self._known.get(self._key(token))
        if found is None or found[0] <= self._clock():
            return None
        return found[1]

    def remember(self, token: str, principal: Principal) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._known) >= self.LIMIT:
                for stale in list(self._known)[: self.LIMIT // 2]:
                    del self._known[stale]
            self._known[self._key(token)] = (self._clock() + self.seconds, principal)

    def clear(self) -> None:
        with self._lock:
            self._known.clear()
