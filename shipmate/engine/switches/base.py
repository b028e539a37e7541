"""The interface every traffic switch implements, and the state it reports.

A switch decides which slot (and so which version) receives traffic:

* ``current()`` is where traffic goes now, as a :class:`SwitchState`, or None when
  the switch has never been set.  Its ``slot``/``version`` are None when the switch
  was set by hand (an upstream file without shipmate's marker).
* ``switch_to(release, slot, port)`` moves traffic and returns a
  :class:`SwitchResult` holding the previous state, which ``restore`` accepts to
  move traffic back exactly as it was.  Switching to where traffic already goes is
  allowed and applies the same steps again, so a resumed run may repeat it.
* Failures raise SwitchError with the tool's own message; a failed switch leaves
  traffic where it was.
* ``wait_settled(timeout, sleep)`` returns once traffic no longer reaches what the
  switch pointed at before its last change (nginx: the workers of the previous
  configuration have exited), so the slot it left can be stopped without failing
  a request.  It never raises; it returns a line for the run's log (empty when
  the switch applies at once, like a symlink).
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shipmate.engine.atomicfiles import write_file_atomic
from shipmate.engine.release import Release

__all__ = ["Switch", "SwitchResult", "SwitchState", "read_state_file", "write_state_file"]


@dataclass(frozen=True)
class SwitchState:
    slot: str | None = None
    port: int | None = None
    version: str | None = None
    full_version: str | None = None
    #: What the switch holds: the upstream file's text, the symlink's target.
    content: str | None = None

    def describe(self) -> str:
        if self.slot is None:
            return "a configuration shipmate did not write"
        return f"{self.full_version or self.version} in slot {self.slot}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> SwitchState | None:
        if not isinstance(data, dict):
            return None
        port = data.get("port")
        return cls(
            slot=_text(data.get("slot")),
            port=port if isinstance(port, int) and not isinstance(port, bool) else None,
            version=_text(data.get("version")),
            full_version=_text(data.get("full_version")),
            content=_text(data.get("content")),
        )


@dataclass(frozen=True)
class SwitchResult:
    previous: SwitchState | None
    current: SwitchState
    #: What the tool said (``nginx -t`` output, the new link), for the run's log.
    detail: str = ""


class Switch(ABC):
    @abstractmethod
    def current(self) -> SwitchState | None: ...

    @abstractmethod
    def switch_to(self, release: Release, slot: str, port: int | None = None) -> SwitchResult: ...

    @abstractmethod
    def restore(self, previous: SwitchState) -> SwitchResult: ...

    def wait_settled(
        self, *, timeout: float = 30.0, sleep: Callable[[float], None] = time.sleep
    ) -> str:
        """Wait until the previous state no longer gets traffic; a note for the log."""
        return ""


def read_state_file(path: Path) -> SwitchState | None:
    try:
        return SwitchState.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (FileNotFoundError, ValueError):
        return None


def write_state_file(path: Path, state: SwitchState) -> None:
    write_file_atomic(path, json.dumps(state.to_dict(), indent=2))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
