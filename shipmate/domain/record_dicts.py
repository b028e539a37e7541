"""A frozen record's JSON body built from its dataclass fields.

Most records render as their fields in declaration order, a few of them through a
formatter (an id as text, a time as RFC 3339), some under another key or left
out.  :func:`record_dict` is that loop, so a record's ``to_dict`` names only what
differs from its fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from shipmate.domain.inputs.fields import format_time

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["Formats", "id_text", "record_dict", "time_fields"]

#: Per field name, the function its value goes through on the way out.
Formats = dict[str, Callable[[Any], Any]]


def id_text(value: int | None) -> str | None:
    """An id as the edges show it: text (None stays None)."""
    return None if value is None else str(value)


def time_fields(*names: str) -> Formats:
    """``format_time`` as the formatter of each of ``names``."""
    return dict.fromkeys(names, format_time)


def record_dict(
    record: DataclassInstance,
    formats: Mapping[str, Callable[[Any], Any]] | None = None,
    *,
    keys: Mapping[str, str] | None = None,
    omit: Iterable[str] = (),
) -> dict[str, Any]:
    """Every field of ``record`` in declaration order, but those in ``omit``: under
    the key ``keys`` gives it (else its name), through its formatter in ``formats``
    (else as it is)."""
    formatters = formats or {}
    renamed = keys or {}
    left_out = set(omit)
    body: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        if f.name in left_out:
            continue
        value = getattr(record, f.name)
        to = formatters.get(f.name)
        body[renamed.get(f.name, f.name)] = value if to is None else to(value)
    return body
