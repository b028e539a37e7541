"""In-memory stand-ins for targets, health checks and switches, for tests of the layers above.

They keep the real interfaces' promises (idempotent start and stop, restore to a
previous state) and record every call in ``calls`` as tuples, e.g.
``("start", "2.0.0+build.1", "green")``, so a test can assert the exact sequence a
run performed.  Failures are scripted by version (a version or a full version).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from shipmate.engine.health import HealthCheck
from shipmate.engine.release import DeployContext, Release
from shipmate.engine.switches.base import Switch, SwitchResult, SwitchState
from shipmate.engine.targets.base import Target
from shipmate.errors import ArtifactMissingError, DeployError, SwitchError

__all__ = ["FakeHealth", "FakeHealthCheck", "FakeSwitch", "FakeTarget"]

Call = tuple[str, ...]


def _named(release: Release, names: set[str]) -> bool:
    return release.version in names or release.full_version in names


class FakeTarget(Target):
    """Slots that "run" a release once started; ``missing`` artifacts, failing starts."""

    def __init__(self, *, missing: Iterable[str] = (), fail_start: Iterable[str] = ()) -> None:
        self.missing = set(missing)
        self.fail_start = set(fail_start)
        self.running: dict[str, Release] = {}
        self.calls: list[Call] = []

    def check_artifact(self, release: Release) -> None:
        self.calls.append(("check_artifact", release.full_version))
        if _named(release, self.missing):
            raise ArtifactMissingError(
                f"{release.product} {release.full_version}: artifact is gone (fake)",
                field="deploy.target",
            )

    def start(self, release: Release, slot: str) -> None:
        self.calls.append(("start", release.full_version, slot))
        if _named(release, self.fail_start):
            raise DeployError(f"{release.full_version} could not be started (fake)", slot=slot)
        self.running[slot] = release

    def stop(self, slot: str) -> None:
        self.calls.append(("stop", slot))
        self.running.pop(slot, None)

    def is_running(self, slot: str) -> bool:
        return slot in self.running

    def running_version(self, slot: str) -> str | None:
        release = self.running.get(slot)
        return release.full_version if release else None


class FakeHealthCheck(HealthCheck):
    """Answers from a script of results; the last one repeats once the script runs out."""

    def __init__(
        self, results: Sequence[bool | tuple[bool, str]] = (True,), name: str = "fake"
    ) -> None:
        if not results:
            raise ValueError("a FakeHealthCheck needs at least one scripted result")
        self.results = list(results)
        self.name = name
        self.calls = 0

    def describe(self) -> str:
        return self.name

    def check_once(self) -> tuple[bool, str]:
        index = min(self.calls, len(self.results) - 1)
        self.calls += 1
        result = self.results[index]
        if isinstance(result, tuple):
            return result
        return result, f"{self.name}: {'healthy' if result else 'unhealthy'} (try {self.calls})"


class FakeHealth:
    """A health-check factory scripted per version, shaped like ``build_health_check``.

    ``FakeHealth({"4.0.0": [True, False]})``: v4 passes its first check (before the
    switch) and fails every later one (after it).  One check object per version is
    kept, so its script continues across the checks of one run.
    """

    def __init__(
        self,
        scripts: Mapping[str, Sequence[bool | tuple[bool, str]]] | None = None,
        *,
        default: Sequence[bool | tuple[bool, str]] = (True,),
    ) -> None:
        self.scripts = dict(scripts or {})
        self.default = default
        self.checks: dict[str, FakeHealthCheck] = {}
        self.calls: list[Call] = []

    def __call__(
        self, config: object, context: DeployContext, *, slot: str, release: Release, **_: object
    ) -> FakeHealthCheck:
        self.calls.append(("build", release.full_version, slot))
        key = release.full_version
        if key not in self.checks:
            script = self.scripts.get(key, self.scripts.get(release.version, self.default))
            self.checks[key] = FakeHealthCheck(script, name=f"{key} in {slot}")
        return self.checks[key]


class FakeSwitch(Switch):
    """Remembers where traffic goes; ``fail`` names versions or slots it refuses."""

    def __init__(self, *, fail: Iterable[str] = (), initial: SwitchState | None = None) -> None:
        self.fail = set(fail)
        self.state = initial
        self.calls: list[Call] = []

    def current(self) -> SwitchState | None:
        return self.state

    def switch_to(self, release: Release, slot: str, port: int | None = None) -> SwitchResult:
        self.calls.append(("switch_to", release.full_version, slot))
        if _named(release, self.fail) or slot in self.fail:
            raise SwitchError(
                f"switch to {release.full_version} in {slot} refused (fake)",
                field="deploy.switch",
            )
        previous = self.state
        self.state = SwitchState(
            slot=slot,
            port=port,
            version=release.version,
            full_version=release.full_version,
            content=f"{slot}:{release.full_version}",
        )
        return SwitchResult(previous, self.state, "fake switch")

    def restore(self, previous: SwitchState) -> SwitchResult:
        self.calls.append(("restore", previous.full_version or "", previous.slot or ""))
        now = self.state
        self.state = previous
        return SwitchResult(now, previous, "fake restore")
