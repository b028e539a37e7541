"""The row decoder and the record dict: a record from a row, a record's JSON body."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shipmate.domain.record_dicts import id_text, record_dict, time_fields
from shipmate.store.decoding import RowDecoder, json_object


@dataclass(frozen=True)
class _Thing:
    id: int
    product: str
    data: dict[str, Any]
    at: datetime | None
    parts: tuple[str, ...] = field(default=())
    note: str | None = None


class _Row:
    def __init__(self, **values: Any) -> None:
        self._mapping = values


def test_each_field_comes_from_its_column_renamed_and_converted() -> None:
    decode = RowDecoder(
        _Thing,
        columns={"product": "product_name"},
        convert={"id": int, "data": json_object},
        skip=("parts", "note"),
    )
    at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    row = _Row(id="7", product_name="web", data=None, at=at, product="not this one")
    assert decode(row, parts=("a",)) == _Thing(7, "web", {}, at, ("a",))
    assert decode.decode({"id": 8, "product_name": "api", "data": {"k": 1}, "at": None}) == (
        _Thing(8, "api", {"k": 1}, None)
    )


def test_a_record_dict_follows_the_fields_with_formats_keys_and_omissions() -> None:
    thing = _Thing(7, "web", {"k": 1}, datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC))
    body = record_dict(
        thing,
        {"id": id_text, **time_fields("at")},
        keys={"product": "service"},
        omit=("parts",),
    )
    assert body == {
        "id": "7",
        "service": "web",
        "data": {"k": 1},
        "at": "2026-01-02T03:04:05.678Z",
        "note": None,
    }
    assert list(body) == ["id", "service", "data", "at", "note"]
    assert record_dict(_Thing(1, "x", {}, None), time_fields("at"))["at"] is None
