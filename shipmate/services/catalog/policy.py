"""The ``[catalog]`` settings: what a write naming an unknown product or environment does.

::

    [catalog]
    unknown = "create"            # or "warn", "refuse"
    check_near_misses = true      # false: the one opt-out of "did you mean"
    products = ["api", "web"]     # declared names, always accepted
    environments = ["dev", "staging", "production"]

Products with a ``[products.<name>]`` table are declared too.
"""

from __future__ import annotations

from typing import Any

from shipmate.config import Settings
from shipmate.domain.configtables import ConfigTable, as_table
from shipmate.domain.name_matching import UnknownNames
from shipmate.errors import ConfigError
from shipmate.store.name_guard import CatalogPolicy

__all__ = ["read_catalog_policy"]

_KEYS = ("unknown", "check_near_misses", "products", "environments")


def read_catalog_policy(settings: Settings) -> CatalogPolicy:
    table = ConfigTable(settings.sections.get("catalog", {}), field="catalog", allowed=_KEYS)
    unknown = table.choice("unknown", [m.value for m in UnknownNames], UnknownNames.CREATE.value)
    check: Any = table.raw("check_near_misses", True)
    if not isinstance(check, bool):
        raise ConfigError(
            "catalog.check_near_misses must be true or false", field="catalog.check_near_misses"
        )
    configured: Any = settings.sections.get("products", {})
    product_tables = set(as_table(configured, field="products")) if configured else set()
    return CatalogPolicy(
        unknown=UnknownNames(unknown),
        check_near_misses=check,
        products=frozenset(table.string_list("products")) | product_tables,
        environments=frozenset(table.string_list("environments")),
    )
