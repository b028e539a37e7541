"""Health checks: is the version in a slot ready to take traffic?

A :class:`HealthCheck` answers one probe with ``check_once() -> (ok, detail)``;
:meth:`HealthCheck.wait_healthy` repeats it:

* at most ``attempts`` tries, ``interval`` seconds apart (seed 002: 20 × 3 s);
* no try starts once ``deadline`` seconds have passed since the first one, and the
  pause before the next try is cut short to end at the deadline;
* ``give_up()`` is asked after each failed try; a reason (e.g. "the process
  exited") ends the wait at once instead of sleeping through a hopeless minute;
* ``progress(attempt, ok, detail)`` is told about every try, for live output.

It returns a :class:`HealthResult` on the first passing try and raises
HealthCheckError with the last failure's detail otherwise.  ``sleep`` and
``monotonic`` are injectable so tests need not wait.

Probes: ``http`` (GET, expected status, optional body substring, per-try
timeout; never through a proxy, so loopback works whatever ``http_proxy`` says),
``tcp`` (a connection is accepted) and ``command`` (exit status 0).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from shipmate.domain.deploy.model import CommandProbe, HealthConfig, HttpProbe, TcpProbe
from shipmate.domain.deploy.templates import render, render_argv
from shipmate.engine.commands import run_command
from shipmate.engine.release import DeployContext, Release, inherited_env
from shipmate.errors import HealthCheckError

__all__ = [
    "CommandHealthCheck",
    "HealthCheck",
    "HealthResult",
    "HttpHealthCheck",
    "TcpHealthCheck",
    "build_health_check",
    "wait_for_health",
]

_MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class HealthResult:
    ok: bool
    attempts: int
    detail: str
    elapsed: float


class HealthCheck(ABC):
    @abstractmethod
    def check_once(self) -> tuple[bool, str]:
        """One probe: (passed, a one-line description of what was seen)."""

    def describe(self) -> str:
        return type(self).__name__

    def wait_healthy(
        self,
        *,
        attempts: int = 20,
        interval: float = 3.0,
        deadline: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        give_up: Callable[[], str | None] | None = None,
        progress: Callable[[int, bool, str], None] | None = None,
    ) -> HealthResult:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        limit = deadline if deadline is not None else float("inf")
        start = monotonic()
        detail = "no attempt made"
        made = 0
        while made < attempts:
            made += 1
            ok, detail = self.check_once()
            if progress is not None:
                progress(made, ok, detail)
            if ok:
                return HealthResult(True, made, detail, monotonic() - start)
            if made >= attempts:
                break
            reason = give_up() if give_up is not None else None
            if reason:
                raise HealthCheckError(
                    f"health check of {self.describe()} gave up after {made} attempts: "
                    f"{reason} (last check: {detail})",
                    attempts=made,
                    detail=detail,
                    reason=reason,
                    elapsed=monotonic() - start,
                )
            remaining = limit - (monotonic() - start)
            if remaining <= 0:
                break
            sleep(min(interval, remaining))
            if monotonic() - start >= limit:
                break
        elapsed = monotonic() - start
        raise HealthCheckError(
            f"health check of {self.describe()} did not pass after {made} attempts in "
            f"{elapsed:.1f}s: {detail}",
            attempts=made,
            detail=detail,
            elapsed=elapsed,
        )


class HttpHealthCheck(HealthCheck):
    def __init__(
        self,
        url: str,
        *,
        expected_status: int = 200,
        body_contains: str | None = None,
        timeout: float = 2.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url
        self.expected_status = expected_status
        self.body_contains = body_contains
        self.timeout = timeout

    def describe(self) -> str:
        return self.url

    def check_once(self) -> tuple[bool, str]:
        parts = urlsplit(self.url)
        host = parts.hostname or "127.0.0.1"
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(
                host, parts.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(host, parts.port, timeout=self.timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(
                "GET", path, headers={"User-Agent": "shipmate-health", "Connection": "close"}
            )
            response = conn.getresponse()
            body = response.read(_MAX_BODY).decode("utf-8", errors="replace")
            status = response.status
        except TimeoutError:
            return False, f"no answer from {self.url} within {self.timeout:g}s"
        except ConnectionRefusedError:
            return False, f"connection refused by {parts.netloc}"
        except (OSError, http.client.HTTPException) as exc:
            return False, f"{self.url}: {type(exc).__name__}: {exc}"
        finally:
            conn.close()
        if status != self.expected_status:
            snippet = " ".join(body.split())[:200]
            return False, f"HTTP {status} (expected {self.expected_status}) from {self.url}" + (
                f": {snippet}" if snippet else ""
            )
        if self.body_contains is not None and self.body_contains not in body:
            return (
                False,
                f"HTTP {status} from {self.url}, but the body lacks {self.body_contains!r}",
            )
        return True, f"HTTP {status} from {self.url}"


class TcpHealthCheck(HealthCheck):
    def __init__(self, host: str, port: int, *, timeout: float = 2.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout

    def describe(self) -> str:
        return f"tcp {self.host}:{self.port}"

    def check_once(self) -> tuple[bool, str]:
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout):
                return True, f"{self.host}:{self.port} accepts connections"
        except TimeoutError:
            return False, f"no answer from {self.host}:{self.port} within {self.timeout:g}s"
        except OSError as exc:
            return False, f"{self.host}:{self.port}: {exc.strerror or exc}"


class CommandHealthCheck(HealthCheck):
    def __init__(
        self, argv: Sequence[str], *, timeout: float = 10.0, env: Mapping[str, str] | None = None
    ) -> None:
        self.argv = tuple(argv)
        self.timeout = timeout
        self.env = env

    def describe(self) -> str:
        return " ".join(self.argv)

    def check_once(self) -> tuple[bool, str]:
        outcome = run_command(self.argv, timeout=self.timeout, env=self.env)
        if outcome.ok:
            last = (outcome.stdout.strip().splitlines() or ["exit status 0"])[-1]
            return True, last[:300]
        return False, outcome.describe()[:500]


def build_health_check(
    config: HealthConfig,
    context: DeployContext,
    *,
    slot: str,
    release: Release,
    base_env: Mapping[str, str] | None = None,
) -> HealthCheck:
    """The check ``config`` describes, aimed at ``release`` in ``slot``."""
    values = context.values(slot=slot, release=release)
    probe = config.probe
    if isinstance(probe, HttpProbe):
        return HttpHealthCheck(
            render(probe.url, values),
            expected_status=probe.expected_status,
            body_contains=render(probe.body_contains, values) if probe.body_contains else None,
            timeout=probe.timeout,
        )
    if isinstance(probe, TcpProbe):
        port = render(probe.port, values)
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise HealthCheckError(f"health check port {port!r} is not a port number")
        return TcpHealthCheck(render(probe.host, values), int(port), timeout=probe.timeout)
    if isinstance(probe, CommandProbe):
        env = inherited_env(base_env)
        env.update(context.app_env(release, slot))
        return CommandHealthCheck(
            render_argv(probe.command, values), timeout=probe.timeout, env=env
        )
    raise TypeError(f"unknown probe {type(probe).__name__}")


def wait_for_health(
    config: HealthConfig,
    check: HealthCheck,
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    give_up: Callable[[], str | None] | None = None,
    progress: Callable[[int, bool, str], None] | None = None,
) -> HealthResult:
    """``check.wait_healthy`` with the attempts, interval and deadline of ``config``."""
    return check.wait_healthy(
        attempts=config.attempts,
        interval=config.interval,
        deadline=config.deadline,
        sleep=sleep,
        monotonic=monotonic,
        give_up=give_up,
        progress=progress,
    )
