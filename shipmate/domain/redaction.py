"""Keeping secrets out of messages: passwords in URLs, tokens, known secret values.

Every error a command prints and every line the server logs about its database
passes through :func:`redact` first, so a password written into ``SHIPMATE_URL`` or a
database URL (``postgresql://app:s3cret@db/shipmate``) is shown as ``***``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, unquote

__all__ = ["MASK", "redact", "redact_url", "secrets_of_url"]

MASK = "***"

# scheme://user:password@  ->  scheme://user:***@   (the password may hold anything but @ and
# whitespace; the last @ before the host ends it)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*):(?P<password>[^\s@]*)@")
# ?password=... or &password=... (libpq accepts the password as a query parameter)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&](?:password|passwd|pwd)=)(?P<value>[^&\s'\"]*)", re.I)
# password=... in a libpq connection string
_CONNINFO_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<value>'[^']*'|[^\s'\"]+)", re.I)
# An API key: shm_<prefix>_<secret>
_API_KEY = re.compile(r"\bshm_[A-Za-z0-9]+_[A-Za-z0-9_-]+")


def secrets_of_url(url: str | None) -> list[str]:
    """The password a URL carries (as written and percent-decoded), if any."""
    if not url:
        return []
    found = []
    for pattern, group in ((_USERINFO, "password"), (_QUERY_PASSWORD, "value")):
        for match in pattern.finditer(url):
            value = match.group(group)
            if value:
                found += [value, unquote(value)]
    return found


def redact_url(url: str) -> str:
    """A URL fit to show: its password masked; when it cannot be told apart (not a
    ``scheme://`` URL), everything before its last ``@``."""
    masked = redact(url)
    if "@" in masked and not _USERINFO.search(url):
        return MASK + "@" + masked.rsplit("@", 1)[1]
    return masked


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with URL passwords, API keys and each of ``secrets`` masked."""
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), unquote(secret)}:
            text = text.replace(form, MASK)
    text = _USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", text)
    text = _QUERY_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}", text)
    text = _CONNINFO_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}", text)
    return _API_KEY.sub("shm_" + MASK, text)
