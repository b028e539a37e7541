"""A product's local git repository, and reading it with git.

Where the repository is
=======================

:func:`repository_for` decides, in this order: the ``repo`` argument (``--repo``
on the command line); ``repository = "/path"`` in the product's table,
``[products.<name>]``, of the configuration file (a relative path is relative to
that file's folder); otherwise there is none.  A path that is not a git
repository is an error naming where it came from.  The API never takes a path
from a request: the server reads only the repositories its configuration names.

Reading it
==========

:meth:`LocalRepository.commits` lists ``git log --no-merges`` of a range,
:meth:`LocalRepository.resolve` names the commit a ref stands for and
:meth:`LocalRepository.commit_times` gives the commit times of a range (kept once
found: commits never change).

Git runs with a timeout, ``LC_ALL=C``, no prompts, stdin closed and no optional
locks, and every revision is passed after ``--end-of-options``, so a ref can
never be read as an option.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipmate.config import Settings
from shipmate.domain.changelog import Commit
from shipmate.engine.git import GitOutcome, run_git
from shipmate.errors import ConfigError, InvalidInputError, NotFoundError

__all__ = ["GIT_TIMEOUT_SECONDS", "MAX_RANGE_COMMITS", "LocalRepository", "repository_for"]

GIT_TIMEOUT_SECONDS = 10.0
#: A lead-time range longer than this is cut (the oldest commits are left out).
MAX_RANGE_COMMITS = 10_000
_FIELD_SEP = "\x1f"
_RECORD_SEP = "\x1e"


@dataclass(frozen=True)
class LocalRepository:
    """A git repository on this machine, read with ``git log`` and ``git rev-parse``."""

    path: Path

    def run(self, *args: str) -> GitOutcome:
        outcome = run_git("-C", str(self.path), *args, timeout=GIT_TIMEOUT_SECONDS)
        if outcome.git_missing:
            raise ConfigError(
                "git is not installed; the changelog and lead time read the repository with git",
                field="git",
            )
        return outcome

    def check(self, *, field: str, origin: str) -> LocalRepository:
        """Self, or an error when the path is not a git repository."""
        if not self.path.is_dir():
            raise _bad_repository(field, f"{origin} {self.path} is not a folder")
        result = self.run("rev-parse", "--git-dir")
        if not result.ok:
            raise _bad_repository(
                field, f"{origin} {self.path} is not a git repository ({result.problem})"
            )
        return self

    def resolve(self, ref: str) -> str | None:
        """The full sha of the commit ``ref`` names, or None when git does not know it."""
        if not ref or ref.startswith("-") or any(c in ref for c in "\x00\n\r"):
            return None
        result = self.run(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
        )
        sha = result.stdout.strip()
        return sha if result.ok and sha else None

    def commits(self, start: str | None, end: str, *, limit: int) -> list[Commit]:
        """``git log --no-merges start..end`` (or everything reachable from ``end``), newest first."""
        fmt = _FIELD_SEP.join(("%H", "%cI", "%an", "%s", "%b")) + _RECORD_SEP
        spec = end if start is None else f"{start}..{end}"
        result = self.run(
            "log",
            "--no-merges",
            f"--max-count={limit}",
            f"--format={fmt}",
            "--end-of-options",
            spec,
        )
        if not result.ok:
            raise NotFoundError(
                f"git log {spec} failed in {self.path}: {result.problem}", field="to"
            )
        out: list[Commit] = []
        for record in result.stdout.split(_RECORD_SEP):
            record = record.lstrip("\n")
            if not record.strip():
                continue
            sha, when, author, subject, body = (record.split(_FIELD_SEP, 4) + [""] * 5)[:5]
            out.append(
                Commit(
                    sha=sha.strip(),
                    subject=subject,
                    body=body.strip(),
                    author=author,
                    time=datetime.fromisoformat(when.strip()).astimezone(UTC),
                )
            )
        return out

    def commit_times(self, start: str | None, end: str) -> tuple[datetime, ...] | None:
        """Commit times of every commit in ``start..end`` (or of ``end`` alone).

        None when git knows neither range nor commit.  Merge commits count: each
        commit newly shipped is a change.
        """
        if start is not None:
            found = _cached_range(str(self.path), start, end)
            if found is not None:
                return found
        return _cached_range(str(self.path), None, end)


def _bad_repository(field: str, message: str) -> Exception:
    if field == "repo":
        return InvalidInputError(message, field=field)
    return ConfigError(message, field=field)


_RANGE_CACHE: dict[tuple[str, str | None, str], tuple[datetime, ...]] = {}
_RANGE_CACHE_SIZE = 4096
_RANGE_LOCK = threading.Lock()  # the server reads from several threads


def _cached_range(path: str, start: str | None, end: str) -> tuple[datetime, ...] | None:
    """Commit times of a range; commits never change, so a found range is kept."""
    key = (path, start, end)
    with _RANGE_LOCK:
        cached = _RANGE_CACHE.get(key)
    if cached is not None:
        return cached
    repo = LocalRepository(Path(path))
    if end.startswith("-") or (start is not None and start.startswith("-")):
        return None
    if start is None:
        result = repo.run("log", "-1", "--format=%cI", "--end-of-options", f"{end}^{{commit}}")
    else:
        result = repo.run(
            "log",
            f"--max-count={MAX_RANGE_COMMITS}",
            "--format=%cI",
            "--end-of-options",
            f"{start}..{end}",
        )
    if not result.ok:
        return None
    try:
        times = tuple(
            datetime.fromisoformat(line.strip()).astimezone(UTC)
            for line in result.stdout.splitlines()
            if line.strip()
        )
    except ValueError:
        return None
    if start is None and not times:
        return None
    with _RANGE_LOCK:
        if len(_RANGE_CACHE) >= _RANGE_CACHE_SIZE:
            _RANGE_CACHE.pop(next(iter(_RANGE_CACHE)))
        _RANGE_CACHE[key] = times
    return times


def repository_for(
    settings: Settings, product: str, repo: str | Path | None = None
) -> LocalRepository | None:
    """The local repository of ``product`` (rules in the module docstring), or None."""
    if repo is not None and str(repo).strip():
        return LocalRepository(Path(str(repo)).expanduser().resolve()).check(
            field="repo", origin="--repo"
        )
    table: Any = settings.sections.get("products", {})
    if not isinstance(table, Mapping):
        raise ConfigError("[products] must be a table of product tables", field="products")
    entry = table.get(product)
    if entry is None:
        return None
    key = f"products.{product}.repository"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"[products.{product}] must be a table", field=f"products.{product}")
    value = entry.get("repository")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be a path to a local git repository", field=key)
    path = Path(value).expanduser()
    if not path.is_absolute() and settings.config_file:
        path = Path(settings.config_file).parent / path
    return LocalRepository(path.resolve()).check(field=key, origin=key)
