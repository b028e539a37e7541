"""The ``[server]`` table: read once when the app is built."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipmate.errors import ConfigError

__all__ = ["ServerSettings"]

_KEYS = {
    "anonymous_read",
    "versioner_base",
    "default_product",
    "default_environment",
    "max_body_bytes",
    "key_cache_seconds",
}


@dataclass(frozen=True)
class ServerSettings:
    #: Let requests without a key read (never write).
    anonymous_read: bool = False
    #: Where the Versioner endpoints live (``{base}/deployment-events/``).
    versioner_base: str = "/versioner"
    #: bloqr endpoints: product and environment when the query names none.
    default_product: str | None = None
    default_environment: str | None = None
    #: Bodies larger than this are refused with 413 before they are parsed.
    max_body_bytes: int = 1024 * 1024
    #: A verified API key is trusted again for this long without a database read;
    #: a key revoked elsewhere works here for at most this long.  0: check every time.
    key_cache_seconds: float = 5.0

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> ServerSettings:
        unknown = set(table) - _KEYS
        if unknown:
            raise ConfigError(
                f"[server] has unknown setting(s) {', '.join(sorted(unknown))} "
                f"(known: {', '.join(sorted(_KEYS))})",
                field=f"server.{sorted(unknown)[0]}",
            )
        values: dict[str, Any] = {}
        if "anonymous_read" in table:
            if not isinstance(table["anonymous_read"], bool):
                raise ConfigError(
                    "server.anonymous_read must be true or false", field="server.anonymous_read"
                )
            values["anonymous_read"] = table["anonymous_read"]
        for key in ("versioner_base", "default_product", "default_environment"):
            if key in table:
                if not isinstance(table[key], str):
                    raise ConfigError(f"server.{key} must be a string", field=f"server.{key}")
                values[key] = table[key]
        if "versioner_base" in values:
            base = "/" + values["versioner_base"].strip("/")
            values["versioner_base"] = "" if base == "/" else base
        if "max_body_bytes" in table:
            size = table["max_body_bytes"]
            if isinstance(size, bool) or not isinstance(size, int) or size < 1024:
                raise ConfigError(
                    "server.max_body_bytes must be a whole number of at least 1024",
                    field="server.max_body_bytes",
                )
            values["max_body_bytes"] = size
        if "key_cache_seconds" in table:
            seconds = table["key_cache_seconds"]
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, int | float)
                or not 0 <= seconds <= 300
            ):
                raise ConfigError(
                    "server.key_cache_seconds must be a number from 0 to 300",
                    field="server.key_cache_seconds",
                )
            values["key_cache_seconds"] = float(seconds)
        return cls(**values)
