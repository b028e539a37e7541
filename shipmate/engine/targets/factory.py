"""Deploy targets: how a version starts and stops in a slot.

The interface is :class:`Target` (see :mod:`shipmate.engine.targets.base` for its
promises); the implementations are :class:`ProcessTarget`, :class:`DockerTarget`
and :class:`CommandTarget`, and :func:`build_target` picks one from a validated
``[deploy]`` configuration.  :class:`shipmate.engine.fakes.FakeTarget` stands in
for them in tests of the layers above.
"""

from __future__ import annotations

from collections.abc import Mapping

from shipmate.domain.deploy.model import (
    CommandTargetConfig,
    DeployConfig,
    DockerTargetConfig,
    ProcessTargetConfig,
)
from shipmate.engine.release import DeployContext, Release
from shipmate.engine.targets.base import Target
from shipmate.engine.targets.command import CommandTarget
from shipmate.engine.targets.docker import DockerTarget
from shipmate.engine.targets.process import ProcessTarget

__all__ = [
    "CommandTarget",
    "DeployContext",
    "DockerTarget",
    "ProcessTarget",
    "Release",
    "Target",
    "build_target",
]


def build_target(
    config: DeployConfig,
    *,
    product: str,
    state_dir: str,
    base_env: Mapping[str, str] | None = None,
) -> Target:
    """The target ``config.target`` describes, for ``product``."""
    context = DeployContext.from_config(config, product=product, state_dir=state_dir)
    target = config.target
    if isinstance(target, ProcessTargetConfig):
        return ProcessTarget(target, context, base_env=base_env)
    if isinstance(target, DockerTargetConfig):
        return DockerTarget(target, context, base_env=base_env)
    if isinstance(target, CommandTargetConfig):
        return CommandTarget(target, context, base_env=base_env)
    raise TypeError(f"unknown target configuration {type(target).__name__}")
