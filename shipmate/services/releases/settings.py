"""The ``[releases]`` settings and the lineage mode of each product.

Configuration (``[releases]`` in shipmate.toml)::

    [releases]
    action_timeout = 900      # seconds one action may take
    versions_dir = "versions" # what `shipmate release sync` reads by default
    lineage = "auto"          # or "strict" for every product

    [products.api]
    lineage = "strict"        # this product only

``lineage = "strict"`` (in ``[products.<name>]``, or for every product in
``[releases]``, or the ``strict`` argument) needs a predecessor on every version but
the base, and any gap is reported before anything runs
(:mod:`shipmate.services.releases.lineage`).
"""

from __future__ import annotations

from dataclasses import dataclass

from shipmate.config import Settings
from shipmate.domain.configtables import as_table
from shipmate.errors import ConfigError

__all__ = ["DEFAULT_ACTION_TIMEOUT", "ReleaseSettings", "lineage_is_strict", "release_settings"]

DEFAULT_ACTION_TIMEOUT = 900.0
_LINEAGE_MODES = ("auto", "strict")
_RELEASES_KEYS = ("action_timeout", "versions_dir", "lineage")


@dataclass(frozen=True)
class ReleaseSettings:
    """``[releases]`` of the config file, validated."""

    action_timeout: float = DEFAULT_ACTION_TIMEOUT
    versions_dir: str = "versions"
    lineage: str = "auto"


def release_settings(settings: Settings) -> ReleaseSettings:
    """The validated ``[releases]`` table (defaults when absent); ConfigError naming the key."""
    raw = settings.sections.get("releases")
    if raw is None:
        return ReleaseSettings()
    table = as_table(raw, field="releases")
    unknown = sorted(set(table) - set(_RELEASES_KEYS))
    if unknown:
        raise ConfigError(
            f"[releases] has unknown key {unknown[0]!r} (known: {', '.join(_RELEASES_KEYS)})",
            field=f"releases.{unknown[0]}",
        )
    result = ReleaseSettings()
    if "action_timeout" in table:
        value = table["action_timeout"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
            raise ConfigError(
                "releases.action_timeout must be a number of seconds between 0 and 86400, "
                f"not {value!r}",
                field="releases.action_timeout",
            )
        result = ReleaseSettings(float(value), result.versions_dir, result.lineage)
    if "versions_dir" in table:
        value = table["versions_dir"]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                "releases.versions_dir must be a folder name", field="releases.versions_dir"
            )
        result = ReleaseSettings(result.action_timeout, value, result.lineage)
    if "lineage" in table:
        result = ReleaseSettings(
            result.action_timeout,
            result.versions_dir,
            _lineage_mode(table["lineage"], "releases.lineage"),
        )
    return result


def _lineage_mode(value: object, key: str) -> str:
    if value not in _LINEAGE_MODES:
        raise ConfigError(f"{key} must be 'auto' or 'strict', not {value!r}", field=key)
    return str(value)


def lineage_is_strict(settings: Settings, product: str, strict: bool | None = None) -> bool:
    """``strict`` when given, else ``[products.<product>] lineage``, else ``[releases]``."""
    if strict is not None:
        return strict
    products = settings.sections.get("products")
    if products is not None:
        entry = as_table(products, field="products").get(product)
        if entry is not None:
            entry = as_table(entry, field=f"products.{product}")
            if "lineage" in entry:
                key = f"products.{product}.lineage"
                return _lineage_mode(entry["lineage"], key) == "strict"
    return release_settings(settings).lineage == "strict"
