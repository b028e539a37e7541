"""The fakes keep the real interfaces' promises and record calls."""

from __future__ import annotations

import pytest

from shipmate.engine.fakes import FakeHealth, FakeHealthCheck, FakeSwitch, FakeTarget
from shipmate.engine.release import DeployContext, Release
from shipmate.errors import ArtifactMissingError, DeployError, HealthCheckError, SwitchError

V1 = Release.of("api", "1.0.0", 1)
V2 = Release.of("api", "2.0.0", 1)


def test_fake_target() -> None:
    target = FakeTarget(missing={"2.0.0"}, fail_start={"3.0.0"})
    target.check_artifact(V1)
    with pytest.raises(ArtifactMissingError):
        target.check_artifact(V2)
    target.start(V1, "blue")
    assert target.is_running("blue") and target.running_version("blue") == "1.0.0+build.1"
    with pytest.raises(DeployError):
        target.start(Release.of("api", "3.0.0"), "green")
    assert not target.is_running("green")
    target.stop("blue")
    assert not target.is_running("blue")
    assert target.calls == [
        ("check_artifact", "1.0.0+build.1"),
        ("check_artifact", "2.0.0+build.1"),
        ("start", "1.0.0+build.1", "blue"),
        ("start", "3.0.0", "green"),
        ("stop", "blue"),
    ]


def test_fake_health_scripts_per_version() -> None:
    health = FakeHealth({"2.0.0": [True, False]})
    context = DeployContext("api", "/tmp/s", ())
    pre = health(None, context, slot="green", release=V2)
    assert pre.check_once()[0] is True
    post = health(None, context, slot="green", release=V2)
    assert post is pre
    with pytest.raises(HealthCheckError):
        post.wait_healthy(attempts=3, interval=0, sleep=lambda _s: None)
    assert health(None, context, slot="blue", release=V1).check_once()[0] is True
    assert FakeHealthCheck([(False, "x")]).check_once() == (False, "x")


def test_fake_switch() -> None:
    switch = FakeSwitch(fail={"3.0.0"})
    assert switch.current() is None
    first = switch.switch_to(V1, "blue", 8001)
    second = switch.switch_to(V2, "green", 8002)
    assert second.previous == first.current
    with pytest.raises(SwitchError):
        switch.switch_to(Release.of("api", "3.0.0"), "blue")
    assert switch.current() == second.current
    assert second.previous is not None
    switch.restore(second.previous)
    current = switch.current()
    assert current is not None and current.full_version == "1.0.0+build.1"
    assert [c[0] for c in switch.calls] == ["switch_to", "switch_to", "switch_to", "restore"]
