"""The lineage of a product: the one ordered chain its versions form.

Rolling an environment forward or back walks this chain (seed 004), so
the chain must be unambiguous and complete before anything runs.

How the order is made
---------------------
1. **Implicit order.**  SemVer versions are sorted by SemVer precedence (build
   metadata ignored); opaque versions by ``ordinal`` (first appearance).  When a
   product has both, each opaque version comes right after the highest SemVer
   version that appeared before it (before all of them when none did); opaque
   versions landing in the same place keep their order of appearance.  So a
   product versioned by commit SHA that then adopted SemVer keeps its SHAs first,
   a SHA deployed after ``1.1.0`` follows ``1.1.0``, and a SemVer hotfix (``1.0.1``
   published after ``1.1.0``) still sorts between ``1.0.0`` and ``1.1.0``.
   Ties (two SemVer versions of equal precedence such as ``1.0.0`` and
   ``v1.0.0``) break by ordinal, then by the string; such ties are reported in
   ``Lineage.warnings``.
2. **Explicit predecessors override.**  A version with an explicit predecessor
   comes right after it.  Versions without one are *roots*.  The chain is the
   pre-order walk of this predecessor forest: roots in implicit order, each
   followed by the versions naming it as predecessor (in implicit order, each
   with everything that hangs off it, recursively), then the next root.  With
   no explicit predecessors this is the implicit order; with a predecessor on
   every version but the base it is exactly the declared chain.  Example:
   ``1.0.0, 1.1.0, 1.2.0`` where ``1.2.0`` names ``1.0.0`` gives
   ``1.0.0, 1.2.0, 1.1.0``.
3. **The base** is the first version of the chain.

Problems (all of them are collected, then reported in one error)
---------------------------------------------------------------
* **gap**: a version names a predecessor that is not a version of the product;
* **cycle**: following predecessors comes back to where it started (a version
  naming itself included);
* **fork** (strict only): two versions name the same predecessor.  Outside
  strict mode a fork is resolved by rule 2 and reported in ``warnings``;
* **no predecessor** (strict only): a version other than the base (the first
  root in implicit order) has no explicit predecessor.

They raise :class:`~shipmate.errors.ConflictError` (``field="predecessor"``)
whose message names every version involved and whose ``details["problems"]``
lists one dict per problem (``problem``, ``version`` and the others involved).
Two nodes with the same version string are bad input
(:class:`~shipmate.errors.InvalidInputError`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType
from typing import Any

from shipmate.domain.versions import parse_semver, validate_version
from shipmate.errors import ConflictError, InvalidInputError, NotFoundError

__all__ = ["Direction", "Lineage", "VersionNode"]


class Direction(StrEnum):
    """Which way an environment moves along the lineage."""

    ROLLFORWARD = "rollforward"
    ROLLBACK = "rollback"
    SAME = "same"


@dataclass(frozen=True, slots=True)
class VersionNode:
    """One version of a product as the lineage sees it.

    ``ordinal`` is the order of first appearance (the store's sequence number);
    it orders opaque versions and breaks ties.  ``predecessor`` is the version
    explicitly declared to come right before this one, if any.
    """

    version: str
    ordinal: int
    predecessor: str | None = None

    def __post_init__(self) -> None:
        if validate_version(self.version, field="version") != self.version:
            raise InvalidInputError(
                f"version {self.version!r} has surrounding whitespace", field="version"
            )
        if isinstance(self.ordinal, bool) or not isinstance(self.ordinal, int):
            raise InvalidInputError(
                f"ordinal of version {self.version} must be an integer, "
                f"not {type(self.ordinal).__name__}",
                field="ordinal",
            )
        if self.predecessor is not None:
            pred = validate_version(self.predecessor, field="predecessor")
            if pred != self.predecessor:
                raise InvalidInputError(
                    f"predecessor {self.predecessor!r} of version {self.version} "
                    "has surrounding whitespace",
                    field="predecessor",
                )

    @property
    def is_semver(self) -> bool:
        return parse_semver(self.version) is not None


class Lineage:
    """The ordered chain of a product's versions.  Make one with :meth:`build`."""

    __slots__ = ("_index", "_nodes", "_strict", "_versions", "_warnings")

    def __init__(
        self,
        versions: tuple[str, ...],
        nodes: Mapping[str, VersionNode],
        *,
        strict: bool,
        warnings: tuple[str, ...] = (),
    ) -> None:
        self._versions = versions
        self._nodes: Mapping[str, VersionNode] = MappingProxyType(dict(nodes))
        self._index = {version: i for i, version in enumerate(versions)}
        self._strict = strict
        self._warnings = warnings

    # -- building -----------------------------------------------------------------

    @classmethod
    def build(cls, nodes: Iterable[VersionNode], *, strict: bool = False) -> Lineage:
        """Order ``nodes`` into a chain, or raise listing every problem (see module doc)."""
        node_list = list(nodes)
        by_version: dict[str, VersionNode] = {}
        duplicates: list[str] = []
        for node in node_list:
            if node.version in by_version:
                if node.version not in duplicates:
                    duplicates.append(node.version)
            else:
                by_version[node.version] = node
        if duplicates:
            raise InvalidInputError(
                "each version may appear only once in a lineage; repeated: "
                + ", ".join(duplicates),
                field="version",
                duplicates=duplicates,
            )

        implicit, warnings = _implicit_order(by_version.values())
        rank = {version: i for i, version in enumerate(implicit)}

        problems: list[dict[str, Any]] = []
        messages: list[str] = []

        # Gaps: a predecessor that is not a version of this product.
        for version in implicit:
            pred = by_version[version].predecessor
            if pred is not None and pred not in by_version:
                problems.append({"problem": "gap", "version": version, "predecessor": pred})
                messages.append(
                    f"version {version} names predecessor {pred}, "
                    "which is not a version of this product (a gap in the chain)"
                )

        # Cycles.
        for cycle in _find_cycles(implicit, by_version, rank):
            problems.append({"problem": "cycle", "version": cycle[0], "versions": cycle})
            if len(cycle) == 1:
                messages.append(f"version {cycle[0]} names itself as its predecessor")
            else:
                chain = " follows ".join([*cycle, cycle[0]])
                messages.append(f"predecessors form a cycle: {chain}")

        # Forks: several versions naming the same predecessor.
        children: dict[str, list[str]] = {}
        roots: list[str] = []
        for version in implicit:
            pred = by_version[version].predecessor
            if pred is None:
                roots.append(version)
            elif pred in by_version:
                children.setdefault(pred, []).append(version)
        for pred in implicit:
            claimants = children.get(pred, [])
            if len(claimants) < 2:
                continue
            names = ", ".join(claimants)
            if strict:
                problems.append({"problem": "fork", "version": pred, "successors": list(claimants)})
                messages.append(
                    f"versions {names} all name {pred} as predecessor (a fork); "
                    "a strict lineage must be a single chain"
                )
            else:
                warnings.append(
                    f"versions {names} all name {pred} as predecessor (a fork); "
                    "they follow it in that order"
                )

        # Strict: only the base may lack a predecessor.
        if strict and len(roots) > 1:
            for version in roots[1:]:
                problems.append({"problem": "no_predecessor", "version": version, "base": roots[0]})
                messages.append(
                    f"version {version} has no predecessor; in a strict lineage only "
                    f"the base ({roots[0]}) may have none"
                )

        if problems:
            count = len(problems)
            raise ConflictError(
                f"the version lineage is broken ({count} problem{'s' if count != 1 else ''}): "
                + "; ".join(messages),
                field="predecessor",
                problems=problems,
            )

        ordered: list[str] = []
        for root in roots:
            stack = [root]
            while stack:
                version = stack.pop()
                ordered.append(version)
                stack.extend(reversed(children.get(version, [])))
        return cls(tuple(ordered), by_version, strict=strict, warnings=tuple(warnings))

    # -- reading ------------------------------------------------------------------

    @property
    def versions(self) -> tuple[str, ...]:
        """Every version, in chain order (base first)."""
        return self._versions

    @property
    def nodes(self) -> Mapping[str, VersionNode]:
        return self._nodes

    @property
    def strict(self) -> bool:
        return self._strict

    @property
    def warnings(self) -> tuple[str, ...]:
        """Non-fatal oddities resolved by rule (forks outside strict mode, precedence ties)."""
        return self._warnings

    @property
    def base(self) -> str:
        """The first version; NotFoundError when the product has no versions."""
        if not self._versions:
            raise NotFoundError("the product has no versions", field="version")
        return self._versions[0]

    @property
    def latest(self) -> str:
        """The last version of the chain; NotFoundError when there are none."""
        if not self._versions:
            raise NotFoundError("the product has no versions", field="version")
        return self._versions[-1]

    def __len__(self) -> int:
        return len(self._versions)

    def __iter__(self) -> Iterator[str]:
        return iter(self._versions)

    def __contains__(self, version: object) -> bool:
        return version in self._index

    def __repr__(self) -> str:
        return f"Lineage({list(self._versions)!r}, strict={self._strict})"

    def index(self, version: str, *, field: str = "version") -> int:
        """Position of ``version`` in the chain (base is 0), or NotFoundError naming ``field``."""
        try:
            return self._index[version]
        except KeyError:
            if not self._versions:
                raise NotFoundError(
                    f"{field} {version} is not a version of this product: "
                    "the product has no versions yet",
                    field=field,
                    version=version,
                ) from None
            raise NotFoundError(
                f"{field} {version} is not a version of this product "
                f"(its {len(self._versions)} version{'s' if len(self._versions) != 1 else ''} "
                f"run from {self._versions[0]} to {self._versions[-1]})",
                field=field,
                version=version,
            ) from None

    def predecessor(self, version: str) -> str | None:
        """The version right before ``version`` in the chain (None for the base)."""
        i = self.index(version)
        return self._versions[i - 1] if i > 0 else None

    def direction(self, from_version: str | None, to_version: str) -> Direction:
        """Which way moving from ``from_version`` (None: nothing yet) to ``to_version`` goes."""
        t = self.index(to_version, field="to_version")
        if from_version is None:
            return Direction.ROLLFORWARD
        f = self.index(from_version, field="from_version")
        if f < t:
            return Direction.ROLLFORWARD
        if f > t:
            return Direction.ROLLBACK
        return Direction.SAME

    def path(self, from_version: str | None, to_version: str) -> tuple[Direction, list[str]]:
        """The versions visited moving from ``from_version`` to ``to_version``.

        * forward: every version after ``from_version`` up to and including
          ``to_version``, ascending;
        * ``from_version`` None (a fresh environment): the base up to and
          including ``to_version``;
        * back: ``from_version`` down to but excluding ``to_version``, descending
          (the target's own state is where the walk ends);
        * same: just ``to_version``.
        """
        direction = self.direction(from_version, to_version)
        t = self._index[to_version]
        if from_version is None:
            return direction, list(self._versions[: t + 1])
        f = self._index[from_version]
        if direction is Direction.ROLLFORWARD:
            return direction, list(self._versions[f + 1 : t + 1])
        if direction is Direction.ROLLBACK:
            return direction, list(reversed(self._versions[t + 1 : f + 1]))
        return direction, [to_version]


def _implicit_order(nodes: Iterable[VersionNode]) -> tuple[list[str], list[str]]:
    """SemVer by precedence, each opaque version after the SemVer versions seen before it."""
    semver: list[tuple[tuple[object, ...], int, str]] = []
    opaque: list[tuple[int, str]] = []
    for node in nodes:
        parsed = parse_semver(node.version)
        if parsed is None:
            opaque.append((node.ordinal, node.version))
        else:
            semver.append((parsed.precedence_key(), node.ordinal, node.version))
    semver.sort(key=lambda item: (item[0], item[1], item[2]))
    opaque.sort()

    warnings: list[str] = []
    for before, after in pairwise(semver):
        if before[0] == after[0]:
            warnings.append(
                f"versions {before[2]} and {after[2]} have the same SemVer precedence; "
                "they are ordered by first appearance"
            )

    # Each opaque version goes right after the highest-ranked SemVer version that
    # appeared before it (slot -1: before all of them); a slot keeps ordinal order.
    by_appearance = sorted(range(len(semver)), key=lambda k: semver[k][1])
    slots: dict[int, list[str]] = {}
    seen = 0
    slot = -1
    for ordinal, version in opaque:  # ascending ordinal
        while seen < len(by_appearance) and semver[by_appearance[seen]][1] < ordinal:
            slot = max(slot, by_appearance[seen])
            seen += 1
        slots.setdefault(slot, []).append(version)
    merged: list[str] = list(slots.get(-1, []))
    for k, item in enumerate(semver):
        merged.append(item[2])
        merged.extend(slots.get(k, []))
    return merged, warnings


def _find_cycles(
    implicit: list[str], by_version: Mapping[str, VersionNode], rank: Mapping[str, int]
) -> list[list[str]]:
    """Every predecessor cycle, each once, starting at its earliest version."""
    done: set[str] = set()
    cycles: list[list[str]] = []
    for start in implicit:
        if start in done:
            continue
        trail: list[str] = []
        on_trail: dict[str, int] = {}
        current: str | None = start
        while current is not None and current in by_version and current not in done:
            if current in on_trail:
                cycle = trail[on_trail[current] :]
                first = min(range(len(cycle)), key=lambda k: rank[cycle[k]])
                cycles.append(cycle[first:] + cycle[:first])
                break
            on_trail[current] = len(trail)
            trail.append(current)
            current = by_version[current].predecessor
        done.update(trail)
    return cycles
