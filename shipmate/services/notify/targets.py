"""What shipmate adds to an Apprise service: Discord mentions off, log levels read.

Apprise builds each service's request itself.  Discord renders mentions in a
webhook's text unless the request says otherwise, so a Discord service gets
``allowed_mentions: {"parse": []}`` added to every payload it sends: even a
mention that slipped past escaping pings nobody.
"""

from __future__ import annotations

import logging
from typing import Any

from shipmate.domain.notify.escape import MessageFormat, message_format

__all__ = ["NO_MENTIONS", "apprise_service", "log_level"]

#: Discord's "parse no mention at all".
NO_MENTIONS: dict[str, list[str]] = {"parse": []}


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
