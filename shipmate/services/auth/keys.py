"""API keys: created once and shown once, stored as a hash, checked in constant time.

A key looks like ``shm_<prefix>_<secret>``.  The prefix finds the row; only the
SHA-256 of the secret is stored, compared with :func:`hmac.compare_digest`.  Scopes
are ordered ``read < write < admin``; a key may be limited to some products.
An ``agent`` key (a deploy agent's, bound to one host name) ranks below ``read``:
no route but the agent routes (:mod:`shipmate.api.routes.agent`) lets it through,
and only an admin key (or the CLI on the database) creates one.

No key reaches further than the key that made it: a new key's scope and products
are within its creator's (:meth:`Principal.reaches`), and an admin key limited to
products lists and revokes only the keys within its reach.  Key names are one
URL path segment (no ``/``), so every key can be revoked through the API.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, insert, select, update

from shipmate.domain.inputs.fields import validate_lookup_name
from shipmate.domain.inputs.segments import validate_segment
from shipmate.domain.record_dicts import Formats, record_dict, time_fields
from shipmate.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from shipmate.services.context import Context
from shipmate.store.decoding import RowDecoder
from shipmate.store.deployments import append_event
from shipmate.store.schema import api_keys

__all__ = [
    "PRINCIPAL_COLUMNS",
    "ApiKey",
    "CreatedKey",
    "Principal",
    "Scope",
    "VerifiedKeys",
    "authenticate",
    "create_key",
    "list_keys",
    "principal_of",
    "refuse_beyond_products",
    "revocation_mark",
    "revoke_key",
    "validate_key_name",
]

_LAST_USED_RESOLUTION = timedelta(minutes=1)


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
    AGENT = "agent"

    @property
    def rank(self) -> int:
        return {"agent": -1, "read": 0, "write": 1, "admin": 2}[self.value]


def parse_scope(value: str) -> Scope:
    try:
        return Scope(value.strip().lower())
    except ValueError:
        raise InvalidInputError(
            f"scope {value!r} is not a scope; use read, write, admin or agent", field="scope"
        ) from None


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's name, scope and product limits; or anonymous."""

    name: str | None
    scope: Scope
    products: tuple[str, ...] = ()
    #: The host an agent key acts for (None for every other key).
    host: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.name is None

    def require(self, scope: Scope, product: str | None = None) -> None:
        if self.scope == Scope.AGENT and scope != Scope.AGENT:
            raise PermissionDeniedError(
                f"key {self.name!r} is an agent key (host {self.host}); it may call only "
                "the agent routes (/api/v1/agent/...)",
                field="scope",
            )
        if self.scope.rank < scope.rank or (scope == Scope.AGENT and self.scope != scope):
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

    @property
    def unrestricted(self) -> bool:
        """Not limited to products (anonymous readers count as unrestricted readers)."""
        return not self.products

    def require_unrestricted(self, what: str) -> None:
        """``what`` concerns every product: a key limited to products may not do it."""
        self.require(Scope.ADMIN)
        if self.products:
            raise PermissionDeniedError(
                f"key {self.name!r} is limited to {', '.join(self.products)}; {what} needs "
                "an admin key that is not limited to products",
                field="product",
            )

    def reaches(self, scope: Scope, products: Sequence[str]) -> bool:
        """Whether a key with ``scope`` and ``products`` is within this one's own reach:
        no higher scope, and (when this one is limited) limited to some of its products."""
        if scope.rank > self.scope.rank:
            return False
        if not self.products:
            return True
        return bool(products) and set(products) <= set(self.products)


_KEY_FORMATS: Formats = {
    "id": str,
    "products": list,
    **time_fields("created_at", "last_used_at", "revoked_at"),
}


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
    host: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body = record_dict(self, _KEY_FORMATS)
        body["active"] = self.revoked_at is None
        return body


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    token: str  # shown once, never stored

    def to_dict(self) -> dict[str, Any]:
        return {**self.key.to_dict(), "token": self.token}


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _products(value: Any) -> tuple[str, ...]:
    return tuple(value or ())


_row_to_key = RowDecoder(ApiKey, convert={"products": _products})


def validate_key_name(value: object) -> str:
    """A key's name: a name (letters, digits, ``. _ - @ :``) that is one URL path segment."""
    return validate_segment(
        validate_lookup_name(value, field="name", max_length=100), field="name", what="a key's name"
    )


