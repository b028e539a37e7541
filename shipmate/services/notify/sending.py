"""Sending one message: generic webhooks (signed) with urllib, every other target through Apprise.

A :class:`Sender` turns an :class:`Outgoing` message into a :class:`SendResult`;
:class:`DefaultSender` is the real one (tests pass their own).  Webhooks are
never redirected: a 3xx answer names the address to put in the rule instead.
:func:`send_test` sends a test message now, on the caller's thread.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from shipmate import __version__
from shipmate.domain.notify.messages import Message, build_test_message
from shipmate.domain.notify.retries import Outcome, classify_status
from shipmate.domain.notify.rules import Channel, NotificationRule, NotifyConfig
from shipmate.domain.notify.webhooks import SIGNATURE_HEADER, sign, webhook_body
from shipmate.errors import NotFoundError
from shipmate.services.context import Context
from shipmate.services.notify.targets import apprise_service, load_apprise, log_level

__all__ = [
    "DefaultSender",
    "Outgoing",
    "SendResult",
    "Sender",
    "outgoing_from_body",
    "send_test",
]


@dataclass(frozen=True)
class Outgoing:
    """One message on its way: what a :class:`Sender` needs and nothing more."""

    delivery_id: int | None
    event_type: str
    title: str
    text: str
    severity: str
    #: The exact bytes a webhook receives (and the signature covers).
    body: bytes


@dataclass(frozen=True)
class SendResult:
    """The answer to one attempt."""

    status_code: int | None = None
    error: str | None = None
    retry_after_seconds: float | None = None
    #: Set by senders that know the answer without a status code (Apprise).
    ok: bool | None = None
    #: Sending again cannot help (the rule is gone): fail the delivery now.
    give_up: bool = False

    @property
    def outcome(self) -> Outcome:
        if self.give_up:
            return Outcome.GIVE_UP
        if self.ok is not None and self.status_code is None:
            return Outcome.DELIVERED if self.ok else Outcome.RETRY
        return classify_status(self.status_code)

    def to_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.outcome == Outcome.DELIVERED,
            "outcome": self.outcome.value,
            "status_code": self.status_code,
            "error": self.error,
        }


class Sender(Protocol):
    def send(self, rule: NotificationRule, message: Outgoing) -> SendResult: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _retry_after(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


class DefaultSender:
    """Generic webhooks with urllib (signed), everything else through Apprise."""

    def __init__(
        self, *, timeout: float = 10.0, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._clock = clock

    def send(self, rule: NotificationRule, message: Outgoing) -> SendResult:
        if rule.channel == Channel.WEBHOOK:
            return self._webhook(rule, message)
        return self._apprise(rule, message)

    def _webhook(self, rule: NotificationRule, message: Outgoing) -> SendResult:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"shipmate/{__version__}",
            "X-Shipmate-Event": message.event_type,
        }
        if message.delivery_id is not None:
            headers["X-Shipmate-Delivery"] = str(message.delivery_id)
        if rule.secret is not None:
            headers[SIGNATURE_HEADER] = sign(message.body, rule.secret)
        request = urllib.request.Request(
            rule.url, data=message.body, method="POST", headers=headers
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(65536)
                return SendResult(status_code=int(response.status))
        except urllib.error.HTTPError as exc:
            detail = _snippet(exc)
            if 300 <= exc.code < 400:
                where = exc.headers.get("Location", "?")
                detail = f"redirected to {where}; point the rule's url at the final address"
            now = self._clock() if self._clock is not None else datetime.now(UTC)
            return SendResult(
                status_code=exc.code,
                error=f"HTTP {exc.code}" + (f": {detail}" if detail else ""),
                retry_after_seconds=_retry_after(exc.headers.get("Retry-After"), now),
            )
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return SendResult(error=f"cannot reach {rule.target}: {reason}")

    def _apprise(self, rule: NotificationRule, message: Outgoing) -> SendResult:
        apprise = load_apprise()
        asset = apprise.AppriseAsset(storage_mode="memory")
        service = apprise_service(apprise, rule.url, asset)
        notifier = apprise.Apprise(asset=asset)
        if service is None or not notifier.add(service):
            return SendResult(ok=False, error=f"Apprise does not accept the {rule.target} URL")
        result = notifier.notify(
            body=message.text,
            title=message.title,
            notify_type=message.severity,
            body_format=apprise.NotifyFormat.TEXT,
        )
        if bool(result):
            return SendResult(ok=True)
        problems = [
            str(entry.message) for entry in result.logs() if log_level(entry) >= logging.WARNING
        ]
        return SendResult(ok=False, error=(problems[-1] if problems else "Apprise could not send"))


def _snippet(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read(300)
    except OSError:
        return ""
    return " ".join(raw.decode("utf-8", "replace").split())[:200]


def outgoing_from_body(delivery_id: int | None, event_type: str, body: str) -> Outgoing:
    payload = json.loads(body)
    return Outgoing(
        delivery_id=delivery_id,
        event_type=event_type,
        title=str(payload.get("title") or "shipmate"),
        text=str(payload.get("text") or ""),
        severity=str(payload.get("severity") or "info"),
        body=body.encode(),
    )


def send_test(
    ctx: Context, config: NotifyConfig, rule_name: str, *, sender: Sender | None = None
) -> SendResult:
    """Send a test message to ``rule_name``'s target now, on the caller's thread.

    Nothing is written to the database; the answer is returned.
    """
    rule = config.rule(rule_name)
    if rule is None:
        known = ", ".join(r.name for r in config.rules) or "none configured"
        raise NotFoundError(
            f"notification rule {rule_name!r} does not exist (rules: {known})", field="rule"
        )
    message: Message = build_test_message(
        rule_name=rule.name, at=ctx.now(), base_url=config.base_url
    )
    outgoing = Outgoing(
        delivery_id=None,
        event_type="test",
        title=message.title,
        text=message.text,
        severity=message.severity,
        body=webhook_body(message),
    )
    chosen = sender or DefaultSender(timeout=config.timeout_seconds, clock=ctx.now)
    try:
        return chosen.send(rule, outgoing)
    except Exception as exc:
        return SendResult(error=f"{type(exc).__name__}: {exc}")
