"""run_git: every failure is an outcome with one line saying why."""

from __future__ import annotations

import os
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


def _shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """A ``git`` on PATH that runs ``script`` (a misbehaving git)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "git"
    shim.write_text("#!/bin/sh\n" + script + "\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_a_git_that_hangs_is_stopped_at_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _shim(tmp_path, monkeypatch, "exec sleep 600")
    outcome = run_git("status", timeout=0.2)
    assert not outcome.ok
    assert outcome.problem == "git timed out after 0.2s"


def test_output_is_read_as_subprocess_text_mode_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """UTF-8 with bad bytes replaced, universal newlines; stdin is closed."""
    _shim(tmp_path, monkeypatch, r"cat; printf 'caf\303\251\r\nbad \377\rend\n'")
    outcome = run_git("log", timeout=10)
    assert outcome.ok
    assert outcome.stdout == "café\nbad \ufffd\nend\n"


def test_a_failing_git_keeps_its_output_and_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _shim(tmp_path, monkeypatch, "echo partial; exit 3")
    outcome = run_git("log", timeout=10)
    assert not outcome.ok
    assert (outcome.stdout, outcome.problem) == ("partial\n", "git exited 3")


def test_git_runs_in_the_folder_given(tmp_path: Path) -> None:
    inner = tmp_path / "a b"
    inner.mkdir()
    outcome = run_git("rev-parse", "--show-prefix", cwd=inner, timeout=10)
    assert "git repository" in (outcome.problem or "")  # it looked from there, not here