def _check_within(creator: Principal, scope: Scope, products: Sequence[str]) -> None:
    """Refuse a key that would reach further than the key creating it."""
    if scope == Scope.AGENT and creator.scope != Scope.ADMIN:
        raise PermissionDeniedError(
            f"key {creator.name!r} has scope {creator.scope.value}; only an admin key creates "
            "agent keys",
            field="scope",
        )
    if scope.rank > creator.scope.rank:
        raise PermissionDeniedError(
            f"key {creator.name!r} has scope {creator.scope.value}; it cannot create a key "
            f"with scope {scope.value}",
            field="scope",
        )
    if not creator.products:
        return
    limited = f"key {creator.name!r} is limited to {', '.join(creator.products)}"
    refuse_beyond_products(
        creator.products,
        products,
        every=f"{limited}; a key it creates must be limited to some of them (give products)",
        beyond=lambda product: f"{limited}; it cannot create a key for {product!r}",
    )


def refuse_beyond_products(
    limited: Sequence[str],
    wanted: Sequence[str],
    *,
    every: str,
    beyond: Callable[[str], str],
) -> None:
    """Refuse (403 on ``products``) what reaches beyond a key limited to ``limited``:
    ``wanted`` empty (every product), with the message ``every``, or naming a product
    outside, with ``beyond`` of the first such product."""
    if not wanted:
        raise PermissionDeniedError(every, field="products")
    outside = [p for p in wanted if p not in limited]
    if outside:
        raise PermissionDeniedError(beyond(outside[0]), field="products")


def create_key(
    ctx: Context,
    name: str,
    scope: str,
    products: Sequence[str] = (),
    *,
    created_by: str | None = None,
    creator: Principal | None = None,
    host: str | None = None,
) -> CreatedKey:
    """Create a key.  ``creator`` is the key asking (through the API): the new key's
    scope and products must be within its own.  ``None`` (the CLI on the database)
    means no limit.  An ``agent`` key needs ``host``, the one host it acts for; no
    other key may have one."""
    name = validate_key_name(name)
    level = parse_scope(scope)
    host = _key_host(level, host)
    limited = tuple(
        dict.fromkeys(validate_lookup_name(p, field="products", max_length=255) for p in products)
    )
    if creator is not None:
        _check_within(creator, level, limited)
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
                host=host,
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
            data={"name": name, "scope": level.value, "products": list(limited), "host": host},
        )
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one()
    return CreatedKey(key=_row_to_key(row), token=f"shm_{prefix}_{secret}")


def _key_host(scope: Scope, host: str | None) -> str | None:
    if scope != Scope.AGENT:
        if host is not None:
            raise InvalidInputError(
                f"only an agent key is bound to a host; a {scope.value} key has none",
                field="host",
            )
        return None
    if host is None or not str(host).strip():
        raise InvalidInputError(
            "an agent key acts for one host: give its name (--host / host)", field="host"
        )
    return validate_segment(
        validate_lookup_name(host, field="host", max_length=255), field="host", what="a host name"
    )


def _reachable(viewer: Principal | None, key: ApiKey) -> bool:
    return viewer is None or viewer.reaches(Scope(key.scope), key.products)


def list_keys(ctx: Context, *, viewer: Principal | None = None) -> list[ApiKey]:
    """Every key, or (with ``viewer``) the keys within the viewer's reach."""
    with ctx.read() as conn:
        rows = conn.execute(select(api_keys).order_by(api_keys.c.id))
        return [k for k in map(_row_to_key, rows) if _reachable(viewer, k)]


def revoke_key(
    ctx: Context, name: str, *, actor: str | None = None, by: Principal | None = None
) -> ApiKey:
    """Revoke a key (again: unchanged).  ``by`` (the key asking through the API) may
    revoke only keys within its reach; others do not exist for it."""
    now = ctx.now()
    with ctx.write() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.name == name)).first()
        if row is None or not _reachable(by, _row_to_key(row)):
            raise NotFoundError(f"no key named {name!r}", field="name")
        if row.revoked_at is None:
            conn.execute(update(api_keys).where(api_keys.c.id == row.id).values(revoked_at=now))
            append_event(conn, type="key.revoked", at=now, actor=actor, data={"name": name})
        row = conn.execute(select(api_keys).where(api_keys.c.id == row.id)).one()
    return _row_to_key(row)


