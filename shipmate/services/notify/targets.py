"""Apprise, as shipmate uses it: loaded once, Discord mentions off, log levels read.

Apprise is imported on first use (:func:`load_apprise`), so a server without
Apprise rules never loads it.  Apprise builds each service's request itself.  Discord renders mentions in a
webhook's text unless the request says otherwise, so a Discord service gets
``allowed_mentions: {"parse": []}`` added to every payload it sends: even a
mention that slipped past escaping pings nobody.
"""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any

from shipmate.domain.notify.escape import MessageFormat, message_format
from shipmate.errors import ConfigError

__all__ = ["NO_MENTIONS", "apprise_service", "load_apprise", "log_level"]

#: Discord's "parse no mention at all".
NO_MENTIONS: dict[str, list[str]] = {"parse": []}

_apprise_lock = threading.Lock()
_apprise_module: Any = None


def load_apprise() -> Any:
    """Apprise, imported on first use with its plugins loaded.

    Apprise loads its plugins lazily, and one of them imports the deprecated
    ``imghdr`` module; that warning is Apprise's business, so it is silenced here,
    once, while the plugins load.
    """
    global _apprise_module
    with _apprise_lock:
        if _apprise_module is None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    import apprise

                    apprise.Apprise.instantiate("json://localhost")  # loads every plugin
            except ImportError:  # pragma: no cover - apprise comes with the server extra
                raise ConfigError(
                    "Apprise URLs need the apprise package: pip install 'shipmate[server]' "
                    "(or pip install apprise)",
                    field="notifications",
                ) from None
            _apprise_module = apprise
    return _apprise_module


def apprise_service(apprise: Any, url: str, asset: Any) -> Any:
    """The Apprise service for ``url`` (None when Apprise refuses it), mentions off."""
    service = apprise.Apprise.instantiate(url, asset=asset)
    if service is not None and message_format(url) == MessageFormat.DISCORD:
        send = service._send  # Discord's one request helper: every payload passes here

        def without_mentions(payload: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            return send({**payload, "allowed_mentions": NO_MENTIONS}, *args, **kwargs)

        service._send = without_mentions
    return service


def log_level(entry: Any) -> int:
    """An Apprise log entry's level, given as a name (``"WARNING"``) or a number."""
    level = getattr(entry, "level", 0)
    if isinstance(level, str):
        return logging.getLevelNamesMapping().get(level.upper(), 0)
    return int(level) if isinstance(level, int) else 0
