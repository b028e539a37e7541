"""Lineage: ordering of a product's versions, explicit predecessors, broken chains."""

from __future__ import annotations

import pytest

from shipmate.domain.releases.lineage import Direction, Lineage, VersionNode
from shipmate.errors import ConflictError, InvalidInputError, NotFoundError


def chain(*versions: str) -> Lineage:
    return Lineage.build(VersionNode(v, i) for i, v in enumerate(versions, start=1))


# -- implicit order ---------------------------------------------------------------


def test_semver_versions_order_by_precedence_not_appearance() -> None:
    lineage = chain("1.2.0", "1.0.0", "1.10.0", "1.1.0", "1.9.0")
    assert lineage.versions == ("1.0.0", "1.1.0", "1.2.0", "1.9.0", "1.10.0")
    assert lineage.base == "1.0.0"
    assert lineage.latest == "1.10.0"


def test_prerelease_sorts_before_its_release() -> None:
    lineage = chain("1.0.0", "1.0.0-rc.2", "1.0.0-rc.1", "0.9.0", "1.0.0-rc.10", "1.0.0-beta")
    assert lineage.versions == (
        "0.9.0",
        "1.0.0-beta",
        "1.0.0-rc.1",
        "1.0.0-rc.2",
        "1.0.0-rc.10",
        "1.0.0",
    )


def test_build_metadata_is_ignored_and_ties_break_by_first_appearance() -> None:
    lineage = chain("1.0.0+b", "1.1.0", "1.0.0+a")
    assert lineage.versions == ("1.0.0+b", "1.0.0+a", "1.1.0")
    assert lineage.warnings == (
        "versions 1.0.0+b and 1.0.0+a have the same SemVer precedence; "
        "they are ordered by first appearance",
    )


def test_opaque_versions_order_by_ordinal() -> None:
    lineage = Lineage.build(
        [VersionNode("c3f9e1a", 7), VersionNode("0a1b2c3", 3), VersionNode("9f8e7d6", 5)]
    )
    assert lineage.versions == ("0a1b2c3", "9f8e7d6", "c3f9e1a")
    assert lineage.base == "0a1b2c3"


def test_opaque_then_semver_keeps_first_appearance_between_kinds() -> None:
    lineage = Lineage.build(
        [
            VersionNode("1.1.0", 4),
            VersionNode("sha-one", 1),
            VersionNode("1.0.0", 3),
            VersionNode("sha-two", 2),
            VersionNode("1.0.1", 6),  # hotfix published after 1.1.0
            VersionNode("nightly", 5),
        ]
    )
    assert lineage.versions == ("sha-one", "sha-two", "1.0.0", "1.0.1", "1.1.0", "nightly")


def test_version_node_knows_semver() -> None:
    assert VersionNode("1.2.3-rc.1", 1).is_semver is True
    assert VersionNode("2026.11-rc", 1).is_semver is False


# -- explicit predecessors --------------------------------------------------------


def test_explicit_predecessors_override_implicit_order() -> None:
    lineage = Lineage.build(
        [
            VersionNode("1.0.0", 1),
            VersionNode("1.1.0", 2),
            VersionNode("1.2.0", 3, predecessor="1.0.0"),
        ]
    )
    assert lineage.versions == ("1.0.0", "1.2.0", "1.1.0")
    assert lineage.predecessor("1.1.0") == "1.2.0"
    assert lineage.predecessor("1.0.0") is None


def test_fully_explicit_opaque_chain_follows_its_predecessors() -> None:
    lineage = Lineage.build(
        [
            VersionNode("gamma", 1, predecessor="beta"),
            VersionNode("alpha", 2),
            VersionNode("beta", 3, predecessor="alpha"),
        ],
        strict=True,
    )
    assert lineage.versions == ("alpha", "beta", "gamma")
    assert lineage.base == "alpha"


def test_explicit_subchain_is_spliced_after_its_predecessor() -> None:
    lineage = Lineage.build(
        [
            VersionNode("1.0.0", 1),
            VersionNode("1.1.0", 2),
            VersionNode("1.2.0", 3),
            VersionNode("hotfix-a", 4, predecessor="1.1.0"),
            VersionNode("hotfix-b", 5, predecessor="hotfix-a"),
        ]
    )
    assert lineage.versions == ("1.0.0", "1.1.0", "hotfix-a", "hotfix-b", "1.2.0")


