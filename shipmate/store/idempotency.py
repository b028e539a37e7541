"""Idempotency keys: a retried write returns the first result instead of writing again.

The key is written in the same transaction as the write it protects.  Two
concurrent requests with the same key both do the work, but only one can insert
the key; the other's transaction fails on the primary key and rolls back whole
(counter bump included, so no build number is burnt), and the caller then
replays the stored result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from shipmate.errors import ConflictError, InvalidInputError
from shipmate.store.schema import idempotency_keys

__all__ = ["lookup", "remember", "request_hash", "validate_key"]


def validate_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key:
        return None
    if len(key) > 255:
        raise InvalidInputError(
            "idempotency key is longer than 255 characters", field="idempotency_key"
        )
    return key


def request_hash(request: Any) -> str:
    data = asdict(request) if is_dataclass(request) and not isinstance(request, type) else request
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in ("idempotency_key", "key_name")}
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def lookup(conn: Connection, key: str, operation: str, digest: str) -> int | None:
    row = conn.execute(select(idempotency_keys).where(idempotency_keys.c.key == key)).first()
    if row is None:
        return None
    if row.operation != operation or row.request_hash != digest:
        raise ConflictError(
            "this idempotency key was already used for a different request; "
            "use a new key for a new request",
            field="idempotency_key",
        )
    return int(row.result_id)


def remember(
    conn: Connection, key: str, operation: str, digest: str, result_id: int, now: datetime
) -> None:
    conn.execute(
        insert(idempotency_keys).values(
            key=key, operation=operation, request_hash=digest, result_id=result_id, created_at=now
        )
    )
