"""Limits of a JSON document a client sends (metadata), and reading old ones safely.

A write takes a document only when every reader can render it again: at most
:data:`MAX_DEPTH` levels of nesting, at most :data:`MAX_KEYS` keys in one object
and :data:`MAX_ITEMS` items in one array, keys of at most :data:`MAX_KEY_LENGTH`
characters, finite numbers only (no ``NaN`` or ``Infinity``, which JSON itself
does not have), and integers within 64 bits.  :func:`check_document` raises an
InvalidInputError naming the path of the first offending value
(``metadata.a.b[3]``).

Rows an older version stored may break those limits.  :func:`readable` turns
such a value into one every reader can render: a non-finite number becomes its
name as a string (``"NaN"``), and a part nested deeper than the limit becomes
its compact JSON text, so a read never fails on what a write once accepted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from shipmate.errors import InvalidInputError

__all__ = [
    "MAX_DEPTH",
    "MAX_INTEGER",
    "MAX_ITEMS",
    "MAX_KEYS",
    "MAX_KEY_LENGTH",
    "check_document",
    "readable",
]

MAX_DEPTH = 32
MAX_KEYS = 1000
MAX_ITEMS = 10_000
MAX_KEY_LENGTH = 255
#: Integers fit a signed 64-bit number (what every JSON reader and SQL engine takes).
MAX_INTEGER = 2**63 - 1


def _refuse(field: str, path: str, problem: str) -> InvalidInputError:
    return InvalidInputError(f"{path} {problem}", field=field, path=path)


def check_document(value: Any, *, field: str) -> None:
    """Raise InvalidInputError naming ``field`` (and the path) if ``value`` breaks a limit.

    Iterative, so a document nested far deeper than Python's recursion limit is
    refused with a message rather than a RecursionError.
    """
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        if isinstance(item, int):
            if not -MAX_INTEGER - 1 <= item <= MAX_INTEGER:
                raise _refuse(field, path, "is an integer outside the 64-bit range")
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise _refuse(field, path, f"is {item!r}: only finite numbers are allowed")
            continue
        if isinstance(item, Mapping | list | tuple) and depth >= MAX_DEPTH:
            raise _refuse(
                field,
                path,
                f"is nested more than {MAX_DEPTH} levels deep; the limit is {MAX_DEPTH}",
            )
        if isinstance(item, Mapping):
            if len(item) > MAX_KEYS:
                raise _refuse(field, path, f"has {len(item)} keys; the limit is {MAX_KEYS}")
            for key, child in item.items():
                if not isinstance(key, str):
                    raise _refuse(field, path, "has a key that is not a string")
                if len(key) > MAX_KEY_LENGTH:
                    raise _refuse(
                        field,
                        path,
                        f"has a key of {len(key)} characters; the limit is {MAX_KEY_LENGTH}",
                    )
                stack.append((child, f"{path}.{key}", depth + 1))
            continue
        if isinstance(item, list | tuple):
            if len(item) > MAX_ITEMS:
                raise _refuse(field, path, f"has {len(item)} items; the limit is {MAX_ITEMS}")
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
            continue
        raise _refuse(field, path, f"is a {type(item).__name__}, which is not a JSON value")


def _compact(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        return "(nested too deeply to show)"


def readable(value: Any, depth: int = 0) -> Any:
    """``value`` with what a reader cannot render replaced (see the module doc).

    Returns ``value`` itself when nothing needs replacing, so the usual document
    costs one walk and no copy.
    """
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            return _compact(value)
        if isinstance(value, dict):
            changed = {k: readable(v, depth + 1) for k, v in value.items()}
            if all(changed[k] is v for k, v in value.items()):
                return value
            return changed
        items = [readable(v, depth + 1) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items
    return value
