"""A frozen record's JSON form, built from its dataclass fields.

Most ``to_dict`` methods give every field under its own name, in the order the
class declares them, a few of them formatted (times as RFC 3339, ids as strings).
:func:`fields_dict` says exactly that, so a ``to_dict`` names only what it formats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["fields_dict", "optional_str"]


def fields_dict(record: DataclassInstance, **formatters: Callable[[Any], Any]) -> dict[str, Any]:
    """Every field of ``record`` by name, in declaration order, through its formatter if any.

    Values are taken as they are (not copied or converted like ``dataclasses.asdict``).
    """
    names = [f.name for f in fields(record)]
    unknown = set(formatters) - set(names)
    if unknown:
        raise TypeError(f"{type(record).__name__} has no field {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(record, name)
        formatter = formatters.get(name)
        out[name] = value if formatter is None else formatter(value)
    return out


def optional_str(value: object) -> str | None:
    """An id as JSON gives it (a string), or None."""
    return None if value is None else str(value)
