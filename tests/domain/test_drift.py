"""Drift direction along the promotion order (pure)."""

from __future__ import annotations

from shipmate.domain.drift import Drift, DriftDirection, Stage, drifts, previous_checks

AHEAD, BEHIND, SKIPPED = DriftDirection.AHEAD, DriftDirection.BEHIND, DriftDirection.SKIPPED


def stages(*versions: str) -> list[Stage]:
    names = ["dev", "staging", "production"]
    return [Stage(names[i], v, i + 1) for i, v in enumerate(versions)]


def test_a_pipeline_between_promotions_is_ahead_not_a_warning() -> None:
    s = stages("1.3.0", "1.2.0", "1.1.0")
    got = drifts(s, {("dev", "1.2.0"), ("staging", "1.1.0")})
    assert got == [Drift(AHEAD, "staging"), Drift(AHEAD, "production"), Drift()]
    assert not any(d.warning for d in got)


def test_equal_neighbours_compare_with_the_next_different_environment() -> None:
    got = drifts(stages("1.3.1", "1.3.1", "1.2.0"), {("staging", "1.2.0")})
    assert got == [Drift(AHEAD, "production"), Drift(AHEAD, "production"), Drift()]


def test_behind_a_later_environment_is_a_warning() -> None:
    got = drifts(stages("1.3.0", "1.2.0", "1.3.0"), {("dev", "1.2.0"), ("staging", "1.3.0")})
    assert got[1] == Drift(BEHIND, "production") and got[1].warning
    assert got[0] == Drift(AHEAD, "staging")  # dev runs what production runs, newer than staging
    assert got[2] == Drift()


def test_a_version_the_previous_environment_never_had_is_skipped() -> None:
    s = stages("1.3.0", "1.2.0", "1.4.0")
    assert previous_checks(s) == [("dev", "1.2.0"), ("staging", "1.4.0")]
    got = drifts(s, {("dev", "1.2.0")})
    assert got[2] == Drift(SKIPPED, "staging") and got[2].warning


def test_semver_precedence_not_text_order() -> None:
    got = drifts(stages("1.10.0", "1.9.0"), {("dev", "1.9.0")})
    assert got[0] == Drift(AHEAD, "staging")
    got = drifts(stages("2.0.0-rc.1", "2.0.0"), {("dev", "2.0.0")})
    assert got[0] == Drift(BEHIND, "staging")


def test_versions_that_are_not_semver_order_by_when_they_were_recorded() -> None:
    s = [Stage("dev", "build-b", 9), Stage("staging", "build-a", 4)]
    assert drifts(s, {("dev", "build-a")})[0] == Drift(AHEAD, "staging")
    s = [Stage("dev", "build-b", 2), Stage("staging", "build-a", 4)]
    assert drifts(s, {("dev", "build-a")})[0] == Drift(BEHIND, "staging")


def test_one_environment_has_no_drift() -> None:
    assert drifts(stages("1.0.0"), set()) == [Drift()]
    assert previous_checks(stages("1.0.0", "1.0.0")) == []
