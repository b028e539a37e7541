"""The ``notifications`` section of the config file: rules and worker options, validated.  No I/O.

Two shapes: an array of rules (``[[notifications]]``), or a table with worker
options and ``[[notifications.rules]]``.  Every problem is a
:class:`~shipmate.errors.ConfigError` naming the key.

Secrets.  ``secret`` must be a reference to an environment variable
(``secret = "${WEBHOOK_SECRET}"``) so the file can be committed; ``url`` and
``base_url`` may contain references too.  The environment is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from shipmate.domain.lifecycle import STATUS_ALIASES
from shipmate.domain.notify.rules import (
    DEFAULT_EVENTS,
    EVENT_TYPES,
    Channel,
    NotificationRule,
    NotifyConfig,
)
from shipmate.errors import ConfigError

__all__ = ["OPTION_KEYS", "RULE_KEYS", "parse_notify_config"]

_FAMILIES = frozenset(t.split(".")[0] for t in EVENT_TYPES)

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
    _refuse_unknown(section, OPTION_KEYS, "notifications", "setting")
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


def _refuse_unknown(table: Mapping[str, Any], known: frozenset[str], where: str, noun: str) -> None:
    """A ConfigError naming the first key of ``table`` that is not ``known``."""
    unknown = set(table) - known
    if unknown:
        first = sorted(unknown)[0]
        raise ConfigError(
            f"{where} has unknown {noun} {first!r} (known: {', '.join(sorted(known))})",
            field=f"{where}.{first}",
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
    _refuse_unknown(item, RULE_KEYS, prefix, "key")
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
