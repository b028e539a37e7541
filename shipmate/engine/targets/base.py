"""The interface every deploy target implements.

A target is how one version starts and stops in one slot.  The run that drives it
(services) relies on these promises:

* ``check_artifact(release)`` raises ArtifactMissingError when the version cannot
  be started (image gone, release folder missing); it changes nothing.
* ``start(release, slot)`` returns once the start was *launched*; readiness is the
  health check's job.  Starting the release already running in the slot does
  nothing, so a resumed run can repeat the step.  Something else running in the
  slot is stopped first.
* ``stop(slot)`` returns once nothing of the slot runs; stopping an empty slot does
  nothing.
* ``is_running(slot)`` and ``running_version(slot)`` (the full version, or None when
  not running or not known) never raise for an empty slot.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Generic, TypeVar

from shipmate.engine.release import DeployContext, Release, inherited_env
from shipmate.errors import DeployError

__all__ = ["ConfiguredTarget", "Target", "start_failed"]

ConfigT = TypeVar("ConfigT")


class Target(ABC):
    @abstractmethod
    def check_artifact(self, release: Release) -> None: ...

    @abstractmethod
    def start(self, release: Release, slot: str) -> None: ...

    @abstractmethod
    def stop(self, slot: str) -> None: ...

    @abstractmethod
    def is_running(self, slot: str) -> bool: ...

    def running_version(self, slot: str) -> str | None:
        """The full version running in ``slot``, when the target can tell."""
        return None


class ConfiguredTarget(Target, Generic[ConfigT]):
    """A target built from its ``[deploy.target]`` table, for one product's slots.

    ``base_env`` is the environment its commands inherit (the process's own by
    default), before the app's variables.
    """

    def __init__(
        self,
        config: ConfigT,
        context: DeployContext,
        *,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.context = context
        self.base_env = inherited_env(base_env)


def start_failed(release: Release, slot: str, why: str, setting: str) -> DeployError:
    """What a target raises when ``release`` could not be started in ``slot``: ``why`` is
    what its command said, ``setting`` the ``[deploy.target]`` key naming that command."""
    return DeployError(
        f"{release.product} {release.full_version} could not be started in slot {slot}: {why}",
        field=f"deploy.target.{setting}",
        slot=slot,
    )
