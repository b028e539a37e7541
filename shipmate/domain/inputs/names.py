"""The one charset of product, environment, version and slot names.

A name a client sends may end up as a folder (``<state_dir>/<product>``), a file
(``<releases>/<version>/bin/app``), a container name or an argument of a command,
so a *new* name uses only what is safe in all of them: letters, digits and
``. _ - +``, starting with a letter or digit (SemVer's characters plus ``_``, and
what real clients send).  That excludes ``/`` and ``\\`` (so no name is ever a
path of several segments, nor ``..``), ``:`` and ``@``, whitespace, control
characters and a leading ``-`` (which a command would read as an option).

Names stored before the rule existed may hold more (``team/api``,
``@scope/pkg``, ``1.0.0/../x``).  They stay readable: lookups take the wider
legacy charset (:func:`validate_lookup_name`); writes take only the rule
(:func:`validate_new_name`); ``shipmate db check`` lists the old ones
(:func:`name_problem`).  API key and gate rule names have their own, wider rule
(:mod:`shipmate.domain.inputs.segments`).
"""

from __future__ import annotations

import re

from shipmate.errors import InvalidInputError

__all__ = [
    "NAME_RULE",
    "charset_error",
    "name_problem",
    "path_component",
    "required_text",
    "validate_lookup_name",
    "validate_new_name",
]

#: The rule, as every message and the docs say it.
NAME_RULE = "letters, digits and . _ - +, starting with a letter or digit"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+\-]*")
#: What older versions accepted for product and environment names; reads take it.
_LEGACY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-/@:+~]*")


def name_problem(name: str) -> str | None:
    """Why ``name`` breaks the charset (a short phrase), or None when it keeps it."""
    if _NAME.fullmatch(name):
        return None
    bad = next((c for c in name if not (c.isascii() and (c.isalnum() or c in "._+-"))), None)
    if bad is not None:
        if bad in "/\\":
            return f"contains {bad!r}, so it would be a path"
        if not bad.isprintable():
            return f"contains the control character {bad!r}"
        return f"contains {bad!r}"
    if not name:
        return "is empty"
    return f"starts with {name[0]!r}"


def charset_error(field: str, value: str, problem: str, *, what: str = "name") -> InvalidInputError:
    """The refusal of ``value`` for breaking the name charset; ``problem`` says how."""
    return InvalidInputError(
        f"{field} {value!r} {problem}: a {what} may contain only {NAME_RULE}",
        field=field,
        rule=NAME_RULE,
    )


def required_text(value: object, *, field: str, max_length: int) -> str:
    """A string that is not blank, stripped, at most ``max_length`` long; or InvalidInputError."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be a string", field=field)
    name = value.strip()
    if not name:
        raise InvalidInputError(f"{field} must not be empty", field=field)
    if len(name) > max_length:
        raise InvalidInputError(
            f"{field} is {len(name)} characters long; the limit is {max_length}", field=field
        )
    return name


def validate_new_name(value: object, *, field: str, max_length: int = 100) -> str:
    """A name a write stores: the charset, or InvalidInputError naming ``field`` and the rule."""
    name = required_text(value, field=field, max_length=max_length)
    problem = name_problem(name)
    if problem is not None:
        raise charset_error(field, name, problem)
    return name


def validate_lookup_name(value: object, *, field: str, max_length: int = 255) -> str:
    """A name a read looks up: the charset, or one an older version may have stored."""
    name = required_text(value, field=field, max_length=max_length)
    if not _LEGACY.fullmatch(name):
        raise charset_error(field, name, "is not a name")
    return name


def path_component(name: str) -> str:
    """``name`` as one path component, the same for no two names.

    A name in the charset is itself (``api``, ``1.4.0+build.7``); every other
    character, and ``%`` itself, becomes ``%XX`` of its UTF-8 bytes, so ``a/b``,
    ``a:b`` and ``a_b`` get three folders (``a%2Fb``, ``a%3Ab``, ``a_b``).  A name
    that is only dots is encoded whole, so it is never ``.`` or ``..``.
    """
    if _NAME.fullmatch(name):
        return name
    if name and set(name) == {"."}:
        return "%2E" * len(name)
    out: list[str] = []
    for char in name:
        if char.isascii() and (char.isalnum() or char in "._+-"):
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode())
    return "".join(out)
