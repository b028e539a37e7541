"""Gate rules in their TOML / JSON form: parsing ``[[gates]]`` tables and writing them back.

:func:`rule_from_dict` reads one rule (``name``, ``kind``, ``mode``, scope and
the kind's settings), :func:`rules_from_list` a ``[[gates]]`` array whose names
must be unique, and :func:`rule_to_dict` gives the form back (what the database
stores and the API shows).  Durations may be seconds or text (``"90m"``, see
:mod:`shipmate.domain.gates.durations`); a freeze window's ``start``/``end``
without an offset are wall times in the rule's ``timezone``.  Errors name the
key, prefixed with where the rule stands (``gates[2].cron``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shipmate.domain.cron import CronExpr, local_to_utc
from shipmate.domain.gates.durations import parse_duration
from shipmate.domain.gates.rules import (
    DEFAULT_LEASE_SECONDS,
    ApprovalRule,
    BaseRule,
    ConcurrencyRule,
    FlowRule,
    FreezeRule,
    Rule,
    RuleKind,
    RuleMode,
    parse_rule_kind,
)
from shipmate.domain.gates.times import time_zone
from shipmate.domain.inputs.fields import format_time, read_iso_time
from shipmate.errors import InvalidInputError

__all__ = ["rule_from_dict", "rule_to_dict", "rules_from_list"]

_COMMON_KEYS = ("name", "kind", "mode", "products", "environments")
_KIND_KEYS: dict[RuleKind, tuple[str, ...]] = {
    RuleKind.CONCURRENCY: ("lease_seconds", "lease"),
    RuleKind.FREEZE: (
        "start",
        "end",
        "cron",
        "duration_seconds",
        "duration",
        "timezone",
        "reason",
    ),
    RuleKind.FLOW: ("required_environments", "soak_seconds", "soak"),
    RuleKind.APPROVAL: ("required", "allow_self_approval"),
}


def rule_from_dict(data: Mapping[str, object], *, field: str | None = None) -> Rule:
    """A rule from its TOML/JSON form.

    ``field`` prefixes the key in errors: ``field="gates[2]"`` reports a bad
    cron as ``gates[2].cron``.  Durations may be given in seconds
    (``lease_seconds``, ``duration_seconds``, ``soak_seconds``) or as text
    (``lease``, ``duration``, ``soak``: ``"90m"``, ``"1h30m"``, ``"2d"``, ``"1w"``).
    """
    if not isinstance(data, Mapping):
        where = field or "gate"
        raise InvalidInputError(
            f"{where} must be a table (object) with name, kind and the rule's settings",
            field=where,
        )
    try:
        return _rule_from_mapping(data)
    except InvalidInputError as exc:
        if field is None:
            raise
        raise _prefixed(exc, field) from None


def rules_from_list(items: object, *, field: str = "gates") -> list[Rule]:
    """Rules from a TOML array of tables / JSON list; names must be unique."""
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise InvalidInputError(f"{field} must be a list of rules", field=field)
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidInputError(
                f"{where} must be a table (object) with name, kind and the rule's settings",
                field=where,
            )
        rule = rule_from_dict(item, field=where)
        key = rule.name.casefold()
        if key in seen:
            raise InvalidInputError(
                f"{where}.name {rule.name!r} is already used by {field}[{seen[key]}]; "
                "rule names must be unique",
                field=f"{where}.name",
            )
        seen[key] = index
        rules.append(rule)
    return rules


def rule_to_dict(rule: BaseRule) -> dict[str, Any]:
    """The TOML/JSON form of a rule; ``None`` values are left out (TOML has no null)."""
    out: dict[str, Any] = {
        "name": rule.name,
        "kind": rule.kind.value,
        "mode": rule.mode.value,
        "products": list(rule.products),
        "environments": list(rule.environments),
    }
    if isinstance(rule, ConcurrencyRule):
        out["lease_seconds"] = rule.lease_seconds
    elif isinstance(rule, FreezeRule):
        if rule.cron is not None:
            out["cron"] = rule.cron.text
            out["duration_seconds"] = rule.duration_seconds
        else:
            out["start"] = format_time(rule.start)
            out["end"] = format_time(rule.end)
        out["timezone"] = rule.timezone
        if rule.reason is not None:
            out["reason"] = rule.reason
    elif isinstance(rule, FlowRule):
        out["required_environments"] = list(rule.required_environments)
        out["soak_seconds"] = rule.soak_seconds
    elif isinstance(rule, ApprovalRule):
        out["required"] = rule.required
        out["allow_self_approval"] = rule.allow_self_approval
    return out


def _rule_from_mapping(data: Mapping[str, object]) -> Rule:
    for key in data:
        if not isinstance(key, str):
            raise InvalidInputError(f"key {key!r} must be a string", field=str(key))
    if data.get("kind") is None:
        raise InvalidInputError(
            f"kind is missing; use one of {', '.join(k.value for k in RuleKind)}", field="kind"
        )
    kind = parse_rule_kind(data["kind"])
    allowed = _COMMON_KEYS + _KIND_KEYS[kind]
    for key in data:
        if key not in allowed:
            raise InvalidInputError(
                f"{key} is not a setting of {kind.value} rules; "
                f"the settings are {', '.join(allowed)}",
                field=key,
            )
    if data.get("name") is None:
        raise InvalidInputError("name is missing", field="name")
    common: dict[str, Any] = {
        "name": data["name"],
        "mode": data.get("mode", RuleMode.ENABLED),
        "products": _pattern_input(data.get("products")),
        "environments": _pattern_input(data.get("environments")),
    }
    if kind is RuleKind.CONCURRENCY:
        lease = _duration_input(data, "lease_seconds", "lease")
        return ConcurrencyRule(
            **common,
            lease_seconds=DEFAULT_LEASE_SECONDS if lease is None else lease,
        )
    if kind is RuleKind.FLOW:
        soak = _duration_input(data, "soak_seconds", "soak")
        required = data.get("required_environments")
        if required is None:
            raise InvalidInputError(
                'required_environments is missing (e.g. ["staging"])',
                field="required_environments",
            )
        return FlowRule(
            **common,
            required_environments=_pattern_input(required),
            soak_seconds=0 if soak is None else soak,
        )
    if kind is RuleKind.APPROVAL:
        settings: dict[str, Any] = {
            "required": data.get("required", 1),
            "allow_self_approval": data.get("allow_self_approval", False),
        }
        return ApprovalRule(**common, **settings)
    zone = time_zone(data.get("timezone", "UTC"), "timezone")
    cron_text = data.get("cron")
    duration = _duration_input(data, "duration_seconds", "duration")
    start = data.get("start")
    end = data.get("end")
    reason: Any = data.get("reason")  # checked by FreezeRule
    return FreezeRule(
        **common,
        start=None if start is None else _freeze_time(start, "start", zone),
        end=None if end is None else _freeze_time(end, "end", zone),
        cron=None if cron_text is None else CronExpr.parse(cron_text, field="cron"),
        duration_seconds=duration,
        timezone=zone.key,
        reason=reason,
    )


def _prefixed(exc: InvalidInputError, prefix: str) -> InvalidInputError:
    key = exc.field
    full = f"{prefix}.{key}" if key else prefix
    if key and exc.message.startswith(key):
        message = full + exc.message[len(key) :]
    else:
        message = f"{full}: {exc.message}"
    return type(exc)(message, field=full, **exc.details)


def _duration_input(data: Mapping[str, object], seconds_key: str, text_key: str) -> int | None:
    if seconds_key in data and text_key in data:
        raise InvalidInputError(
            f"{text_key}: give either {text_key} or {seconds_key}, not both", field=text_key
        )
    if seconds_key in data:
        value = data[seconds_key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(
                f"{seconds_key} must be a whole number of seconds", field=seconds_key
            )
        return value
    if text_key in data:
        value = data[text_key]
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if not isinstance(value, str):
            raise InvalidInputError(
                f'{text_key} must be a duration such as "90m", "10h" or "2d"',
                field=text_key,
            )
        return parse_duration(value, text_key)
    return None


def _pattern_input(value: object) -> Any:
    """A single string becomes a one-item tuple; lists are checked by the rule."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(value)
    return value  # the rule's check names the key and the problem


def _freeze_time(value: object, key: str, zone: ZoneInfo) -> datetime:
    """An instant: aware as given, or a wall time (or date) in the rule's zone."""
    parsed: datetime
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip():
        read = read_iso_time(value)
        if read is None:
            raise InvalidInputError(
                f"{key} {value!r} is not a date-time; write 2026-12-24T18:00:00Z, "
                "or 2026-12-24T18:00 for a wall time in the rule's timezone",
                field=key,
            )
        parsed = read
    else:
        raise InvalidInputError(f"{key} must be an RFC 3339 date-time", field=key)
    if not 1970 <= parsed.year <= 9998:
        raise InvalidInputError(f"{key} {value!r} is out of range", field=key)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return local_to_utc(parsed, zone)
    return parsed.astimezone(UTC)
