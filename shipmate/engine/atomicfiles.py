"""Replacing a file or a symlink so that readers see the old one or the new one, never neither.

Both work the same way: build the new entry under a temporary name in the *same*
directory (a rename is only atomic within one file system), make it durable, then
``os.replace`` it over the old name, then sync the directory so the rename itself
survives a crash.  Nothing is ever deleted first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["fsync_dir", "replace_symlink", "write_file_atomic"]


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomic(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` through a synced temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}")
    with _renamed_over(tmp, path):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)


def replace_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` with one rename of a new symlink over it."""
    tmp = link.with_name(f"{link.name}.tmp-{secrets.token_hex(6)}")
    with _renamed_over(tmp, link):
        os.symlink(target, tmp)


@contextlib.contextmanager
def _renamed_over(tmp: Path, path: Path) -> Iterator[None]:
    """Once the block has built ``tmp``, rename it over ``path`` and sync the folder.

    When the block or the rename fails, ``tmp`` is removed and ``path`` is untouched.
    """
    try:
        yield
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)
