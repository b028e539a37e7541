"""docs/errors.md lists exactly the metadata keys shipmate reserves, on deployments
and on builds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from shipmate.domain.inputs.reservedkeys import RESERVED_BUILD_METADATA_KEYS, RESERVED_METADATA_KEYS
from tests.test_docs import _keys, marked_table

DOCS = Path(__file__).resolve().parent.parent / "docs"


def reserved_keys_problems(
    doc: str, table: str = "reserved-keys", reserved: Mapping[str, str] = RESERVED_METADATA_KEYS
) -> list[str]:
    rows = marked_table(doc, table)
    if rows is None:
        return [f"docs/errors.md has no table marked <!-- test_docs: {table} -->"]
    documented = {keys[0] for row in rows if (keys := _keys(row[0]))}
    problems = [
        f"docs/errors.md: reserved key `{key}` has no row in {table}"
        for key in reserved
        if key not in documented
    ]
    problems += [
        f"docs/errors.md documents `{key}` in {table}, which shipmate does not reserve"
        for key in sorted(documented - set(reserved))
    ]
    return problems


def test_reserved_keys_are_documented() -> None:
    assert reserved_keys_problems((DOCS / "errors.md").read_text()) == []


def test_reserved_keys_check_notices_a_missing_row() -> None:
    doc = (DOCS / "errors.md").read_text().replace("| `unlocked` |", "| `unlockedx` |")
    assert reserved_keys_problems(doc) == [
        "docs/errors.md: reserved key `unlocked` has no row in reserved-keys",
        "docs/errors.md documents `unlockedx` in reserved-keys, which shipmate does not reserve",
    ]


def test_reserved_build_keys_are_documented() -> None:
    doc = (DOCS / "errors.md").read_text()
    assert reserved_keys_problems(doc, "reserved-build-keys", RESERVED_BUILD_METADATA_KEYS) == []


def test_reserved_build_keys_check_notices_a_missing_row() -> None:
    doc = (DOCS / "errors.md").read_text().replace("| `built_by_name` |", "| `built_by` |")
    assert reserved_keys_problems(doc, "reserved-build-keys", RESERVED_BUILD_METADATA_KEYS) == [
        "docs/errors.md: reserved key `built_by_name` has no row in reserved-build-keys",
        "docs/errors.md documents `built_by` in reserved-build-keys, which shipmate does not "
        "reserve",
    ]
