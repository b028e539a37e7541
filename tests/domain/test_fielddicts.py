"""fields_dict: a record's fields by name, in order, some formatted."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shipmate.domain.fielddicts import fields_dict, optional_str


@dataclass(frozen=True)
class _Record:
    id: int
    name: str
    parent_id: int | None = None
    tags: tuple[str, ...] = ()


def test_fields_come_in_declaration_order_with_their_formatters() -> None:
    record = _Record(7, "api", None, ("a", "b"))
    out = fields_dict(record, id=str, parent_id=optional_str, tags=list)
    assert out == {"id": "7", "name": "api", "parent_id": None, "tags": ["a", "b"]}
    assert list(out) == ["id", "name", "parent_id", "tags"]
    assert fields_dict(_Record(1, "x", 2), parent_id=optional_str)["parent_id"] == "2"


def test_a_formatter_for_no_field_is_a_mistake() -> None:
    with pytest.raises(TypeError, match="has no field nam"):
        fields_dict(_Record(1, "x"), nam=str)
