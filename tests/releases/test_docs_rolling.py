"""docs/rolling.md's command reference matches the parser (same check as docs/cli.md).

The sections are written in docs/cli.md's format, so they can move there as they are.
"""

from __future__ import annotations

from shipmate.cli import build_parser
from tests.test_docs import cli_problems, read_doc

OURS = ("`shipmate plan", "`shipmate release")


def test_rolling_reference_documents_every_release_command_and_flag() -> None:
    problems = [
        p
        for p in cli_problems(read_doc("rolling.md"), build_parser())
        if any(name in p for name in OURS)
    ]
    assert problems == []


def test_the_check_notices_a_missing_flag() -> None:
    doc = read_doc("rolling.md").replace(
        "| `--output` | print each action's output too | off |\n", ""
    )
    problems = cli_problems(doc, build_parser())
    assert "`shipmate release log`: `--output` has no row in its table in docs/cli.md" in problems
