"""The README's first command: the demo story runs and prints the matrix, history and stats."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipmate.cli import main


def test_demo_story(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--dir", str(tmp_path / "demo"), "--reset", "--no-serve"]) == 0
    out = capsys.readouterr().out
    assert "What runs where" in out and "payments-api" in out and "storefront" in out
    assert "rolled_back" in out or "rolled back" in out
    assert "Success rate" in out
    # Re-running on the existing database reuses it.
    assert main(["demo", "--dir", str(tmp_path / "demo"), "--no-serve"]) == 0
    assert "Using the existing demo database" in capsys.readouterr().out
