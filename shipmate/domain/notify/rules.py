"""Notification rules and matching: which events a rule wants and where it sends them.  No I/O.

Rules come from the ``[[notifications]]`` array of the config file (read by
:func:`~shipmate.domain.notify.config.parse_notify_config`).  A rule names the
events it wants, optional product / environment / status filters, and one
target URL:

- ``http://`` and ``https://`` URLs are **generic webhooks**: shipmate POSTs its
  own JSON body (:func:`~shipmate.domain.notify.webhooks.webhook_body`) and, when
  the rule has a ``secret``, signs it (:mod:`shipmate.domain.notify.webhooks`).
- Every other scheme (``slack://``, ``workflows://`` for Microsoft Teams,
  ``discord://``, ``mailto://``, ``json://`` ...) is an **Apprise** URL: Apprise
  formats and sends a title and a text.  ``via = "apprise"`` sends an
  ``https://`` URL through Apprise too (e.g. a Slack or Discord webhook URL
  pasted as is).

Matching.  ``events`` lists event types (:data:`EVENT_TYPES`), ``family.*``
(``deployment.*``) or ``*``; it defaults to the finished deployments
(:data:`DEFAULT_EVENTS`).  ``products`` and ``environments`` are names or
shell-style patterns (``prod-*``), matched case-sensitively; empty means all.
``statuses`` keeps only events whose new status is one of them (aliases such as
``success`` accepted); an event without a status (``gate.blocked``) never
passes a status filter.  A rule matches when every given filter passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from shipmate.domain.records import DeploymentRecord

__all__ = [
    "DEFAULT_EVENTS",
    "EVENT_TYPES",
    "Channel",
    "NotificationEvent",
    "NotificationRule",
    "NotifyConfig",
    "matches",
    "redact_target",
]

#: The event types a rule can name.
EVENT_TYPES: tuple[str, ...] = (
    "deployment.started",
    "deployment.completed",
    "deployment.failed",
    "deployment.aborted",
    "deployment.rolled_back",
    "gate.blocked",
    "run.failed",
    "version.drained",
)
#: What a rule without ``events`` matches: every finished deployment.
DEFAULT_EVENTS: tuple[str, ...] = (
    "deployment.completed",
    "deployment.failed",
    "deployment.aborted",
    "deployment.rolled_back",
)


class Channel(StrEnum):
    """How a rule's messages leave: shipmate's signed webhook, or Apprise."""

    WEBHOOK = "webhook"
    APPRISE = "apprise"


@dataclass(frozen=True)
class NotificationRule:
    """One ``[[notifications]]`` entry, with its references resolved."""

    name: str
    url: str = field(repr=False)
    channel: Channel = Channel.WEBHOOK
    events: tuple[str, ...] = DEFAULT_EVENTS
    products: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    secret: str | None = field(default=None, repr=False)
    enabled: bool = True
    #: Where the rule sits in the config (``notifications[2]``), for error messages.
    key: str = field(default="", compare=False)

    @property
    def target(self) -> str:
        """The URL with its secrets cut out, for logs, listings and the API."""
        return redact_target(self.url, self.channel)

    @property
    def signed(self) -> bool:
        return self.channel == Channel.WEBHOOK and self.secret is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "via": self.channel.value,
            "events": list(self.events),
            "products": list(self.products),
            "environments": list(self.environments),
            "statuses": list(self.statuses),
            "signed": self.signed,
            "enabled": self.enabled,
        }


@dataclass(frozen=True)
class NotifyConfig:
    """The rules and the delivery worker's options."""

    rules: tuple[NotificationRule, ...] = ()
    #: The dashboard's public URL; messages link to ``{base_url}/deployments/{id}``.
    base_url: str | None = None
    poll_interval_seconds: float = 2.0
    batch_size: int = 50
    max_attempts: int = 5
    retry_base_seconds: int = 40
    timeout_seconds: float = 10.0
    #: Events older than this when the worker first sees them are not sent (``expired``).
    max_age_seconds: int = 86400
    #: How long a hole in the event ids is watched for a late commit (PostgreSQL).
    gap_timeout_seconds: int = 600

    @property
    def active_rules(self) -> tuple[NotificationRule, ...]:
        return tuple(r for r in self.rules if r.enabled)

    def rule(self, name: str) -> NotificationRule | None:
        return next((r for r in self.rules if r.name == name), None)

    @property
    def lease_seconds(self) -> float:
        """How long a claimed delivery stays with its worker before another may retry it."""
        return max(60.0, 3 * self.timeout_seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "poll_interval_seconds": self.poll_interval_seconds,
            "batch_size": self.batch_size,
            "max_attempts": self.max_attempts,
            "retry_base_seconds": self.retry_base_seconds,
            "timeout_seconds": self.timeout_seconds,
            "max_age_seconds": self.max_age_seconds,
            "gap_timeout_seconds": self.gap_timeout_seconds,
            "rules": [r.to_dict() for r in self.rules],
        }


@dataclass(frozen=True)
class NotificationEvent:
    """One event of the log, with what a message needs to say about it."""

    id: int
    type: str
    at: datetime
    actor: str | None = None
    product: str | None = None
    environment: str | None = None
    from_status: str | None = None
    to_status: str | None = None
    deployment_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    #: The deployment the event is about, as it is when the message is built.
    deployment: DeploymentRecord | None = None


def redact_target(url: str, channel: Channel) -> str:
    """``https://hooks.example.com/…`` or ``slack://…``: never a token or password.

    Webhook URLs keep scheme, host and port (paths and queries often hold the
    token); Apprise URLs keep only the scheme, since Apprise puts tokens in the
    host position (``slack://TokenA/...``).
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else "?"
    if channel == Channel.APPRISE:
        return f"{scheme}://…"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    rest = "/…" if (parts.path not in ("", "/") or parts.query) else "/"
    return f"{scheme}://{netloc}{rest}"


# ---------------------------------------------------------------------- matching


def _event_matches(patterns: Sequence[str], event_type: str) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def _name_matches(patterns: Sequence[str], name: str | None) -> bool:
    if not patterns:
        return True
    return name is not None and any(fnmatchcase(name, p) for p in patterns)


def matches(rule: NotificationRule, event: NotificationEvent) -> bool:
    """Whether ``rule`` wants ``event`` (a disabled rule wants nothing)."""
    if not rule.enabled or not _event_matches(rule.events, event.type):
        return False
    if not _name_matches(rule.products, event.product):
        return False
    if not _name_matches(rule.environments, event.environment):
        return False
    return not rule.statuses or (event.to_status is not None and event.to_status in rule.statuses)
