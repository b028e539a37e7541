"""The README's first command: the demo story runs and prints the matrix, history and stats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipmate.cli import main


def test_demo_story(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--dir", str(tmp_path / "demo"), "--reset", "--no-serve"]) == 0
    out = capsys.readouterr().out
    assert "What runs where" in out and "payments-api" in out and "storefront" in out
    assert "Success rate" in out
    db = f"sqlite:///{tmp_path / 'demo' / 'shipmate.db'}"
    assert main(["--database-url", db, "history", "--status", "rolled_back", "--json"]) == 0
    rolled = json.loads(capsys.readouterr().out)["items"]
    assert [(d["product"], d["full_version"], d["environment"]) for d in rolled] == [
        ("payments-api", "1.3.0+build.1", "production")
    ]
    assert main(["--database-url", db, "history", "--status", "failed", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["items"]) == 1
    # Re-running on the existing database reuses it.
    assert main(["demo", "--dir", str(tmp_path / "demo"), "--no-serve"]) == 0
    assert "Using the existing demo database" in capsys.readouterr().out
