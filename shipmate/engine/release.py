"""The release being deployed and the context every engine part renders templates in.

:class:`Release` is the value a target starts and a switch points at.
:class:`DeployContext` holds what is fixed for one product's deploys (its name,
shipmate's state folder, the slots and their ports, the app-version variable) and
turns it into placeholder values and the environment of a started app.

Every started app gets ``SHIPMATE_VERSION``, ``SHIPMATE_FULL_VERSION``,
``SHIPMATE_SLOT``, ``SHIPMATE_PRODUCT``, ``PORT`` and, unless turned off, the
app-version variable (``DBOS__APPVERSION`` by default) set to the full version, so
DBOS tags its workflows with it.  Variables named ``SHIPMATE_*`` that shipmate
itself was started with (its database URL, its token) are never passed on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shipmate.domain.deploy.model import DEFAULT_APP_VERSION_ENV, template_values
from shipmate.domain.inputs.names import path_component
from shipmate.errors import ConfigError

if TYPE_CHECKING:
    from shipmate.domain.deploy.model import DeployConfig, Slot

__all__ = ["DeployContext", "Release", "inherited_env"]


@dataclass(frozen=True)
class Release:
    """One version (and build) of a product; ``run_id``: the run deploying it, if any."""

    product: str
    version: str
    full_version: str
    build_number: int | None = None
    run_id: int | None = field(default=None, compare=False)

    @classmethod
    def of(cls, product: str, version: str, build_number: int | None = None) -> Release:
        full = f"{version}+build.{build_number}" if build_number is not None else version
        return cls(product, version, full, build_number)


@dataclass(frozen=True)
class DeployContext:
    product: str
    state_dir: str
    slots: tuple[Slot, ...]
    app_version_env: str | None = DEFAULT_APP_VERSION_ENV

    @classmethod
    def from_config(cls, config: DeployConfig, *, product: str, state_dir: str) -> DeployContext:
        return cls(product, state_dir, config.slots, config.app_version_env)

    def port(self, slot: str) -> int:
        for each in self.slots:
            if each.name == slot:
                return each.port
        names = ", ".join(s.name for s in self.slots)
        raise ConfigError(f"there is no slot {slot!r}; the slots are: {names}", field="slot")

    @property
    def product_dir(self) -> Path:
        """``<state_dir>/<product>``: the product name as one path component, the
        same for no two products (``a/b``, ``a:b`` and ``a_b`` get three folders)."""
        return Path(self.state_dir) / path_component(self.product)

    def slot_dir(self, slot: str) -> Path:
        self.port(slot)
        return self.product_dir / path_component(slot)

    def values(self, *, slot: str | None = None, release: Release | None = None) -> dict[str, str]:
        """Placeholder values; ``{version}`` only with a release, ``{port}`` only with a slot."""
        return template_values(
            self.slots,
            product=self.product,
            state_dir=self.state_dir,
            slot=slot,
            version=release.version if release else None,
            full_version=release.full_version if release else None,
        )

    def app_env(self, release: Release, slot: str) -> dict[str, str]:
        """The variables shipmate sets for a started app (without the inherited ones)."""
        env = {
            "SHIPMATE_PRODUCT": release.product,
            "SHIPMATE_VERSION": release.version,
            "SHIPMATE_FULL_VERSION": release.full_version,
            "SHIPMATE_SLOT": slot,
            "PORT": str(self.port(slot)),
        }
        if release.build_number is not None:
            env["SHIPMATE_BUILD_NUMBER"] = str(release.build_number)
        if self.app_version_env:
            env[self.app_version_env] = release.full_version
        return env


def inherited_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a started app inherits: ours, minus shipmate's own settings."""
    source = os.environ if base is None else base
    return {k: v for k, v in source.items() if not k.startswith("SHIPMATE_")}
