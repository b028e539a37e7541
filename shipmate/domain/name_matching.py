"""Whether a new product or environment name is a typo of a known one.

A write that names a product or environment nobody has used before creates it.
That is how CI works (the first deployment of a service creates it), but it also
means ``--env prodution`` or ``--product API`` beside ``api`` would become a second
name forever.  :func:`judge_new_name` decides, from the names already known, the
names declared in configuration and the server's ``[catalog] unknown`` mode,
whether a new name is accepted, accepted with a warning, or refused.

A near miss of a known name is:

* the same name ignoring case (``API`` beside ``api``), or
* within a small Damerau-Levenshtein distance (insertions, deletions,
  substitutions and transpositions of adjacent characters, each costing 1):
  at most 2 for names of 8 characters or more (``prodution`` for ``production``),
  at most 1 for names of 4 to 7 (``stagign`` for ``staging``), and only case for
  names of 3 or fewer (one edit turns ``api`` into ``app``, both real names).

Names whose digits differ are never near misses: ``api-v1`` beside ``api-v2``,
``eu-1`` beside ``eu-2`` are numbered siblings, not typos.

Pure: the caller passes in every name it knows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "NameVerdict",
    "UnknownNames",
    "edit_distance",
    "judge_new_name",
    "max_distance",
    "near_misses",
    "parse_unknown_mode",
]

#: How many suggestions a refusal lists at most.
MAX_SUGGESTIONS = 3


class UnknownNames(StrEnum):
    """What a write naming an unknown (never used, not declared) name does.

    In every mode a near miss of a known name is refused unless the name is
    declared or the write asks to create it; ``check_near_misses = false`` is the
    one explicit opt-out of that check.
    """

    #: Create it (the default: CI creates a product on its first deployment).
    CREATE = "create"
    #: Create it, and warn (stderr in the CLI, ``warnings`` in the API's answer).
    WARN = "warn"
    #: Refuse it unless it is declared or the write asks to create it.
    REFUSE = "refuse"


def parse_unknown_mode(value: object) -> UnknownNames:
    """The mode named by ``value``; ``ValueError`` naming the valid ones otherwise."""
    try:
        return UnknownNames(str(value).strip().lower())
    except ValueError:
        valid = ", ".join(m.value for m in UnknownNames)
        raise ValueError(f"must be one of {valid}, not {value!r}") from None


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment) between ``a`` and ``b``."""
    if a == b:
        return 0
    if not a or not b:
        return max(len(a), len(b))
    previous: list[int] | None = None
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            current[j] = min(current[j - 1] + 1, row[j] + 1, row[j - 1] + cost)
            if previous is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous[j - 2] + 1)
        previous, row = row, current
    return row[len(b)]


def max_distance(name: str) -> int:
    """The largest edit distance that still counts as a near miss of ``name``."""
    if len(name) >= 8:
        return 2
    return 1 if len(name) >= 4 else 0


def _digits(name: str) -> str:
    return "".join(c for c in name if c.isdigit())


def near_misses(name: str, known: Iterable[str]) -> list[str]:
    """The known names ``name`` is probably a typo of, closest first (at most three)."""
    folded = name.casefold()
    limit = max_distance(name)
    found: list[tuple[int, str]] = []
    for candidate in known:
        if candidate == name:
            return []
        other = candidate.casefold()
        if other == folded:
            found.append((0, candidate))
            continue
        if abs(len(other) - len(folded)) > limit or _digits(other) != _digits(folded):
            continue
        distance = edit_distance(folded, other)
        if distance <= min(limit, max_distance(candidate)):
            found.append((distance, candidate))
    found.sort()
    return [candidate for _, candidate in found[:MAX_SUGGESTIONS]]


@dataclass(frozen=True, slots=True)
class NameVerdict:
    """What to do with a new name: ``refusal`` set means refuse with that message;
    otherwise create it, printing ``warning`` if set."""

    refusal: str | None = None
    warning: str | None = None
    suggestions: tuple[str, ...] = ()


def _quoted(names: Iterable[str]) -> str:
    return " or ".join(repr(n) for n in names)


def judge_new_name(
    kind: str,
    name: str,
    known: Iterable[str],
    *,
    declared: Iterable[str] = (),
    mode: UnknownNames = UnknownNames.CREATE,
    check_near_misses: bool = True,
    create: bool = False,
) -> NameVerdict:
    """Judge ``name``, a ``kind`` ("product" or "environment") that does not exist yet.

    A declared name, or a write that asks to ``create`` it, is always accepted.
    """
    if create or name in set(declared):
        return NameVerdict()
    close = tuple(near_misses(name, known)) if check_near_misses else ()
    if close:
        return NameVerdict(
            refusal=f"unknown {kind} {name!r}; did you mean {_quoted(close)}? "
            f"(to create {name!r} anyway, pass --create, or declare it in the configuration)",
            suggestions=close,
        )
    if mode is UnknownNames.REFUSE:
        return NameVerdict(
            refusal=f"unknown {kind} {name!r}; this server creates only declared {kind}s "
            f'([catalog] unknown = "refuse"): pass --create, or declare it'
        )
    if mode is UnknownNames.WARN:
        return NameVerdict(warning=f"created a new {kind} {name!r}")
    return NameVerdict()
