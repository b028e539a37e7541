"""Notifications: rules, matching, messages, webhook bodies and signatures.  No I/O.

Rules come from the ``[[notifications]]`` array of the config file (or the
``rules`` of a ``[notifications]`` table that also sets worker options; see
:func:`parse_notify_config`).  A rule names the events it wants, optional
product / environment / status filters, and one target URL:

- ``http://`` and ``https://`` URLs are **generic webhooks**: shipmate POSTs its
  own JSON body (:func:`webhook_body`) and, when the rule has a ``secret``, signs
  it: ``X-Shipmate-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>``.
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

Secrets.  ``secret`` must be a reference to an environment variable
(``secret = "${WEBHOOK_SECRET}"``) so the file can be committed; ``url`` and
``base_url`` may contain references too.  The environment is passed in.

Retries.  Attempt ``n`` (1-based) that fails is retried after
``retry_base_seconds * 2**(n-1)`` seconds (40, 80, 160, 320 by default: five
attempts over ten minutes), or later when the receiver sent ``Retry-After``.
A 2xx answer is delivered; 408, 425, 429 and 5xx answers, timeouts and
connection errors are retried; any other 4xx is given up at once (the request
itself is wrong, sending it again cannot help).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from shipmate.domain.lifecycle import STATUS_ALIASES
from shipmate.domain.records import DeploymentRecord
from shipmate.errors import ConfigError

__all__ = [
    "DEFAULT_EVENTS",
    "EVENT_TYPES",
    "OPTION_KEYS",
    "RULE_KEYS",
    "SCHEMA",
    "SIGNATURE_HEADER",
    "Channel",
    "Message",
    "NotificationEvent",
    "NotificationRule",
    "NotifyConfig",
    "Outcome",
    "classify_status",
    "matches",
    "next_attempt_delay",
    "parse_notify_config",
    "redact_target",
    "sign",
    "verify_signature",
    "webhook_body",
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
_FAMILIES = frozenset(t.split(".")[0] for t in EVENT_TYPES)

#: The ``schema`` field of every webhook body.
SCHEMA = "shipmate.notification.v1"
SIGNATURE_HEADER = "X-Shipmate-Signature"

RULE_KEYS = frozenset(
    {"name", "url", "via", "events", "products", "environments", "statuses", "secret", "enabled"}
)
OPTION_KEYS = frozenset(
    {
        "rules",
        "base_url",
        "poll_interval_seconds",
        "batch_size",
        "max_attempts",
        "retry_base_seconds",
        "timeout_seconds",
        "max_age_seconds",
        "gap_timeout_seconds",
    }
)
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_WHOLE_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://\S+$")
_RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
_MAX_NAME = 100
_MAX_URL = 2000
_MAX_PATTERN = 100
#: Longest wait a Retry-After header can ask for.
MAX_RETRY_AFTER_SECONDS = 3600


class Channel(StrEnum):
    """How a rule's messages leave: shipmate's signed webhook, or Apprise."""

    WEBHOOK = "webhook"
    APPRISE = "apprise"


class Outcome(StrEnum):
    """What one delivery attempt's result means for the delivery."""

    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"


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


@dataclass(frozen=True)
class Message:
    """What one delivery says: a title and text (Apprise) and the JSON body (webhooks)."""

    title: str
    text: str
    #: ``info``, ``success``, ``warning`` or ``failure`` (Apprise's notify types).
    severity: str
    payload: dict[str, Any]


# ----------------------------------------------------------------------- config


