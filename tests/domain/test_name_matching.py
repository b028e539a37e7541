"""Near misses of known names, and what each [catalog] mode does with a new name."""

from __future__ import annotations

import pytest

from shipmate.domain.name_matching import (
    UnknownNames,
    edit_distance,
    judge_new_name,
    near_misses,
    parse_unknown_mode,
)


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("production", "production", 0),
        ("production", "prodution", 1),
        ("staging", "stagign", 1),  # one transposition
        ("api", "app", 1),
        ("", "abc", 3),
        ("kitten", "sitting", 3),
    ],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance == edit_distance(b, a)


@pytest.mark.parametrize(
    ("name", "known", "expected"),
    [
        ("prodution", ["dev", "production"], ["production"]),
        ("prdoution", ["production"], ["production"]),  # transposition + deletion
        ("API", ["api", "web"], ["api"]),
        ("Staging", ["staging"], ["staging"]),
        ("stagign", ["staging"], ["staging"]),
        ("app", ["api"], []),  # short names: only case counts
        ("api-v2", ["api-v1"], []),  # numbered siblings are not typos
        ("eu-2", ["eu-1"], []),
        ("billing", ["api", "web"], []),
        ("api", ["api", "API"], []),  # it exists: nothing to suggest
    ],
)
def test_near_misses(name: str, known: list[str], expected: list[str]) -> None:
    assert near_misses(name, known) == expected


def test_a_near_miss_is_refused_in_every_mode_unless_declared_or_created() -> None:
    for mode in UnknownNames:
        verdict = judge_new_name("environment", "prodution", ["production"], mode=mode)
        assert verdict.refusal is not None
        assert "did you mean 'production'" in verdict.refusal
        assert "--create" in verdict.refusal
        assert verdict.suggestions == ("production",)
        for allowed in (
            judge_new_name("environment", "prodution", ["production"], mode=mode, create=True),
            judge_new_name(
                "environment", "prodution", ["production"], mode=mode, declared=["prodution"]
            ),
        ):
            assert allowed.refusal is None


def test_the_near_miss_check_can_be_turned_off() -> None:
    verdict = judge_new_name("product", "API", ["api"], check_near_misses=False)
    assert verdict.refusal is None


def test_a_genuinely_new_name_per_mode() -> None:
    create = judge_new_name("product", "billing", ["api"], mode=UnknownNames.CREATE)
    warn = judge_new_name("product", "billing", ["api"], mode=UnknownNames.WARN)
    refuse = judge_new_name("product", "billing", ["api"], mode=UnknownNames.REFUSE)
    assert (create.refusal, create.warning) == (None, None)
    assert warn.refusal is None and warn.warning == "created a new product 'billing'"
    assert refuse.refusal is not None and "declared" in refuse.refusal


def test_parse_unknown_mode() -> None:
    assert parse_unknown_mode(" Warn ") is UnknownNames.WARN
    with pytest.raises(ValueError, match="create, warn, refuse"):
        parse_unknown_mode("sometimes")
