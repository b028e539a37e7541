"""The dashboard's Jinja environment: templates shipped in the package, autoescape on.

Every URL a template needs comes from :class:`Urls` (one place builds them), and
every value is escaped by Jinja: nothing here marks a string safe.  Links to
outside (a CI run) are shown as links only when they are ``http`` or ``https``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import jinja2

from shipmate import __version__
from shipmate.domain.dora import format_duration
from shipmate.domain.inputs.fields import format_time
from shipmate.domain.matrix import MatrixCell

__all__ = [
    "DRIFT_SYMBOLS",
    "STATUS_SYMBOLS",
    "Urls",
    "ago",
    "drift_flag",
    "environment",
    "render",
    "short",
]

#: A symbol and a word for every status, so colour is never the only signal.
STATUS_SYMBOLS: dict[str, tuple[str, str]] = {
    "completed": ("✓", "completed"),
    "failed": ("✕", "failed"),
    "aborted": ("■", "aborted"),
    "rolled_back": ("↺", "rolled back"),
    "started": ("◐", "in progress"),
    "pending": ("○", "pending"),
}
#: A symbol per drift direction (None: agrees with every later environment).
DRIFT_SYMBOLS: dict[str | None, str] = {None: "✓", "ahead": "↑", "behind": "↓", "skipped": "≠"}
_DRIFT_FLAGS = {"ahead": "ahead of {}", "behind": "behind {}", "skipped": "never in {}"}
BAND_SYMBOLS: dict[str, str] = {"elite": "◆◆◆◆", "high": "◆◆◆◇", "medium": "◆◆◇◇", "low": "◆◇◇◇"}


class Urls:
    """Every dashboard URL, built in one place."""

    def matrix(self, **query: Any) -> str:
        return "/" + _query(query)

    def product(self, name: str, **query: Any) -> str:
        return "/products/" + quote(name, safe="@:") + _query(query)

    def deployment(self, deployment_id: int | str, **query: Any) -> str:
        return f"/deployments/{deployment_id}" + _query(query)

    def history(self, **query: Any) -> str:
        return "/history" + _query(query)

    def dora(self, **query: Any) -> str:
        return "/dora" + _query(query)

    def static(self, name: str) -> str:
        return f"/static/{name}?v={__version__}"

    def login(self, next_url: str | None = None) -> str:
        return "/login" + _query({"next": next_url})

    def logout(self) -> str:
        return "/logout"

    def live(self) -> str:
        return "/live"


def _query(params: dict[str, Any]) -> str:
    clean = {k: v for k, v in params.items() if v is not None and v != ""}
    return "?" + urlencode(clean) if clean else ""


def ago(seconds: float | None) -> str:
    """A short age: ``45s``, ``12m``, ``3h``, ``9d``."""
    if seconds is None:
        return "-"
    s = int(max(0.0, seconds))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else (format_time(value) or "")
    return text[:16].replace("T", " ") + " UTC" if text else "-"


def _iso(value: datetime | None) -> str:
    return format_time(value) or ""


def _duration_ms(ms: int | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms} ms"
    return format_duration(ms / 1000) or "-"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _status_symbol(status: str) -> str:
    return STATUS_SYMBOLS.get(status, ("•", status))[0]


def _status_label(status: str) -> str:
    return STATUS_SYMBOLS.get(status, ("•", status.replace("_", " ")))[1]


def _band_symbol(band: str | None) -> str:
    return BAND_SYMBOLS.get(band or "", "")


def drift_flag(cell: MatrixCell) -> str:
    """``ahead of production``, ``behind production``, ``never in staging`` or ''."""
    if cell.drift_direction is None:
        return ""
    return _DRIFT_FLAGS[cell.drift_direction].format(cell.drift_against)


def _drift_symbol(cell: MatrixCell) -> str:
    return DRIFT_SYMBOLS.get(cell.drift_direction, "≠")


def short(sha: str | None, n: int = 10) -> str:
    """A commit for display: its first ``n`` characters, ``-`` when unknown."""
    return (sha or "-")[:n]


def _build_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("shipmate.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(url=Urls(), version=__version__)
    env.filters.update(
        ago=ago,
        when=_when,
        iso=_iso,
        duration_ms=_duration_ms,
        pretty=_pretty,
        status_symbol=_status_symbol,
        status_label=_status_label,
        band_symbol=_band_symbol,
        short=short,
        drift_flag=drift_flag,
        drift_symbol=_drift_symbol,
        seconds=format_duration,
    )
    return env


environment = _build_environment()


def render(template_name: str, /, **context: Any) -> str:
    """Render one template with ``context``; every value is escaped."""
    return environment.get_template(template_name).render(**context)
