"""Environment kinds: inferred from the name unless set; they order promotion."""

from __future__ import annotations

import re
from enum import StrEnum

from shipmate.domain.inputs.choices import parse_choice

__all__ = ["EnvironmentKind", "infer_kind", "parse_kind"]


class EnvironmentKind(StrEnum):
    DEV = "dev"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {
    EnvironmentKind.DEV: 0,
    EnvironmentKind.TEST: 1,
    EnvironmentKind.STAGING: 2,
    EnvironmentKind.PRODUCTION: 3,
}

# Checked in order; the first whose token appears in the name wins.
_PATTERNS: list[tuple[EnvironmentKind, re.Pattern[str]]] = [
    (EnvironmentKind.PRODUCTION, re.compile(r"(^|[^a-z])(prod|production|prd|live)([^a-z]|$)")),
    (
        EnvironmentKind.STAGING,
        re.compile(r"(^|[^a-z])(stag|stage|staging|stg|preprod|uat|pre)([^a-z]|$)"),
    ),
    (
        EnvironmentKind.TEST,
        re.compile(r"(^|[^a-z])(test|testing|qa|tst|ci|sit|int|integration)([^a-z]|$)"),
    ),
    (
        EnvironmentKind.DEV,
        re.compile(r"(^|[^a-z])(dev|develop|development|local|sandbox)([^a-z]|$)"),
    ),
]


def infer_kind(name: str) -> EnvironmentKind:
    """``prod-eu`` is production, ``staging`` staging, ``qa`` test; unknown names are dev."""
    lowered = name.lower()
    if lowered.startswith(("preprod", "pre-prod")):
        return EnvironmentKind.STAGING
    for kind, pattern in _PATTERNS:
        if pattern.search(lowered):
            return kind
    return EnvironmentKind.DEV


def parse_kind(value: str, *, field: str = "kind") -> EnvironmentKind:
    return parse_choice(EnvironmentKind, value, field=field, what="an environment kind")
