"""Ids from text: one parser for every route, page and flag."""

from __future__ import annotations

import pytest

from shipmate.domain.inputs.fields import parse_id
from shipmate.errors import InvalidInputError


@pytest.mark.parametrize("text", ["0", "42", "999999999999999999"])
def test_ascii_digits_are_ids(text: str) -> None:
    assert parse_id(text, field="id") == int(text)


@pytest.mark.parametrize("text", ["", "-1", "1.0", " 1", "²", "١٢", "1" * 19, "x" * 500])
def test_anything_else_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_id(text, field="before", label="--before", noun="a run id")
    assert err.value.field == "before"
    assert str(err.value).startswith("--before ")
    assert str(err.value).endswith("is not a run id")
    assert len(str(err.value)) < 100  # a long value is cut, not echoed whole
