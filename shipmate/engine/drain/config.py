"""A product's ``drain`` table: validated into a :class:`DrainConfig`, built into a check.

:func:`parse_drain_config` validates a product's ``drain`` table into a frozen
:class:`DrainConfig`; :func:`make_drain_check` builds the check from either
(``dbos``, ``http`` or ``grace``; see :mod:`shipmate.engine.drain.dbos`,
:mod:`shipmate.engine.drain.http_count` and :mod:`shipmate.engine.drain.grace`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from shipmate.domain.envrefs import resolve_env_refs
from shipmate.engine.drain.evidence import confirmed_dbos_check
from shipmate.engine.drain.grace import GraceDrainCheck
from shipmate.engine.drain.http_count import HttpDrainCheck
from shipmate.engine.drain.seconds import is_seconds
from shipmate.engine.drain.waiting import DrainCheck
from shipmate.errors import ConfigError

__all__ = ["DrainConfig", "make_drain_check", "parse_drain_config"]

DrainType = Literal["dbos", "http", "grace"]
OnDeadline = Literal["keep", "force"]

_COMMON_KEYS: Final = frozenset(
    {"type", "consecutive_zeros", "interval", "deadline", "on_deadline"}
)
_TYPE_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "dbos": frozenset({"system_database_url", "schema", "app_name", "statement_timeout_ms"}),
    "http": frozenset({"url", "timeout"}),
    "grace": frozenset({"seconds"}),
}
_REQUIRED: Final[Mapping[str, str]] = {
    "dbos": "system_database_url",
    "http": "url",
    "grace": "seconds",
}


@dataclass(frozen=True)
class DrainConfig:
    """A product's validated ``drain`` table.

    Defaults: ``consecutive_zeros`` 3 (1 for ``grace``, whose reading cannot bounce
    back), ``interval`` 2 s, ``deadline`` 3600 s, ``on_deadline`` ``keep``;
    ``schema`` ``dbos``; ``statement_timeout_ms`` 5000; ``timeout`` 5 s.
    """

    type: DrainType
    consecutive_zeros: int = 3
    interval: float = 2.0
    deadline: float = 3600.0
    on_deadline: OnDeadline = "keep"
    # dbos
    system_database_url: str | None = None
    schema: str = "dbos"
    app_name: str | None = None
    statement_timeout_ms: int = 5000
    # http
    url: str | None = None
    timeout: float = 5.0
    # grace
    seconds: float | None = None


def _name(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _string(table: Mapping[str, Any], key: str, where: str, env: Mapping[str, str]) -> str:
    value = table[key]
    field = _name(where, key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{field} must be a non-empty string, not {value!r}", field=field)
    result = resolve_env_refs(value, env, field).strip()
    if not result:
        raise ConfigError(f"{field} is empty after substituting the environment", field=field)
    return result


def _number(table: Mapping[str, Any], key: str, where: str, *, allow_zero: bool) -> float:
    value = table[key]
    field = _name(where, key)
    if is_seconds(value, allow_zero=allow_zero):
        return float(value)
    kind = "a non-negative" if allow_zero else "a positive"
    raise ConfigError(f"{field} must be {kind} number of seconds, not {value!r}", field=field)


def _integer(table: Mapping[str, Any], key: str, where: str) -> int:
    value = table[key]
    field = _name(where, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{field} must be a positive integer, not {value!r}", field=field)
    return value


def parse_drain_config(
    table: Mapping[str, Any], *, env: Mapping[str, str] | None = None, where: str = "drain"
) -> DrainConfig:
    """Validate a ``drain`` table, e.g. ``{type = "dbos", system_database_url = "${APP_DBOS_URL}"}``.

    ``${VAR}`` in string values is replaced from ``env`` (default ``os.environ``).
    ``where`` prefixes the key in error messages and ``field`` (``drain.interval``).
    Every problem is a :class:`ConfigError` naming the key.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(
            f"{where or 'drain'} must be a table, not {type(table).__name__}", field=where or None
        )
    env = os.environ if env is None else env
    kind = table.get("type")
    if not isinstance(kind, str) or kind not in _TYPE_KEYS:
        field = _name(where, "type")
        raise ConfigError(f"{field} must be one of dbos, http, grace, not {kind!r}", field=field)
    allowed = _COMMON_KEYS | _TYPE_KEYS[kind]
    for key in table:
        if key not in allowed:
            field = _name(where, str(key))
            raise ConfigError(
                f"{field} is not a setting of a {kind} drain check "
                f"(known: {', '.join(sorted(allowed))})",
                field=field,
            )
    required = _REQUIRED[kind]
    if required not in table:
        field = _name(where, required)
        raise ConfigError(f"{field} is required for a {kind} drain check", field=field)

    values: dict[str, Any] = {"type": kind}
    values["consecutive_zeros"] = (
        _integer(table, "consecutive_zeros", where)
        if "consecutive_zeros" in table
        else (1 if kind == "grace" else 3)
    )
    if "interval" in table:
        values["interval"] = _number(table, "interval", where, allow_zero=False)
    if "deadline" in table:
        values["deadline"] = _number(table, "deadline", where, allow_zero=True)
    if "on_deadline" in table:
        policy = table["on_deadline"]
        if policy not in ("keep", "force"):
            field = _name(where, "on_deadline")
            raise ConfigError(f"{field} must be keep or force, not {policy!r}", field=field)
        values["on_deadline"] = policy
    for key in ("system_database_url", "schema", "app_name", "url"):
        if key in table:
            values[key] = _string(table, key, where, env)
    if "statement_timeout_ms" in table:
        values["statement_timeout_ms"] = _integer(table, "statement_timeout_ms", where)
    if "timeout" in table:
        values["timeout"] = _number(table, "timeout", where, allow_zero=False)
    if "seconds" in table:
        values["seconds"] = _number(table, "seconds", where, allow_zero=True)
    config = DrainConfig(**values)
    # Build once so a bad URL or schema is reported now, under its key.
    try:
        make_drain_check(config)
    except ConfigError as exc:
        key = exc.field or ""
        field = _name(where, key)
        message = exc.message
        if key and message.startswith(key):
            message = field + message[len(key) :]
        elif where:
            message = f"{where}: {message}"
        raise ConfigError(message, field=field) from None
    return config


def make_drain_check(
    config: Mapping[str, Any] | DrainConfig, *, env: Mapping[str, str] | None = None
) -> DrainCheck:
    """The drain check a ``drain`` table (or a parsed :class:`DrainConfig`) describes."""
    if not isinstance(config, DrainConfig):
        config = parse_drain_config(config, env=env)
    if config.type == "dbos":  # a zero it reads needs evidence: see engine/drain/evidence.py
        return confirmed_dbos_check(config)
    if config.type == "http":
        assert config.url is not None
        return HttpDrainCheck(config.url, timeout=config.timeout)
    assert config.seconds is not None
    return GraceDrainCheck(config.seconds)
