"""Which ``[deploy]`` table applies to a product, and the engine parts built from it.

Where a product's deploy configuration lives in ``shipmate.toml`` (or
``[tool.shipmate]``), in order:

1. ``[products.<name>.deploy]``: one table per product (other features keep their
   own keys beside ``deploy`` in ``[products.<name>]``);
2. a top-level ``[deploy]`` table, for a repository with one product: it applies to
   the product its ``product = "..."`` key names, or else to the top-level
   ``product`` setting.

Both for the same product is an error (which one would win is not obvious), and so
is a top-level ``[deploy]`` that says nothing about its product.  The table is
validated up front by :func:`~shipmate.domain.deploy.config.parse_deploy_config`, so
every error names its dotted key (``products.api.deploy.health.interval``).

A run stores the raw table it started with; :func:`parts_from_params` rebuilds the
same engine parts from it when the run is resumed, even if the file changed since.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipmate.config import Settings, default_data_dir
from shipmate.domain.configtables import as_table
from shipmate.domain.deploy.config import parse_deploy_config
from shipmate.domain.deploy.hosts import parse_host_groups
from shipmate.domain.deploy.model import DeployConfig
from shipmate.engine.health import HealthCheck, build_health_check
from shipmate.engine.release import DeployContext
from shipmate.engine.switches.factory import Switch, build_switch
from shipmate.engine.targets.factory import Target, build_target
from shipmate.errors import ConfigError

__all__ = [
    "HealthFactory",
    "ProductDeploy",
    "RunParts",
    "build_parts",
    "load_product_deploy",
    "parts_from_params",
    "product_deploy_from_params",
    "state_dir_for",
]

HealthFactory = Callable[..., HealthCheck]


@dataclass(frozen=True)
class ProductDeploy:
    """A product's validated deploy configuration and the raw table it came from."""

    product: str
    config: DeployConfig
    raw: Mapping[str, Any]
    prefix: str
    state_dir: str

    def to_params(self) -> dict[str, Any]:
        return {"raw": dict(self.raw), "prefix": self.prefix, "state_dir": self.state_dir}


@dataclass
class RunParts:
    """The engine parts one run drives: built from the config, or fakes in tests."""

    config: DeployConfig
    context: DeployContext
    target: Target
    switch: Switch
    health_factory: HealthFactory = field(default=build_health_check)


def state_dir_for(settings: Settings) -> str:
    """Where slots keep their pid and log files: ``<data_dir>/deploy``."""
    base = settings.data_dir or default_data_dir()
    return str(Path(base).expanduser().resolve() / "deploy")


def _product_table(settings: Settings, product: str) -> tuple[object, str] | None:
    products = settings.sections.get("products")
    if products is None:
        return None
    table = as_table(products, field="products")
    entry = table.get(product)
    if entry is None:
        return None
    entry = as_table(entry, field=f"products.{product}")
    if "deploy" not in entry:
        return None
    return entry["deploy"], f"products.{product}.deploy"


def _top_level_table(settings: Settings, product: str) -> tuple[object, str] | None:
    raw = settings.sections.get("deploy")
    if raw is None:
        return None
    table = dict(as_table(raw, field="deploy"))
    named = table.pop("product", None)
    if named is not None and not isinstance(named, str):
        raise ConfigError(
            "deploy.product must be a product name (a string)", field="deploy.product"
        )
    owner = named or settings.product
    if owner is None:
        raise ConfigError(
            "[deploy] does not say which product it deploys: add product = "
            f'"{product}" to [deploy], or use a [products.{product}.deploy] table',
            field="deploy.product",
        )
    if owner != product:
        return None
    return table, "deploy"


def load_product_deploy(settings: Settings, product: str) -> ProductDeploy:
    """``product``'s validated deploy configuration; ConfigError naming the key otherwise."""
    per_product = _product_table(settings, product)
    top = _top_level_table(settings, product)
    if per_product is not None and top is not None:
        raise ConfigError(
            f"both [products.{product}.deploy] and [deploy] configure {product}; keep one",
            field=f"products.{product}.deploy",
        )
    found = per_product or top
    if found is None:
        where = f" in {settings.config_file}" if settings.config_file else ""
        raise ConfigError(
            f"there is no deploy configuration for {product}{where}: add a "
            f"[products.{product}.deploy] table (see docs/deploying.md)",
            field=f"products.{product}.deploy",
        )
    raw, prefix = found
    config = parse_deploy_config(raw, prefix=prefix)
    parse_host_groups(raw, prefix=prefix)  # remote mode's keys: refused here too when wrong
    return ProductDeploy(
        product=product,
        config=config,
        raw=dict(as_table(raw, field=prefix)),
        prefix=prefix,
        state_dir=state_dir_for(settings),
    )


def build_parts(deploy: ProductDeploy) -> RunParts:
    """The real target, switch and health checks for ``deploy``."""
    config = deploy.config
    context = DeployContext.from_config(config, product=deploy.product, state_dir=deploy.state_dir)
    return RunParts(
        config=config,
        context=context,
        target=build_target(config, product=deploy.product, state_dir=deploy.state_dir),
        switch=build_switch(config, product=deploy.product, state_dir=deploy.state_dir),
    )


def product_deploy_from_params(product: str, params: Mapping[str, Any]) -> ProductDeploy:
    """The :class:`ProductDeploy` a run stored in its params."""
    stored = params.get("deploy")
    if not isinstance(stored, Mapping):
        raise ConfigError("the run holds no deploy configuration", field="run")
    prefix = str(stored.get("prefix", "deploy"))
    raw = stored.get("raw") or {}
    return ProductDeploy(
        product=product,
        config=parse_deploy_config(raw, prefix=prefix),
        raw=dict(raw),
        prefix=prefix,
        state_dir=str(stored.get("state_dir", ".")),
    )


def parts_from_params(product: str, params: Mapping[str, Any]) -> RunParts:
    """Rebuild a run's engine parts from the configuration it stored when it began."""
    return build_parts(product_deploy_from_params(product, params))
