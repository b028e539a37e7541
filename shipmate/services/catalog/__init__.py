"""Products, environments and versions: listing them, and renaming, merging and
archiving products and environments (:mod:`.changes`)."""

from shipmate.services.catalog.listing import (
    EnvironmentInfo,
    ProductInfo,
    VersionInfo,
    list_environments,
    list_products,
    list_versions,
    set_environment_kind,
)

__all__ = [
    "EnvironmentInfo",
    "ProductInfo",
    "VersionInfo",
    "list_environments",
    "list_products",
    "list_versions",
    "set_environment_kind",
]
