"""Which way a product's environments differ along the promotion order.

A pipeline normally has its newest version in the first environment and older
ones further along: dev *ahead* of staging is the state of every pipeline
between two promotions, and is marked neutrally.  Two states deserve a warning:

- **behind**: an environment runs an older version than a later environment
  (staging still on 1.2.0 while production runs 1.3.0);
- **skipped**: an environment runs a version that was never deployed to the
  environment before it (production got 1.3.0 without staging ever having it).

Each cell is compared with the *next later environment that runs a different
version* (equal neighbours agree, so dev = staging = 1.3.1 with production on
1.3.0 makes both dev and staging ahead of production).  Versions that are
semantic versions compare by SemVer precedence; otherwise the version whose
current deployment was recorded later counts as the newer one.

Pure: the caller says which versions the previous environments ever had
(:func:`previous_checks` names what to look up).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

from shipmate.domain.versions import parse_semver

__all__ = [
    "NO_DRIFT",
    "WARNING_DIRECTIONS",
    "Drift",
    "DriftDirection",
    "Stage",
    "drifts",
    "previous_checks",
]


class DriftDirection(StrEnum):
    AHEAD = "ahead"
    BEHIND = "behind"
    SKIPPED = "skipped"


#: The directions worth an amber warning; ``ahead`` is the normal state of a pipeline.
WARNING_DIRECTIONS = frozenset({DriftDirection.BEHIND, DriftDirection.SKIPPED})


@dataclass(frozen=True, slots=True)
class Stage:
    """One product's current version in one environment, in promotion order."""

    environment: str
    version: str
    #: Orders versions that are not semantic versions: the current deployment's id.
    recorded: int


@dataclass(frozen=True, slots=True)
class Drift:
    """A cell's direction (None when it agrees with every later environment) and
    the environment it was compared with."""

    direction: DriftDirection | None = None
    against: str | None = None

    @property
    def warning(self) -> bool:
        return self.direction in WARNING_DIRECTIONS


NO_DRIFT = Drift()


def previous_checks(stages: Sequence[Stage]) -> list[tuple[str, str]]:
    """``(previous environment, version)`` pairs whose history decides ``skipped``:
    one per stage whose version differs from the current one before it (a version
    the previous environment runs now was obviously there)."""
    return [
        (before.environment, stage.version)
        for before, stage in pairwise(stages)
        if before.version != stage.version
    ]


def _newer(a: Stage, b: Stage) -> bool:
    sa, sb = parse_semver(a.version), parse_semver(b.version)
    if sa is not None and sb is not None and sa.precedence_key() != sb.precedence_key():
        return sa.precedence_key() > sb.precedence_key()
    return a.recorded > b.recorded


def drifts(stages: Sequence[Stage], seen: Collection[tuple[str, str]]) -> list[Drift]:
    """The drift of each stage (same order).  ``seen`` holds the pairs of
    :func:`previous_checks` that the previous environment ever had deployed."""
    out: list[Drift] = []
    for i, stage in enumerate(stages):
        if i > 0:
            before = stages[i - 1]
            if before.version != stage.version and (before.environment, stage.version) not in seen:
                out.append(Drift(DriftDirection.SKIPPED, before.environment))
                continue
        later = next((s for s in stages[i + 1 :] if s.version != stage.version), None)
        if later is None:
            out.append(NO_DRIFT)
        elif _newer(stage, later):
            out.append(Drift(DriftDirection.AHEAD, later.environment))
        else:
            out.append(Drift(DriftDirection.BEHIND, later.environment))
    return out
