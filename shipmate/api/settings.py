"""The ``[server]`` table: read once when the app is built."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shipmate.errors import ConfigError

__all__ = ["ServerSettings"]

_KEYS = {
    "anonymous_read",
    "versioner_base",
    "default_product",
    "default_environment",
    "max_body_bytes",
    "key_cache_seconds",
    "public_url",
    "session_hours",
    "auth_failure_limit",
    "auth_failure_window_seconds",
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
    #: The address users reach the server at (``https://deploy.example.com``).  With
    #: ``https`` the session cookie is always ``Secure``, and forms posted from this
    #: origin are accepted as same-site even when a proxy rewrote ``Host``.
    public_url: str | None = None
    #: How long a dashboard login lasts before the user must log in again.
    session_hours: float = 12.0
    #: Failed authentications (bad API key, failed login) allowed per client address
    #: per ``auth_failure_window_seconds``; beyond it, 429.  0 turns the limit off.
    auth_failure_limit: int = 10
    auth_failure_window_seconds: float = 60.0

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
        if "public_url" in table:
            values["public_url"] = _public_url(table["public_url"])
        for key, low, high in (
            ("session_hours", 0.01, 24 * 30),
            ("auth_failure_window_seconds", 1, 24 * 3600),
        ):
            if key in table:
                number = table[key]
                if (
                    isinstance(number, bool)
                    or not isinstance(number, int | float)
                    or not low <= number <= high
                ):
                    raise ConfigError(
                        f"server.{key} must be a number from {low:g} to {high:g}",
                        field=f"server.{key}",
                    )
                values[key] = float(number)
        if "auth_failure_limit" in table:
            limit = table["auth_failure_limit"]
            if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 100_000:
                raise ConfigError(
                    "server.auth_failure_limit must be a whole number from 0 to 100000",
                    field="server.auth_failure_limit",
                )
            values["auth_failure_limit"] = limit
        return cls(**values)

    @property
    def https(self) -> bool:
        """True when users reach the server over HTTPS (``public_url`` says so)."""
        return (self.public_url or "").startswith("https://")


def _public_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError("server.public_url must be a string", field="server.public_url")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        raise ConfigError(
            "server.public_url must be an http:// or https:// address without a user name, "
            "such as https://deploy.example.com",
            field="server.public_url",
        )
    return f"{parts.scheme}://{parts.netloc}".lower()
