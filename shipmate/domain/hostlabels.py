"""A deploy host's labels: ``k=v`` pairs an agent announces (``--label role=web``).

Environments pick hosts by them (a selector ``role=web,zone=a``); here only what a
label is: a name (letters, digits, ``. _ -``, up to 100) and a value (no ``,`` or
``=``, up to 255 characters), at most :data:`MAX_LABELS` of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from shipmate.errors import InvalidInputError

__all__ = ["MAX_LABELS", "parse_label", "validate_labels"]

MAX_LABELS = 50
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _check(name: object, value: object, *, field: str) -> tuple[str, str]:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInputError(
            f"label name {str(name)[:40]!r} must be letters, digits and . _ - (up to 100)",
            field=field,
        )
    if not isinstance(value, str) or len(value) > 255 or "," in value or "=" in value:
        raise InvalidInputError(
            f"label {name}: its value must be text of up to 255 characters without , or =",
            field=field,
        )
    return name, value


def parse_label(text: str, *, field: str = "label") -> tuple[str, str]:
    """``k=v`` as a pair; InvalidInputError naming ``field`` otherwise."""
    name, sep, value = text.partition("=")
    if not sep:
        raise InvalidInputError(f"label {text[:40]!r} must look like name=value", field=field)
    return _check(name.strip(), value.strip(), field=field)


def validate_labels(
    labels: Mapping[str, object] | Iterable[tuple[str, object]], *, field: str = "labels"
) -> dict[str, str]:
    """A host's labels, checked; InvalidInputError naming ``field`` otherwise."""
    pairs = labels.items() if isinstance(labels, Mapping) else labels
    checked = dict(_check(k, v, field=field) for k, v in pairs)
    if len(checked) > MAX_LABELS:
        raise InvalidInputError(f"at most {MAX_LABELS} labels", field=field)
    return checked
