"""Typed reading of one configuration table, with errors that name the exact key.

A :class:`ConfigTable` wraps a mapping as read from TOML together with its dotted
name (``deploy.health``).  Unknown keys are refused when it is created, listing the
allowed ones; every accessor names the full key (``deploy.health.interval``) in its
error.  Booleans are never accepted where a number is expected (TOML ``true`` is
not ``1``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from shipmate.errors import ConfigError

__all__ = ["ConfigTable", "as_table"]

_MISSING: Any = object()


def as_table(value: object, *, field: str) -> Mapping[str, Any]:
    """``value`` if it is a table (a mapping with string keys), else a ConfigError."""
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{field} must be a table (e.g. [{field}]), not {_kind(value)}", field=field
        )
    for key in value:
        if not isinstance(key, str):
            raise ConfigError(f"{field} has a key that is not a string: {key!r}", field=field)
    return value


class ConfigTable:
    """One table of a configuration file, read key by key."""

    def __init__(self, data: object, *, field: str, allowed: Collection[str]) -> None:
        self.data = as_table(data, field=field)
        self.field = field
        self.allowed = frozenset(allowed)
        for key in self.data:
            if key not in self.allowed:
                raise ConfigError(
                    f"{field} has no key {key!r}; allowed: {', '.join(sorted(self.allowed))}",
                    field=self.key(key),
                    allowed=sorted(self.allowed),
                )

    def key(self, name: str) -> str:
        return f"{self.field}.{name}"

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    def string(self, name: str, default: str | None = _MISSING) -> str:
        """A non-empty string; without a default the key is required."""
        value = self._get(name, default)
        if not isinstance(value, str):
            raise ConfigError(
                f"{self.key(name)} must be a string, not {_kind(value)}", field=self.key(name)
            )
        if not value.strip():
            raise ConfigError(f"{self.key(name)} must not be empty", field=self.key(name))
        return value

    def optional_string(self, name: str) -> str | None:
        if name not in self.data:
            return None
        return self.string(name)

    def choice(self, name: str, choices: Collection[str], default: str | None = _MISSING) -> str:
        value = self.string(name, default)
        if value not in choices:
            raise ConfigError(
                f"{self.key(name)} is {value!r}; it must be one of: {', '.join(sorted(choices))}",
                field=self.key(name),
                allowed=sorted(choices),
            )
        return value

    def number(
        self,
        name: str,
        default: float | None = _MISSING,
        *,
        minimum: float = 0.0,
        allow_minimum: bool = False,
        unit: str = "seconds",
    ) -> float:
        """A number greater than ``minimum`` (or equal, with ``allow_minimum``)."""
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(
                f"{self.key(name)} must be a number of {unit}, not {_kind(value)}",
                field=self.key(name),
            )
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{self.key(name)} must be a finite number", field=self.key(name))
        if value < minimum or (value == minimum and not allow_minimum):
            bound = f"at least {minimum:g}" if allow_minimum else f"more than {minimum:g}"
            raise ConfigError(
                f"{self.key(name)} is {value:g}; it must be {bound} {unit}", field=self.key(name)
            )
        return float(value)

    def integer(
        self,
        name: str,
        default: int | None = _MISSING,
        *,
        minimum: int,
        maximum: int | None = None,
    ) -> int:
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(
                f"{self.key(name)} must be a whole number, not {_kind(value)}",
                field=self.key(name),
            )
        if value < minimum or (maximum is not None and value > maximum):
            span = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
            raise ConfigError(
                f"{self.key(name)} is {value}; it must be {span}", field=self.key(name)
            )
        return value

    def string_list(self, name: str) -> tuple[str, ...]:
        value = self._get(name, [])
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                f"{self.key(name)} must be a list of strings, not {_kind(value)}",
                field=self.key(name),
            )
        return tuple(value)

    def string_table(self, name: str) -> dict[str, str]:
        """A table of string values (numbers are turned into text)."""
        value = as_table(self._get(name, {}), field=self.key(name))
        out: dict[str, str] = {}
        for key, item in value.items():
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise ConfigError(
                    f"{self.key(name)}.{key} must be a string or a number, not {_kind(item)}",
                    field=f"{self.key(name)}.{key}",
                )
            out[key] = str(item)
        return out

    def _get(self, name: str, default: Any) -> Any:
        if name in self.data:
            return self.data[name]
        if default is _MISSING:
            raise ConfigError(f"{self.key(name)} is required", field=self.key(name))
        return default


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__
