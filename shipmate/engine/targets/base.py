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

from shipmate.engine.release import Release

__all__ = ["Target"]


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