def revocation_mark(ctx: Context) -> int:
    """How many keys have ever been revoked: it changes with every revocation (keys are
    never deleted nor un-revoked), whoever made it (another server, the CLI, an older
    shipmate).  One small aggregate over ``api_keys``."""
    with ctx.read() as conn:
        return int(conn.execute(select(func.count(api_keys.c.revoked_at))).scalar_one())


_INVALID = "Invalid authentication credentials"

#: The columns of ``api_keys`` a :class:`Principal` is read from (see :func:`principal_of`).
PRINCIPAL_COLUMNS = (api_keys.c.name, api_keys.c.scope, api_keys.c.products, api_keys.c.host)


def principal_of(row: Any) -> Principal:
    """Whom a key stands for, from a row holding :data:`PRINCIPAL_COLUMNS`."""
    return Principal(
        name=row.name, scope=Scope(row.scope), products=_products(row.products), host=row.host
    )


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
                api_keys.c.secret_hash,
                api_keys.c.revoked_at,
                api_keys.c.last_used_at,
                *PRINCIPAL_COLUMNS,
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
    return principal_of(row)


#: How often each server process re-reads :func:`revocation_mark` while it trusts
#: remembered keys.  A key revoked anywhere is refused everywhere this long after the
#: revocation, plus one database read: the documented bound is one second.
REVOCATION_CHECK_SECONDS = 0.5


class VerifiedKeys:
    """Bearer tokens this server verified recently, and whom they stand for.

    Checking a key is a database read (and, once a minute, a write); a CI
    pipeline sends the same key request after request.  A token verified in the
    last ``seconds`` is trusted again without the read, as long as no key has
    been revoked since: before trusting its memory the process re-reads the
    revocation mark (:func:`revocation_mark`) when it is older than
    :data:`REVOCATION_CHECK_SECONDS`, and forgets every token when the mark moved.
    So a key revoked on any server or by the CLI is refused by every process within
    ``REVOCATION_CHECK_SECONDS`` plus one read (documented: one second), at the
    cost of one small query per process every half second, not one per request.
    While the mark is stale :meth:`get` answers nothing: the caller reads the mark
    (:meth:`check_revocations`) or the key itself before it trusts anything.
    Revoking through this process clears its memory at once.  ``seconds = 0``
    checks every request.  Failures are never remembered.  Entries are keyed by
    the token's SHA-256, not the token.
    """

    #: Tokens remembered at most; the oldest half is forgotten beyond this.
    LIMIT = 10_000

    def __init__(
        self,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        check_every: float = REVOCATION_CHECK_SECONDS,
    ) -> None:
        self.seconds = seconds
        self.check_every = check_every
        self._clock = clock
        self._known: dict[bytes, tuple[float, Principal]] = {}
        self._lock = threading.Lock()
        #: When the revocation mark was last read (the read started then), and its value.
        self._checked_at = -math.inf
        self._mark: int | None = None
        #: Bumped whenever the memory is cleared: a verification that began before a
        #: clear is not remembered after it.
        self.epoch = 0

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def stale(self) -> bool:
        """Whether the revocation mark must be read before the memory is trusted."""
        return self.seconds > 0 and self._clock() - self._checked_at >= self.check_every

    def check_revocations(self, ctx: Context) -> None:
        """Read the revocation mark; forget every token when it moved."""
        started = self._clock()
        self.observe(revocation_mark(ctx), started=started)

    def observe(self, mark: int, *, started: float) -> None:
        """The revocation mark as read by a read that began at ``started``."""
        with self._lock:
            if mark != self._mark:
                self._known.clear()
                self.epoch += 1
                self._mark = mark
            self._checked_at = max(self._checked_at, started)

    def get(self, token: str) -> Principal | None:
        if self.seconds <= 0 or self.stale():
            return None
        found = self._known.get(self._key(token))
        if found is None or found[0] <= self._clock():
            return None
        return found[1]

    def remember(self, token: str, principal: Principal, epoch: int | None = None) -> None:
        """Remember a verification; ``epoch`` is :attr:`epoch` from before it began
        (a clear since then means it may be out of date: it is dropped)."""
        if self.seconds <= 0:
            return
        with self._lock:
            if epoch is not None and epoch != self.epoch:
                return
            if len(self._known) >= self.LIMIT:
                for stale in list(self._known)[: self.LIMIT // 2]:
                    del self._known[stale]
            self._known[self._key(token)] = (self._clock() + self.seconds, principal)

    def clear(self) -> None:
        with self._lock:
            self._known.clear()
            self.epoch += 1
