"""docs/errors.md lists exactly the metadata keys shipmate reserves."""

from __future__ import annotations

from pathlib import Path

from shipmate.domain.inputs.reservedkeys import RESERVED_METADATA_KEYS
from tests.test_docs import _keys, marked_table

DOCS = Path(__file__).resolve().parent.parent / "docs"


def reserved_keys_problems(doc: str) -> list[str]:
    rows = marked_table(doc, "reserved-keys")
    if rows is None:
        return ["docs/errors.md has no table marked <!-- test_docs: reserved-keys -->"]
    documented = {keys[0] for row in rows if (keys := _keys(row[0]))}
    problems = [
        f"docs/errors.md: reserved key `{key}` has no row"
        for key in RESERVED_METADATA_KEYS
        if key not in documented
    ]
    problems += [
        f"docs/errors.md documents `{key}`, which shipmate does not reserve"
        for key in sorted(documented - set(RESERVED_METADATA_KEYS))
    ]
    return problems


def test_reserved_keys_are_documented() -> None:
    assert reserved_keys_problems((DOCS / "errors.md").read_text()) == []


def test_reserved_keys_check_notices_a_missing_row() -> None:
    doc = (DOCS / "errors.md").read_text().replace("| `unlocked` |", "| `unlockedx` |")
    assert reserved_keys_problems(doc) == [
        "docs/errors.md: reserved key `unlocked` has no row",
        "docs/errors.md documents `unlockedx`, which shipmate does not reserve",
    ]
