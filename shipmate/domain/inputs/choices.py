"""Reading one value of a fixed set (an enum) from what a user typed."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from shipmate.errors import InvalidInputError

__all__ = ["parse_choice"]

ChoiceT = TypeVar("ChoiceT", bound=StrEnum)


def parse_choice(choices: type[ChoiceT], value: object, *, field: str, what: str) -> ChoiceT:
    """The member of ``choices`` that ``value`` names, in any case, ``-`` read as ``_``.

    ``what`` names the set with its article (``"a rule mode"``) in the message that
    lists the accepted values.
    """
    if isinstance(value, choices):
        return value
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be a string", field=field)
    try:
        return choices(value.strip().lower().replace("-", "_"))
    except ValueError:
        raise InvalidInputError(
            f"{field} {value!r} is not {what}; use one of {', '.join(c.value for c in choices)}",
            field=field,
        ) from None