def test_lenient_fork_is_resolved_and_reported_as_warning() -> None:
    lineage = Lineage.build(
        [
            VersionNode("1.0.0", 1),
            VersionNode("1.2.0", 3, predecessor="1.0.0"),
            VersionNode("1.1.0", 2, predecessor="1.0.0"),
            VersionNode("1.1.1", 4, predecessor="1.1.0"),
        ]
    )
    assert lineage.versions == ("1.0.0", "1.1.0", "1.1.1", "1.2.0")
    assert lineage.warnings == (
        "versions 1.1.0, 1.2.0 all name 1.0.0 as predecessor (a fork); they follow it in that order",
    )


# -- broken chains ----------------------------------------------------------------


def test_strict_lineage_with_a_gap_is_refused_naming_the_gap() -> None:
    with pytest.raises(ConflictError) as caught:
        Lineage.build(
            [
                VersionNode("1.0.0", 1),
                VersionNode("1.1.0", 2, predecessor="1.0.0"),
                VersionNode("1.3.0", 4, predecessor="1.2.0"),
            ],
            strict=True,
        )
    error = caught.value
    assert error.field == "predecessor"
    assert error.message == (
        "the version lineage is broken (1 problem): version 1.3.0 names predecessor "
        "1.2.0, which is not a version of this product (a gap in the chain)"
    )
    assert error.details["problems"] == [
        {"problem": "gap", "version": "1.3.0", "predecessor": "1.2.0"}
    ]


def test_gap_is_refused_in_lenient_mode_too() -> None:
    with pytest.raises(ConflictError, match=r"version 1\.1\.0 names predecessor 0\.9\.0"):
        Lineage.build([VersionNode("1.0.0", 1), VersionNode("1.1.0", 2, predecessor="0.9.0")])


def test_strict_lineage_lists_every_problem() -> None:
    with pytest.raises(ConflictError) as caught:
        Lineage.build(
            [
                VersionNode("1.0.0", 1),
                VersionNode("1.1.0", 2),  # no predecessor
                VersionNode("1.2.0", 3, predecessor="1.0.0"),
                VersionNode("1.3.0", 4, predecessor="1.0.0"),  # fork with 1.2.0
                VersionNode("1.4.0", 5, predecessor="1.5.0"),  # cycle 1.4.0 <-> 1.5.0
                VersionNode("1.5.0", 6, predecessor="1.4.0"),
                VersionNode("2.0.0", 7, predecessor="1.9.9"),  # gap
                VersionNode("2.1.0", 8),  # no predecessor
            ],
            strict=True,
        )
    error = caught.value
    assert [(p["problem"], p["version"]) for p in error.details["problems"]] == [
        ("gap", "2.0.0"),
        ("cycle", "1.4.0"),
        ("fork", "1.0.0"),
        ("no_predecessor", "1.1.0"),
        ("no_predecessor", "2.1.0"),
    ]
    assert error.message.startswith("the version lineage is broken (5 problems): ")
    for fragment in (
        "version 2.0.0 names predecessor 1.9.9",
        "predecessors form a cycle: 1.4.0 follows 1.5.0 follows 1.4.0",
        "versions 1.2.0, 1.3.0 all name 1.0.0 as predecessor (a fork)",
        "version 1.1.0 has no predecessor; in a strict lineage only the base (1.0.0)",
        "version 2.1.0 has no predecessor",
    ):
        assert fragment in error.message


def test_self_predecessor_is_a_cycle() -> None:
    with pytest.raises(ConflictError) as caught:
        Lineage.build([VersionNode("1.0.0", 1), VersionNode("1.1.0", 2, predecessor="1.1.0")])
    assert "version 1.1.0 names itself as its predecessor" in caught.value.message
    assert caught.value.details["problems"] == [
        {"problem": "cycle", "version": "1.1.0", "versions": ["1.1.0"]}
    ]


def test_longer_cycle_starts_at_its_earliest_version() -> None:
    with pytest.raises(ConflictError) as caught:
        Lineage.build(
            [
                VersionNode("c", 3, predecessor="b"),
                VersionNode("a", 1, predecessor="c"),
                VersionNode("b", 2, predecessor="a"),
                VersionNode("z", 9),
            ]
        )
    assert "predecessors form a cycle: a follows c follows b follows a" in caught.value.message
    assert len(caught.value.details["problems"]) == 1