def parse_notify_config(
    section: object, *, env: Mapping[str, str], default_base_url: str | None = None
) -> NotifyConfig:
    """Read ``settings.sections["notifications"]``.

    Two shapes: an array of rules (``[[notifications]]``), or a table with worker
    options and ``[[notifications.rules]]``.  ``${VAR}`` references are resolved
    from ``env``; every problem is a :class:`ConfigError` naming the key.
    """
    if section is None:
        return NotifyConfig(base_url=_base_url(default_base_url, "server url"))
    if isinstance(section, Sequence) and not isinstance(section, str):
        return NotifyConfig(
            rules=_parse_rules(section, "notifications", env),
            base_url=_base_url(default_base_url, "url"),
        )
    if not isinstance(section, Mapping):
        raise ConfigError(
            "notifications must be an array of tables ([[notifications]]) or a table "
            "with rules ([[notifications.rules]])",
            field="notifications",
        )
    unknown = set(section) - OPTION_KEYS
    if unknown:
        first = sorted(unknown)[0]
        raise ConfigError(
            f"notifications has unknown setting {first!r} (known: {', '.join(sorted(OPTION_KEYS))})",
            field=f"notifications.{first}",
        )
    rules_value = section.get("rules", [])
    if isinstance(rules_value, str) or not isinstance(rules_value, Sequence):
        raise ConfigError(
            "notifications.rules must be an array of tables ([[notifications.rules]])",
            field="notifications.rules",
        )
    base = section.get("base_url")
    if base is not None:
        if not isinstance(base, str):
            raise ConfigError(
                "notifications.base_url must be a string", field="notifications.base_url"
            )
        base = _resolve(base, env, "notifications.base_url")
    return NotifyConfig(
        rules=_parse_rules(rules_value, "notifications.rules", env),
        base_url=_base_url(
            base if base is not None else default_base_url, "notifications.base_url"
        ),
        poll_interval_seconds=_number(section, "poll_interval_seconds", 2.0, 0.05, 3600),
        batch_size=int(_number(section, "batch_size", 50, 1, 1000, whole=True)),
        max_attempts=int(_number(section, "max_attempts", 5, 1, 50, whole=True)),
        retry_base_seconds=int(_number(section, "retry_base_seconds", 40, 1, 86400, whole=True)),
        timeout_seconds=_number(section, "timeout_seconds", 10.0, 0.1, 300),
        max_age_seconds=int(
            _number(section, "max_age_seconds", 86400, 60, 366 * 86400, whole=True)
        ),
        gap_timeout_seconds=int(_number(section, "gap_timeout_seconds", 600, 1, 86400, whole=True)),
    )


def _number(
    table: Mapping[str, Any],
    key: str,
    default: float,
    low: float,
    high: float,
    *,
    whole: bool = False,
) -> float:
    if key not in table:
        return default
    value = table[key]
    kind = "a whole number" if whole else "a number"
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (whole and not isinstance(value, int))
    ):
        raise ConfigError(f"notifications.{key} must be {kind}", field=f"notifications.{key}")
    if not low <= value <= high:
        raise ConfigError(
            f"notifications.{key} must be between {low:g} and {high:g}, not {value!r}",
            field=f"notifications.{key}",
        )
    return float(value)


def _base_url(value: str | None, key: str) -> str | None:
    if value is None or not value.strip():
        return None
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{key} {value!r} must be the dashboard's http(s) URL, e.g. https://shipmate.example.com",
            field=key,
        )
    return text


def _resolve(value: str, env: Mapping[str, str], key: str) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(
                f"{key} refers to ${{{name}}}, which is not set in the environment", field=key
            )
        return env[name]

    return _ENV_REF.sub(sub, value)


def _parse_rules(
    items: Sequence[Any], where: str, env: Mapping[str, str]
) -> tuple[NotificationRule, ...]:
    rules: list[NotificationRule] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        prefix = f"{where}[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{prefix} must be a table of name, url, events ...", field=prefix)
        rule = _parse_rule(item, prefix, env)
        if rule.name in seen:
            raise ConfigError(
                f"{prefix}.name {rule.name!r} is used by an earlier rule; names must be unique",
                field=f"{prefix}.name",
            )
        seen.add(rule.name)
        rules.append(rule)
    return tuple(rules)


def _parse_rule(item: Mapping[str, Any], prefix: str, env: Mapping[str, str]) -> NotificationRule:
    unknown = set(item) - RULE_KEYS
    if unknown:
        first = sorted(unknown)[0]
        raise ConfigError(
            f"{prefix} has unknown key {first!r} (known: {', '.join(sorted(RULE_KEYS))})",
            field=f"{prefix}.{first}",
        )
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            f"{prefix}.name is required: a short name for the rule", field=f"{prefix}.name"
        )
    name = name.strip()
    if len(name) > _MAX_NAME or not _RULE_NAME.match(name):
        raise ConfigError(
            f"{prefix}.name {name!r} may contain only letters, digits and . _ - "
            f"(at most {_MAX_NAME}) and must start with a letter or digit",
            field=f"{prefix}.name",
        )
    raw_url = item.get("url")
    if not isinstance(raw_url, str) or not raw_url.strip():
        raise ConfigError(
            f"{prefix}.url is required: an https:// webhook or an Apprise URL (slack://...)",
            field=f"{prefix}.url",
        )
    url = _resolve(raw_url.strip(), env, f"{prefix}.url")
    channel = _channel(item.get("via"), url, f"{prefix}")
    _check_url(url, channel, f"{prefix}.url")
    secret = _secret(item.get("secret"), channel, env, prefix)
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{prefix}.enabled must be true or false", field=f"{prefix}.enabled")
    return NotificationRule(
        name=name,
        url=url,
        channel=channel,
        events=_events(item.get("events"), f"{prefix}.events"),
        products=_patterns(item.get("products"), f"{prefix}.products"),
        environments=_patterns(item.get("environments"), f"{prefix}.environments"),
        statuses=_statuses(item.get("statuses"), f"{prefix}.statuses"),
        secret=secret,
        enabled=enabled,
        key=prefix,
    )


