"""Versions as CI hands them: the prefix a tag carries, and base versions that already
name a build."""

from __future__ import annotations

import pytest

from shipmate.domain.versions import (
    reconcile_build_number,
    strip_version_prefix,
    validate_base_version,
)
from shipmate.errors import InvalidInputError


@pytest.mark.parametrize(
    ("text", "prefix", "expected"),
    [
        ("v1.4.0", "v", "1.4.0"),
        ("v1.4.0+build.7", "v", "1.4.0+build.7"),
        ("1.4.0", "v", "1.4.0"),
        ("vnext", "v", "vnext"),
        ("v.1", "v", "v.1"),
        ("v", "v", "v"),
        ("v١", "v", "v١"),  # an Arabic-Indic digit is not a digit here
        ("V1.4.0", "v", "V1.4.0"),
        ("release-2.0", "release-", "2.0"),
        ("v1.4.0", "", "v1.4.0"),
        ("vv1.4.0", "v", "vv1.4.0"),
    ],
)
def test_the_prefix_comes_off_only_before_a_digit(text: str, prefix: str, expected: str) -> None:
    assert strip_version_prefix(text, prefix) == expected


def test_the_default_prefix_is_v() -> None:
    assert strip_version_prefix("v2.0.0") == "2.0.0"


def test_a_base_version_that_names_a_build_is_refused_with_the_base_to_give() -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_base_version("1.4.0+build.3")
    assert err.value.field == "version"
    assert err.value.message == (
        "1.4.0+build.3 already carries build metadata; give the base version 1.4.0"
    )


@pytest.mark.parametrize("text", ["1.4.0", "1.4.0+sha.5114f85", "2026.11-rc", "1.0.0+build"])
def test_base_versions_without_a_build_number_pass(text: str) -> None:
    assert validate_base_version(text) == text


@pytest.mark.parametrize(
    ("named", "given", "expected"),
    [(None, None, None), (7, None, 7), (None, 3, 3), (7, 7, 7)],
)
def test_the_build_number_comes_from_the_version_or_apart(
    named: int | None, given: int | None, expected: int | None
) -> None:
    assert reconcile_build_number(named, given) == expected


@pytest.mark.parametrize(
    ("given_as", "message"),
    [
        ("build", "version names build 7 but build is 8"),
        ("--build", "version names build 7 but --build is 8"),
    ],
)
def test_a_build_number_given_apart_must_match_the_version(given_as: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        reconcile_build_number(7, 8, given_as=given_as)
    assert str(caught.value) == message
    assert caught.value.field == "build"


def test_a_build_number_given_apart_is_validated() -> None:
    with pytest.raises(InvalidInputError, match="build must be a whole number of at least 1"):
        reconcile_build_number(None, 0)
