"""The HTTP drain check: an in-flight count read from a URL on the old slot.

:class:`HttpDrainCheck` GETs a URL on the old slot (``{version}`` in the template is
replaced by the URL-quoted version).  A 2xx body is either a plain integer (``3``) or
JSON: an integer, or an object with an integer ``"pending"`` or ``"in_flight"`` member
(``{"pending": 3}``).  Anything else, a non-2xx status, a negative number or a network
failure is a read error.  Environment proxies are not used: the old slot is reached
directly.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from shipmate.domain.redaction import redact_url
from shipmate.errors import ConfigError, DeployError

__all__ = ["HttpDrainCheck"]


def _parse_count(body: bytes) -> int:
    text = body.decode("utf-8", errors="replace").strip()
    try:
        value: Any = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"body is neither an integer nor JSON: {text[:80]!r}") from exc
    if isinstance(value, dict):
        for key in ("pending", "in_flight"):
            if key in value:
                value = value[key]
                break
        else:
            raise ValueError(f'JSON body has no "pending" or "in_flight" member: {text[:80]!r}')
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"in-flight count is not an integer: {value!r}")
    if value < 0:
        raise ValueError(f"in-flight count is negative: {value}")
    return value


class HttpDrainCheck:
    """Reads the in-flight count from a URL on the old slot (see the module doc)."""

    def __init__(self, url_template: str, *, timeout: float = 5.0) -> None:
        if not isinstance(url_template, str) or not url_template.strip():
            raise ConfigError("url must be a non-empty http(s) URL", field="url")
        probe = urllib.parse.urlsplit(url_template.strip().replace("{version}", "v"))
        if probe.scheme not in ("http", "https") or not probe.hostname:
            raise ConfigError(
                f"url must be an http:// or https:// URL with a host, not {url_template!r}",
                field="url",
            )
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError("timeout must be a positive number of seconds", field="timeout")
        self.url_template = url_template.strip()
        self.timeout = float(timeout)
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def url_for(self, version: str) -> str:
        return self.url_template.replace("{version}", urllib.parse.quote(version, safe=""))

    def describe(self) -> str:
        return f"in-flight count from {redact_url(self.url_template)}"

    def pending(self, version: str) -> int:
        url = self.url_for(version)
        shown = redact_url(url)
        request = urllib.request.Request(url, headers={"Accept": "application/json, text/plain"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read(65536)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise DeployError(
                f"drain URL {shown} answered HTTP {exc.code}", field="url", status=exc.code
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeployError(f"drain URL {shown} cannot be read: {reason}", field="url") from exc
        try:
            return _parse_count(body)
        except ValueError as exc:
            raise DeployError(f"drain URL {shown}: {exc}", field="url") from exc
