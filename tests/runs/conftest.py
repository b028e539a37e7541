"""Fixtures for the runs tests: a deploy configuration and fake engine parts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shipmate.config import Settings
from shipmate.domain.deploy.config import parse_deploy_config
from shipmate.engine.fakes import FakeHealth, FakeSwitch, FakeTarget
from shipmate.engine.release import DeployContext
from shipmate.services.context import Context
from shipmate.services.deploys.config import ProductDeploy, RunParts
from shipmate.services.runs.journal import RunRecord


def fake_table(**overrides: Any) -> dict[str, Any]:
    """A [deploy] table with fast timings (its target and switch are replaced by fakes)."""
    table: dict[str, Any] = {
        "keep_warm": 0,
        "slots": {"blue": 18001, "green": 18002},
        "target": {"type": "process", "command": "true"},
        "health": {"type": "tcp", "port": "{port}", "attempts": 2, "interval": 0.01},
        "switch": {"type": "command", "command": "true"},
        "post_switch_health": {"type": "tcp", "port": "{port}", "attempts": 2, "interval": 0.01},
    }
    table.update(overrides)
    return table


@dataclass
class Fakes:
    target: FakeTarget
    switch: FakeSwitch
    health: FakeHealth
    deploy: ProductDeploy

    def parts(self, run: RunRecord | None = None) -> RunParts:
        config = self.deploy.config
        return RunParts(
            config=config,
            context=DeployContext.from_config(
                config, product=self.deploy.product, state_dir=self.deploy.state_dir
            ),
            target=self.target,
            switch=self.switch,
            health_factory=self.health,
        )


def make_fakes(
    tmp_path: Path,
    *,
    product: str = "api",
    table: Mapping[str, Any] | None = None,
    health: Mapping[str, Any] | None = None,
    missing: tuple[str, ...] = (),
) -> Fakes:
    raw = dict(table or fake_table())
    config = parse_deploy_config(raw, prefix=f"products.{product}.deploy")
    deploy = ProductDeploy(
        product=product,
        config=config,
        raw=raw,
        prefix=f"products.{product}.deploy",
        state_dir=str(tmp_path / "state"),
    )
    return Fakes(
        target=FakeTarget(missing=missing),
        switch=FakeSwitch(),
        health=FakeHealth(dict(health or {})),
        deploy=deploy,
    )


@pytest.fixture
def fakes(tmp_path: Path) -> Fakes:
    return make_fakes(tmp_path)


@pytest.fixture
def real_ctx(ctx: Context) -> Context:
    """The ctx fixture with a real clock (leases and keep-warm need time to pass)."""
    from shipmate.services.context import utcnow

    ctx.clock = utcnow
    return ctx


@pytest.fixture
def nginx_stack(real_ctx: Context, tmp_path: Path) -> Iterator[Any]:
    """A real blue-green stack (tests/runs/stack.py): private nginx, the sample app."""
    from shipmate.demo.nginx import NginxServer
    from tests.runs.stack import Stack

    nginx = NginxServer(tmp_path)
    nginx.start()
    result = Stack(tmp_path, nginx, real_ctx)
    try:
        yield result
    finally:
        result.close()


__all__ = ["Fakes", "Settings", "fake_table", "make_fakes"]
