"""The project on disk: its version, and what the local git checkout says.

This is the I/O wrapper around :mod:`shipmate.domain.versionfiles` and
:mod:`shipmate.domain.ci`: it reads files, runs ``git`` and reads the environment
mapping it is given.

Version lookup (:func:`find_project_version`) walks the configured sources in order
(``version_sources``, e.g. ``pyproject.toml``, ``package.json``, ..., ``git``); the
first that yields a version wins.  A missing file, or a file that states no version,
is skipped; a file that is present but malformed stops the search with
:class:`InvalidInputError` naming the file, because silently taking the next source
would record the wrong version.  ``git`` means ``git describe --tags --abbrev=0``
(the nearest tag), falling back to ``git describe --tags``.

Git is always run with a 5 second timeout, ``LC_ALL=C``, no terminal prompts
(``GIT_TERMINAL_PROMPT=0``), stdin closed and no optional locks, so it can never hang
a CI job or touch the index.  :func:`local_git_info` never raises: no git, no
repository, or a repository git refuses to read (``safe.directory``) all give an
empty :class:`CiInfo`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from shipmate.domain.ci import CiInfo, detect_ci, strip_url_credentials
from shipmate.domain.versionfiles import (
    GIT_SOURCE,
    parse_git_describe,
    parse_version_file,
    validate_version_sources,
)
from shipmate.domain.versions import DEFAULT_VERSION_PREFIX, strip_version_prefix
from shipmate.engine.git import run_git
from shipmate.errors import InvalidInputError, NotFoundError

__all__ = [
    "GIT_TIMEOUT_SECONDS",
    "collect_ci_info",
    "commit_time",
    "find_project_version",
    "local_git_info",
]

GIT_TIMEOUT_SECONDS = 5.0


def find_project_version(
    cwd: Path, sources: Sequence[str], prefix: str = DEFAULT_VERSION_PREFIX
) -> tuple[str, str]:
    """``(version, source)`` from the first of ``sources`` that states a version.

    File names are relative to ``cwd``; the word ``git`` asks git for the nearest tag.
    ``prefix`` (the ``version_prefix`` setting) comes off what a file or a tag says.
    Raises :class:`InvalidInputError` for an unsupported source name
    (``field="version_sources"``) or a malformed file (``field=<file name>``), and
    :class:`NotFoundError` (``field="version"``, ``details["tried"]``) when no source
    yields a version.
    """
    tried: list[str] = []
    for source in validate_version_sources(sources):
        if source == GIT_SOURCE:
            version, why_not = _version_from_git(cwd, prefix)
        else:
            version, why_not = _version_from_file(cwd, source)
        if version is not None:
            return strip_version_prefix(version, prefix), source
        tried.append(f"{source} ({why_not})")
    raise NotFoundError(
        f"no version found in {cwd}; tried {'; '.join(tried)}. "
        "Pass --version to give it explicitly.",
        field="version",
        tried=tried,
    )


def local_git_info(cwd: Path) -> CiInfo:
    """Commit, branch, origin URL and user name of the git checkout at ``cwd``.

    The branch is ``None`` on a detached HEAD; the origin URL loses any credentials;
    the platform is always ``None``.  Never raises: without git or a repository every
    field is ``None``.
    """
    inside = _git(cwd, "rev-parse", "--is-inside-work-tree")
    if inside.stdout != "true":
        return CiInfo()
    branch = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    if not branch.ok:  # an unborn branch has no HEAD commit yet, but has a name
        branch = _git(cwd, "symbolic-ref", "--short", "-q", "HEAD")
    remote = _git(cwd, "remote", "get-url", "origin").stdout
    return CiInfo(
        commit_sha=_git(cwd, "rev-parse", "--verify", "-q", "HEAD").stdout,
        branch=None if branch.stdout == "HEAD" else branch.stdout,
        actor=_git(cwd, "config", "user.name").stdout,
        repository=strip_url_credentials(remote) if remote else None,
    )


def collect_ci_info(env: Mapping[str, str], cwd: Path) -> CiInfo:
    """What the CI platform says (from ``env``), completed from the local checkout.

    CI variables win field by field; the actor falls back to ``USER`` then ``LOGNAME``
    from ``env`` when neither CI nor ``git config user.name`` names one.  Git itself
    runs with the process environment, not ``env``.
    """
    info = detect_ci(env).merged_over(local_git_info(cwd))
    if info.actor is None:
        fallback = next(
            (env[k].strip() for k in ("USER", "LOGNAME") if env.get(k, "").strip()), None
        )
        info = replace(info, actor=fallback)
    return info


def _version_from_file(cwd: Path, source: str) -> tuple[str | None, str]:
    path = cwd / source
    if not path.is_file():
        return None, "not found"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{source} is not UTF-8 text", field=source) from None
    except OSError as exc:
        raise InvalidInputError(
            f"{source} cannot be read: {exc.strerror or exc}", field=source
        ) from None
    version = parse_version_file(source, text)
    return version, "states no version"


def _version_from_git(cwd: Path, prefix: str) -> tuple[str | None, str]:
    nearest = _git(cwd, "describe", "--tags", "--abbrev=0")
    version = parse_git_describe(nearest.stdout, prefix) if nearest.stdout else None
    if version is not None:
        return version, ""
    described = _git(cwd, "describe", "--tags")
    version = parse_git_describe(described.stdout, prefix) if described.stdout else None
    if version is not None:
        return version, ""
    if described.stdout:
        return None, f"tag {described.stdout!r} holds no version"
    return None, described.problem or nearest.problem or "git describe found no tag"


@dataclass(frozen=True)
class _GitResult:
    ok: bool
    stdout: str | None  # stripped; None when empty or failed
    problem: str | None  # one line saying why it failed


def _git(cwd: Path, *args: str) -> _GitResult:
    outcome = run_git(*args, cwd=cwd, timeout=GIT_TIMEOUT_SECONDS)
    if not outcome.ok:
        return _GitResult(False, None, outcome.problem)
    return _GitResult(True, outcome.stdout.strip() or None, None)


def commit_time(cwd: Path, sha: str | None) -> datetime | None:
    """When ``sha`` was committed, from the local checkout; None when unknown."""
    if not sha:
        return None
    result = _git(cwd, "show", "-s", "--format=%cI", sha)
    if not result.ok or not result.stdout:
        return None
    try:
        return datetime.fromisoformat(result.stdout.strip()).astimezone(UTC)
    except ValueError:
        return None