def test_duplicate_versions_are_bad_input() -> None:
    with pytest.raises(InvalidInputError) as caught:
        Lineage.build(
            [
                VersionNode("1.0.0", 1),
                VersionNode("1.0.0", 2),
                VersionNode("x", 3),
                VersionNode("x", 4),
            ]
        )
    assert caught.value.field == "version"
    assert caught.value.message.endswith("repeated: 1.0.0, x")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"version": "", "ordinal": 1}, "version"),
        ({"version": " 1.0.0", "ordinal": 1}, "version"),
        ({"version": "1.0.0", "ordinal": "1"}, "ordinal"),
        ({"version": "1.0.0", "ordinal": True}, "ordinal"),
        ({"version": "1.0.0", "ordinal": 1, "predecessor": ""}, "predecessor"),
        ({"version": "1.0.0", "ordinal": 1, "predecessor": "0.9.0 "}, "predecessor"),
    ],
)
def test_bad_version_node_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        VersionNode(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_large_chain_builds_without_recursion() -> None:
    nodes = [VersionNode(f"v{i}", i, predecessor=f"v{i - 1}" if i else None) for i in range(5000)]
    lineage = Lineage.build(reversed(nodes), strict=True)
    assert lineage.versions[0] == "v0"
    assert lineage.versions[-1] == "v4999"
    assert len(lineage) == 5000


# -- paths ------------------------------------------------------------------------


def test_path_forward_visits_versions_after_from_up_to_target() -> None:
    lineage = chain("1.0.0", "1.1.0", "1.2.0", "1.3.0")
    assert lineage.path("1.1.0", "1.3.0") == (Direction.ROLLFORWARD, ["1.2.0", "1.3.0"])


def test_path_from_fresh_environment_starts_at_base_inclusive() -> None:
    lineage = chain("1.0.0", "1.1.0", "1.2.0", "1.3.0")
    assert lineage.path(None, "1.3.0") == (
        Direction.ROLLFORWARD,
        ["1.0.0", "1.1.0", "1.2.0", "1.3.0"],
    )
    assert lineage.path(None, "1.0.0") == (Direction.ROLLFORWARD, ["1.0.0"])


def test_path_back_visits_from_down_to_but_excluding_target() -> None:
    lineage = chain("1.0.0", "1.1.0", "1.2.0", "1.3.0")
    assert lineage.path("1.3.0", "1.1.0") == (Direction.ROLLBACK, ["1.3.0", "1.2.0"])
    assert lineage.path("1.1.0", "1.0.0") == (Direction.ROLLBACK, ["1.1.0"])


def test_path_same_visits_the_target_only() -> None:
    lineage = chain("1.0.0", "1.1.0")
    assert lineage.path("1.1.0", "1.1.0") == (Direction.SAME, ["1.1.0"])


def test_path_follows_explicit_order_not_semver() -> None:
    lineage = Lineage.build(
        [
            VersionNode("1.0.0", 1),
            VersionNode("1.1.0", 2),
            VersionNode("1.2.0", 3, predecessor="1.0.0"),
        ]
    )
    assert lineage.path("1.2.0", "1.1.0") == (Direction.ROLLFORWARD, ["1.1.0"])


def test_path_to_unknown_version_is_a_clear_error() -> None:
    lineage = chain("1.0.0", "1.1.0", "1.2.0")
    with pytest.raises(NotFoundError) as caught:
        lineage.path("1.0.0", "9.9.9")
    assert caught.value.field == "to_version"
    assert caught.value.message == (
        "to_version 9.9.9 is not a version of this product (its 3 versions run from 1.0.0 to 1.2.0)"
    )
    with pytest.raises(NotFoundError) as caught_from:
        lineage.path("0.1.0", "1.0.0")
    assert caught_from.value.field == "from_version"


def test_empty_lineage_has_no_base() -> None:
    lineage = Lineage.build([])
    assert len(lineage) == 0
    with pytest.raises(NotFoundError, match="the product has no versions"):
        _ = lineage.base
    with pytest.raises(NotFoundError, match="no versions yet"):
        lineage.path(None, "1.0.0")


def test_opaque_version_follows_the_highest_semver_seen_before_it() -> None:
    lineage = Lineage.build(
        [
            VersionNode("2.0.0", 1),
            VersionNode("abc", 2),
            VersionNode("1.0.0", 3),
            VersionNode("def", 4),
        ]
    )
    assert lineage.versions == ("1.0.0", "2.0.0", "abc", "def")
