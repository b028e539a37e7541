"""run_git: every failure is an outcome with one line saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipmate.engine.git import run_git


def test_a_missing_git_is_said_and_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    outcome = run_git("--version", timeout=10)
    assert not outcome.ok
    assert outcome.git_missing
    assert outcome.problem == "git is not installed"


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    outcome = run_git("status", cwd=missing, timeout=10)
    assert not outcome.ok and not outcome.git_missing
    assert outcome.problem == f"{missing} does not exist"


def test_a_failing_git_gives_its_first_line_without_fatal(tmp_path: Path) -> None:
    outcome = run_git("-C", str(tmp_path), "rev-parse", "HEAD", timeout=10)
    assert not outcome.ok
    assert outcome.problem is not None and not outcome.problem.startswith("fatal:")
    assert "git repository" in outcome.problem


def test_a_working_git_gives_its_output(tmp_path: Path) -> None:
    outcome = run_git("--version", timeout=10)
    assert outcome.ok and outcome.problem is None
    assert outcome.stdout.startswith("git version")
