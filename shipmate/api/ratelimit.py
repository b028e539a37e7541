"""Rate limiting of failed authentication, per client address.

A client address may fail to authenticate (a bad, unknown or revoked API key on
any route, a failed dashboard login) at most ``[server] auth_failure_limit`` times
in any ``auth_failure_window_seconds``.  Beyond that, every request from it that
presents a credential (an ``Authorization`` header, a login form) is answered
``429 Too Many Requests`` with ``Retry-After``, without the credential being
checked, until the oldest failure of the window has aged out.  Requests without
a credential (anonymous reads, ``/healthz``) are never limited.

The address is the connection's peer as uvicorn reports it: behind a reverse
proxy on the same host uvicorn already substitutes the client from
``X-Forwarded-For`` (it trusts ``127.0.0.1``; set ``FORWARDED_ALLOW_IPS`` for a
proxy elsewhere).  IPv6 addresses are counted per ``/64``, the block one
subscriber usually holds.

Decision: the count is kept in each worker process's memory, not in the
database, so that a failure costs no write and the check no read.  With ``N``
workers (and ``M`` servers) an address can fail at most ``N × M × limit`` times
per window; ``docs/api.md`` states it.
"""

from __future__ import annotations

import ipaddress
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from shipmate.errors import RateLimitedError

__all__ = ["AuthFailureLimitMiddleware", "AuthFailureLimiter", "client_address"]

Scope = dict[str, Any]


def client_address(scope: Mapping[str, Any]) -> str:
    """The address failures are counted under (IPv6 per /64)."""
    client = scope.get("client")
    host = str(client[0]) if client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


class AuthFailureLimiter:
    """At most ``limit`` failures per address in any ``window`` seconds (a sliding log).

    ``limit = 0`` turns the limiter off.  At most :data:`MAX_ADDRESSES` addresses are
    tracked; beyond that, addresses whose failures all aged out are forgotten first.
    """

    MAX_ADDRESSES = 50_000

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        if self.limit <= 0:
            return None
        log = self._failures.get(address)
        if log is None or len(log) < self.limit:
            return None
        wait = log[0] + self.window - self._clock()
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, address: str) -> None:
        """Count one failed authentication from ``address``."""
        if self.limit <= 0:
            return
        now = self._clock()
        with self._lock:
            log = self._failures.get(address)
            if log is None:
                if len(self._failures) >= self.MAX_ADDRESSES:
                    self._forget(now)
                log = self._failures[address] = deque(maxlen=self.limit)
            log.append(now)

    def _forget(self, now: float) -> None:
        stale = [a for a, log in self._failures.items() if not log or log[-1] + self.window <= now]
        for address in stale:
            del self._failures[address]
        if len(self._failures) >= self.MAX_ADDRESSES:
            for address in list(self._failures)[: self.MAX_ADDRESSES // 2]:
                del self._failures[address]

    def refusal(self, retry_after: int) -> RateLimitedError:
        return RateLimitedError(
            f"too many failed authentication attempts from this address; "
            f"try again in {retry_after} s",
            field="authorization",
            retry_after=retry_after,
        )


class AuthFailureLimitMiddleware:
    """Answer 429 to a limited address that presents an ``Authorization`` header, and
    count every 401 answered to a request that presented one."""

    def __init__(self, app: Any, limiter: AuthFailureLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or self.limiter.limit <= 0
            or not any(name == b"authorization" for name, _ in scope.get("headers", ()))
        ):
            await self.app(scope, receive, send)
            return
        address = client_address(scope)
        wait = self.limiter.retry_after(address)
        if wait is not None:
            await self._refuse(send, wait)
            return

        async def watching_send(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.limiter.failed(address)
            await send(message)

        await self.app(scope, receive, watching_send)

    async def _refuse(self, send: Any, wait: int) -> None:
        exc = self.limiter.refusal(wait)
        body = json.dumps({"error": exc.to_dict(), "detail": exc.message}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": exc.http_status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(wait).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
