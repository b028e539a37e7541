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
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from shipmate.domain.ci import CiInfo, detect_ci, rewritten_url, strip_url_credentials
from shipmate.domain.versionfiles import (
    GIT_SOURCE,
    parse_git_describe,
    parse_version_file,
    validate_version_sources,
)
from shipmate.domain.versionprefix import DEFAULT_VERSION_PREFIX, strip_version_prefix
from shipmate.engine.git import GitOutcome, run_git
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


#: The settings :func:`local_git_info` reads, in one ``git config --get-regexp``.
_CONFIG_KEYS = r"^(user\.name|remote\.origin\.url|url\..*\.insteadof)$"


def local_git_info(cwd: Path) -> CiInfo:
    """Commit, branch, origin URL and user name of the git checkout at ``cwd``.

    The branch is ``None`` on a detached HEAD; the origin URL loses any credentials;
    the platform is always ``None``.  Never raises: without git or a repository every
    field is ``None``.

    Two git calls (outside a checkout, one): ``rev-parse`` says whether ``cwd`` is in a
    work tree, the HEAD commit and the branch; ``config`` gives ``user.name`` and the
    origin URL as ``git remote get-url origin`` says it (its first URL, rewritten by
    the ``url.<base>.insteadOf`` settings).  An unborn branch (no commit yet) takes a
    third, ``symbolic-ref``, for its name.
    """
    head = run_git(
        *("rev-parse", "--is-inside-work-tree", "HEAD", "--abbrev-ref", "HEAD"),
        cwd=cwd,
        timeout=GIT_TIMEOUT_SECONDS,
    )
    lines = head.stdout.splitlines()
    if not lines or lines[0].strip() != "true":
        return CiInfo()
    commit_sha: str | None = None
    if head.ok and len(lines) == 3:
        commit_sha, branch = lines[1].strip() or None, lines[2].strip() or None
    else:  # an unborn branch has no HEAD commit yet, but has a name
        branch = _stdout(run_git(*_SYMBOLIC_HEAD, cwd=cwd, timeout=GIT_TIMEOUT_SECONDS))
    actor, remote = _user_and_origin(cwd)
    return CiInfo(
        commit_sha=commit_sha,
        branch=None if branch == "HEAD" else branch,
        actor=actor,
        repository=strip_url_credentials(remote) if remote else None,
    )


_SYMBOLIC_HEAD = ("symbolic-ref", "--short", "-q", "HEAD")


def _user_and_origin(cwd: Path) -> tuple[str | None, str | None]:
    """``git config user.name`` and ``git remote get-url origin``, from one git call."""
    found = run_git(
        "config", "-z", "--get-regexp", _CONFIG_KEYS, cwd=cwd, timeout=GIT_TIMEOUT_SECONDS
    )
    if not found.ok:
        return None, None
    user = ""
    origin: str | None = None
    instead_of: list[tuple[str, str]] = []
    for entry in found.stdout.split("\0"):
        key, _, value = entry.partition("\n")
        if key == "user.name":
            user = value  # the last one counts, as for ``git config user.name``
        elif key == "remote.origin.url":
            origin = value if origin is None else origin  # the first, as get-url says
        elif key.startswith("url.") and key.endswith(".insteadof"):
            instead_of.append((value, key[len("url.") : -len(".insteadof")]))
    url = rewritten_url(origin, instead_of).strip() if origin is not None else ""
    return user.strip() or None, url or None


def collect_ci_info(env: Mapping[str, str], cwd: Path) -> CiInfo:
    """What the CI platform says (from ``env``), completed from the local checkout.

    CI variables win field by field; the actor falls back to ``USER`` then ``LOGNAME``
    from ``env`` when neither CI nor ``git config user.name`` names one.  Git itself
    runs with the process environment, not ``env``, and only when the CI variables
    leave one of the fields the checkout gives (commit, branch, repository, actor)
    unnamed.
    """
    info = detect_ci(env)
    if None in (info.commit_sha, info.branch, info.repository, info.actor):
        info = info.merged_over(local_git_info(cwd))
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
    nearest = run_git("describe", "--tags", "--abbrev=0", cwd=cwd, timeout=GIT_TIMEOUT_SECONDS)
    nearest_tag = _stdout(nearest)
    version = parse_git_describe(nearest_tag, prefix) if nearest_tag else None
    if version is not None:
        return version, ""
    described = run_git("describe", "--tags", cwd=cwd, timeout=GIT_TIMEOUT_SECONDS)
    described_tag = _stdout(described)
    version = parse_git_describe(described_tag, prefix) if described_tag else None
    if version is not None:
        return version, ""
    if described_tag:
        return None, f"tag {described_tag!r} holds no version"
    return None, described.problem or nearest.problem or "git describe found no tag"


def _stdout(outcome: GitOutcome) -> str | None:
    """What a git call that succeeded printed, stripped; None when empty or failed."""
    return (outcome.stdout.strip() or None) if outcome.ok else None


def commit_time(cwd: Path, sha: str | None) -> datetime | None:
    """When ``sha`` was committed, from the local checkout; None when unknown."""
    if not sha:
        return None
    when = _stdout(run_git("show", "-s", "--format=%cI", sha, cwd=cwd, timeout=GIT_TIMEOUT_SECONDS))
    if not when:
        return None
    try:
        return datetime.fromisoformat(when).astimezone(UTC)
    except ValueError:
        return None
