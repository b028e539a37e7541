"""Generic webhooks: the exact body shipmate POSTs and its signature.  No I/O.

A rule with a ``secret`` signs every body:
``X-Shipmate-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from shipmate.domain.notify.messages import Message

__all__ = ["SIGNATURE_HEADER", "sign", "verify_signature", "webhook_body"]

SIGNATURE_HEADER = "X-Shipmate-Signature"


def webhook_body(message: Message) -> bytes:
    """The exact bytes POSTed to a generic webhook (and signed): compact UTF-8 JSON."""
    return json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode()


def sign(body: bytes, secret: str) -> str:
    """The ``X-Shipmate-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of ``body``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(body: bytes, secret: str, header: str | None) -> bool:
    """What a receiver does: compare in constant time with the expected signature."""
    if not header:
        return False
    return hmac.compare_digest(sign(body, secret), header.strip())