def _channel(value: object, url: str, prefix: str) -> Channel:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if value is None:
        return Channel.WEBHOOK if scheme in ("http", "https") else Channel.APPRISE
    if value not in ("webhook", "apprise"):
        raise ConfigError(
            f'{prefix}.via must be "webhook" or "apprise", not {value!r}', field=f"{prefix}.via"
        )
    channel = Channel(str(value))
    if channel == Channel.WEBHOOK and scheme not in ("http", "https"):
        raise ConfigError(
            f'{prefix}.via is "webhook" but the url is not http:// or https://',
            field=f"{prefix}.via",
        )
    return channel


def _check_url(url: str, channel: Channel, key: str) -> None:
    if len(url) > _MAX_URL:
        raise ConfigError(
            f"{key} is {len(url)} characters long; the limit is {_MAX_URL}", field=key
        )
    if not _SCHEME.match(url):
        raise ConfigError(
            f"{key} must be a URL such as https://hooks.example.com/shipmate or "
            "slack://TokenA/TokenB/TokenC (no spaces)",
            field=key,
        )
    if channel == Channel.WEBHOOK:
        parts = urlsplit(url)
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            port_ok = False
        if not parts.hostname or not port_ok:
            raise ConfigError(f"{key} has no valid host (and port)", field=key)


def _secret(value: object, channel: Channel, env: Mapping[str, str], prefix: str) -> str | None:
    key = f"{prefix}.secret"
    if value is None:
        return None
    if channel != Channel.WEBHOOK:
        raise ConfigError(
            f"{key}: only generic webhooks (http:// or https://) are signed; "
            "an Apprise URL carries its own credentials",
            field=key,
        )
    if not isinstance(value, str) or not _WHOLE_REF.match(value.strip()):
        raise ConfigError(
            f'{key} must name an environment variable, like secret = "${{WEBHOOK_SECRET}}", '
            "so the secret stays out of the config file",
            field=key,
        )
    resolved = _resolve(value.strip(), env, key)
    if not resolved:
        raise ConfigError(f"{key} refers to an empty environment variable", field=key)
    return resolved


def _list(value: object, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence):
        raise ConfigError(f"{key} must be a list of strings", field=key)
    out: list[str] = []
    for index, item in enumerate(value):
        where = f"{key}[{index}]"
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"{where} must be a non-empty string", field=where)
        text = item.strip()
        if len(text) > _MAX_PATTERN or any(ch.isspace() or not ch.isprintable() for ch in text):
            raise ConfigError(
                f"{where} {text!r} must be at most {_MAX_PATTERN} characters without spaces",
                field=where,
            )
        out.append(text)
    return tuple(out)


def _events(value: object, key: str) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_EVENTS
    events = _list(value, key)
    if not events:
        raise ConfigError(f"{key} must name at least one event type", field=key)
    for index, name in enumerate(events):
        family = name[:-2] if name.endswith(".*") else None
        if name == "*" or name in EVENT_TYPES or family in _FAMILIES:
            continue
        raise ConfigError(
            f"{key}[{index}] {name!r} is not an event type; use one of "
            f"{', '.join(EVENT_TYPES)}, a family such as deployment.*, or *",
            field=f"{key}[{index}]",
        )
    return events


def _patterns(value: object, key: str) -> tuple[str, ...]:
    return _list(value, key)


def _statuses(value: object, key: str) -> tuple[str, ...]:
    out: list[str] = []
    for index, name in enumerate(_list(value, key)):
        status = STATUS_ALIASES.get(name.lower())
        if status is None:
            raise ConfigError(
                f"{key}[{index}] {name!r} is not a status (pending, started, completed, "
                "failed, aborted, rolled_back, or an alias such as success)",
                field=f"{key}[{index}]",
            )
        if status.value not in out:
            out.append(status.value)
    return tuple(out)


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


# ---------------------------------------------------------------------- retries


def classify_status(status_code: int | None) -> Outcome:
    """An HTTP answer (None: no answer at all) → delivered, retry, or give up."""
    if status_code is None:
        return Outcome.RETRY
    if 200 <= status_code < 300:
        return Outcome.DELIVERED
    if status_code in (408, 425, 429) or status_code >= 500:
        return Outcome.RETRY
    return Outcome.GIVE_UP


def next_attempt_delay(
    attempt: int, *, base_seconds: int, retry_after_seconds: float | None = None
) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    delay = float(base_seconds * 2 ** (attempt - 1))
    if retry_after_seconds is not None and retry_after_seconds > 0:
        delay = max(delay, min(float(retry_after_seconds), float(MAX_RETRY_AFTER_SECONDS)))
    return delay
