"""A frozen record's JSON form, built from its dataclass fields, and the way back.

Most ``to_dict`` methods give every field under its own name, in the order the
class declares them, a few of them formatted (times as RFC 3339, ids as strings).
:func:`fields_dict` says exactly that, so a ``to_dict`` names only what it formats.

The other way, a record (or a call's keyword arguments) is often built from a row,
another record or parsed arguments holding the same names: :func:`record_from`
reads every field it is not given from the source by name, :func:`named` the
names it lists, so the code names only what it computes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["fields_dict", "named", "optional_str", "record_from"]

R = TypeVar("R", bound="DataclassInstance")


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


def record_from(cls: type[R], source: object, **given: Any) -> R:
    """A ``cls`` with the fields ``given``, every other field read from ``source`` by name.

    A field ``source`` does not have is an error (``AttributeError``), default or not:
    nothing is filled in silently.
    """
    names = [f.name for f in fields(cls) if f.init]
    unknown = set(given) - set(names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    values = {name: getattr(source, name) for name in names if name not in given}
    return cls(**values, **given)


def named(source: object, *names: str) -> dict[str, Any]:
    """``{name: source.name}`` for each of ``names``: keyword arguments taken as they are."""
    return {name: getattr(source, name) for name in names}


def optional_str(value: object) -> str | None:
    """An id as JSON gives it (a string), or None."""
    return None if value is None else str(value)
