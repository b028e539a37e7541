"""Atomic file and symlink replacement: the old entry or the new one, and no leftovers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipmate.engine.atomicfiles import replace_symlink, write_file_atomic


def test_a_write_replaces_the_file_with_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "upstream.conf"
    write_file_atomic(path, "old\n")
    write_file_atomic(path, "new\n", mode=0o600)
    assert path.read_text() == "new\n"
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["upstream.conf"]


def test_a_failed_rename_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "taken"
    path.mkdir()
    (path / "inside").write_text("x")  # a non-empty folder cannot be renamed over
    with pytest.raises(OSError):
        write_file_atomic(path, "new\n")
    assert path.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_a_symlink_is_repointed_in_one_rename(tmp_path: Path) -> None:
    link = tmp_path / "current"
    replace_symlink(link, "releases/1.0.0")
    replace_symlink(link, "releases/2.0.0")
    assert os.readlink(link) == "releases/2.0.0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current"]


def test_a_symlink_that_cannot_replace_leaves_no_temporary(tmp_path: Path) -> None:
    link = tmp_path / "current"
    link.mkdir()
    (link / "inside").write_text("x")
    with pytest.raises(OSError):
        replace_symlink(link, "releases/2.0.0")
    assert link.is_dir() and not link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current"]
