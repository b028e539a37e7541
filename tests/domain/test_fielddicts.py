"""fields_dict: a record's fields by name, in order, some formatted; record_from and
named: the way back, values read from a source by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from shipmate.domain.fielddicts import fields_dict, named, optional_str, record_from


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


def test_a_record_reads_every_field_it_is_not_given_from_the_source() -> None:
    row = SimpleNamespace(id=3, name="api", parent_id=1, tags=("x",), other="ignored")
    assert record_from(_Record, row) == _Record(3, "api", 1, ("x",))
    assert record_from(_Record, row, id=9, tags=()) == _Record(9, "api", 1, ())


def test_a_field_the_source_lacks_is_an_error_even_with_a_default() -> None:
    with pytest.raises(AttributeError, match="tags"):
        record_from(_Record, SimpleNamespace(id=3, name="api", parent_id=None))
    with pytest.raises(TypeError, match="has no field nam"):
        record_from(_Record, SimpleNamespace(id=3, name="api"), nam="x")


@dataclass(frozen=True)
class _Derived:
    name: str
    length: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "length", len(self.name))


def test_fields_set_after_init_are_not_read() -> None:
    assert record_from(_Derived, SimpleNamespace(name="abc", length=99)).length == 3


def test_named_takes_the_listed_names_as_they_are() -> None:
    source = SimpleNamespace(kind="deploy", product="api", version="1.0")
    assert named(source, "product", "kind") == {"product": "api", "kind": "deploy"}
    with pytest.raises(AttributeError):
        named(source, "environment")
