"""Changelogs between two deployed commits, read from a local git repository.

Where the repository is
=======================

:func:`repository_for` decides, in this order: the ``repo`` argument (``--repo``
on the command line); ``repository = "/path"`` in the product's table,
``[products.<name>]``, of the configuration file (a relative path is relative to
that file's folder); otherwise there is none.  A path that is not a git
repository is an error naming where it came from.  The API never takes a path
from a request: the server reads only the repositories its configuration names.

Which commits
=============

:func:`changelog_range` works out the two ends from shipmate's records, without
git:

* **to**: ``to_ref`` when given, else the product's current deployment in the
  environment (see *current state*).
* **from**: ``from_ref`` when given; else, when *to* is a deployment in that
  environment, the completed (or later rolled-back) deployment there that
  finished just before it; else the current deployment there (so ``--to`` alone
  previews what deploying that commit would ship).

A ref is first looked up as a version of the product: a full version
(``1.4.0+build.7``) or a version (``1.4.0``) that was deployed (preferring a
deployment in the environment, newest first), built, or registered with a
commit.  Anything else is taken as a git revision (a commit, tag or branch) and
resolved by the repository.  So a version wins over a git tag of the same name.

:func:`read_changelog` then asks git for ``git log --no-merges from..to``: the
commits reachable from *to* but not from *from*, newest first (merge commits are
left out: they restate the commits they merge), at most :data:`MAX_COMMITS`
(``truncated`` says when there were more), grouped by Conventional Commit type
with :mod:`shipmate.domain.changelog`.  When that is empty because *to* is an
ancestor of *from* (a rollback), the changelog lists ``to..from`` instead, the
commits the move took away, with ``direction = "backward"``.  A commit git does not know (not fetched
yet, or a wrong repository) is a :class:`NotFoundError` naming ``from`` or
``to``.

Git runs with a timeout, ``LC_ALL=C``, no prompts, stdin closed and no optional
locks, and every revision is passed after ``--end-of-options``, so a ref can
never be read as an option.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, case, desc, select

from shipmate.config import Settings
from shipmate.domain import changelog as domain
from shipmate.domain.changelog import Commit, Group
from shipmate.domain.lifecycle import Status
from shipmate.domain.records import DeploymentRecord
from shipmate.errors import ConfigError, InvalidInputError, NotFoundError
from shipmate.services.context import Context
from shipmate.store.catalog import find_environment_id, find_product_id
from shipmate.store.deployments import deployment_select, get_deployment, row_to_deployment
from shipmate.store.schema import builds, current_state, deployments, versions

__all__ = [
    "GIT_TIMEOUT_SECONDS",
    "MAX_COMMITS",
    "Changelog",
    "ChangelogEnd",
    "ChangelogRange",
    "LocalRepository",
    "changelog",
    "changelog_range",
    "deployment_changelog",
    "read_changelog",
    "repository_for",
]

GIT_TIMEOUT_SECONDS = 10.0
#: At most this many commits are listed; ``truncated`` says when there were more.
MAX_COMMITS = 1000
#: A lead-time range longer than this is cut (the oldest commits are left out).
MAX_RANGE_COMMITS = 10_000
_COMPLETED = (Status.COMPLETED.value, Status.ROLLED_BACK.value)
_FIELD_SEP = "\x1f"
_RECORD_SEP = "\x1e"


# -- git ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Git:
    ok: bool
    stdout: str
    problem: str | None


@dataclass(frozen=True)
class LocalRepository:
    """A git repository on this machine, read with ``git log`` and ``git rev-parse``."""

    path: Path

    def run(self, *args: str) -> _Git:
        env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
        try:
            proc = subprocess.run(
                ["git", "-C", str(self.path), *args],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=GIT_TIMEOUT_SECONDS,
                check=False,
            )
        except FileNotFoundError:
            raise ConfigError(
                "git is not installed; the changelog and lead time read the repository with git",
                field="git",
            ) from None
        except subprocess.TimeoutExpired:
            return _Git(False, "", f"git timed out after {GIT_TIMEOUT_SECONDS:g}s")
        except OSError as exc:
            return _Git(False, "", f"git could not run: {exc.strerror or exc}")
        if proc.returncode != 0:
            lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
            problem = lines[0].removeprefix("fatal: ") if lines else f"git exited {proc.returncode}"
            return _Git(False, proc.stdout, problem)
        return _Git(True, proc.stdout, None)

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


# -- the range, from shipmate's records ------------------------------------------------


@dataclass(frozen=True)
class ChangelogEnd:
    """One end of a changelog: what was asked for and what it stands for."""

    ref: str
    sha: str | None = None
    version: str | None = None
    full_version: str | None = None
    deployment_id: int | None = None

    @property
    def label(self) -> str:
        if self.full_version:
            return self.full_version
        if self.version:
            return self.version
        if self.sha and self.sha.startswith(self.ref) and len(self.ref) >= 12:
            return self.sha[: domain.SHORT_SHA]
        return self.ref

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "sha": self.sha,
            "version": self.version,
            "full_version": self.full_version,
            "deployment_id": None if self.deployment_id is None else str(self.deployment_id),
            "label": self.label,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChangelogEnd:
        dep = data.get("deployment_id")
        return cls(
            ref=str(data["ref"]),
            sha=data.get("sha"),
            version=data.get("version"),
            full_version=data.get("full_version"),
            deployment_id=None if dep is None else int(dep),
        )


@dataclass(frozen=True)
class ChangelogRange:
    """The two ends; ``start`` is None when there is no earlier deployment to start from."""

    product: str
    environment: str | None
    start: ChangelogEnd | None
    end: ChangelogEnd

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "environment": self.environment,
            "from": None if self.start is None else self.start.to_dict(),
            "to": self.end.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChangelogRange:
        return cls(
            product=str(data["product"]),
            environment=data.get("environment"),
            start=None if data.get("from") is None else ChangelogEnd.from_dict(data["from"]),
            end=ChangelogEnd.from_dict(data["to"]),
        )


def _deployment_end(dep: DeploymentRecord, *, field: str) -> ChangelogEnd:
    if not dep.commit_sha:
        raise NotFoundError(
            f"deployment {dep.id} ({dep.product} {dep.full_version} in {dep.environment}) "
            f"recorded no commit; pass --{field} with a commit or version",
            field=field,
            deployment_id=str(dep.id),
        )
    return ChangelogEnd(
        ref=dep.full_version,
        sha=dep.commit_sha,
        version=dep.version,
        full_version=dep.full_version,
        deployment_id=dep.id,
    )


def _previous_completed(conn: Connection, dep: DeploymentRecord) -> DeploymentRecord | None:
    """The completed (or rolled-back) deployment in ``dep``'s stream that finished before it."""
    finished = dep.finished_at or dep.deployed_at
    row = conn.execute(
        deployment_select()
        .where(
            deployments.c.product_id == dep.product_id,
            deployments.c.environment_id == dep.environment_id,
            deployments.c.status.in_(_COMPLETED),
            deployments.c.id != dep.id,
            (deployments.c.finished_at < finished)
            | and_(deployments.c.finished_at == finished, deployments.c.id < dep.id),
        )
        .order_by(desc(deployments.c.finished_at), desc(deployments.c.id))
        .limit(1)
    ).first()
    return None if row is None else row_to_deployment(row)


def _current(conn: Connection, product_id: int, environment_id: int) -> DeploymentRecord | None:
    dep_id = conn.execute(
        select(current_state.c.deployment_id).where(
            current_state.c.product_id == product_id,
            current_state.c.environment_id == environment_id,
        )
    ).scalar()
    return None if dep_id is None else get_deployment(conn, int(dep_id))


def _resolve_ref(
    conn: Connection, product_id: int, environment_id: int | None, ref: str, *, field: str
) -> tuple[ChangelogEnd, DeploymentRecord | None]:
    """A version of the product (deployed, built or registered), else a git revision."""
    ref = ref.strip()
    if not ref:
        raise InvalidInputError(f"{field} must not be empty", field=field)
    if len(ref) > 255 or ref.startswith("-") or any(c in ref for c in "\x00\n\r"):
        raise InvalidInputError(
            f"{field} {ref[:80]!r} is not a version or git revision", field=field
        )
    column = deployments.c.full_version if "+build." in ref else deployments.c.version
    order = [desc(deployments.c.id)]
    if environment_id is not None:  # a deployment in the environment first
        order.insert(0, case((deployments.c.environment_id == environment_id, 0), else_=1))
    row = conn.execute(
        deployment_select()
        .where(
            deployments.c.product_id == product_id,
            column == ref,
            deployments.c.commit_sha.is_not(None),
        )
        .order_by(*order)
        .limit(1)
    ).first()
    if row is not None:
        dep = row_to_deployment(row)
        here = environment_id is not None and dep.environment_id == environment_id
        end = ChangelogEnd(
            ref=ref,
            sha=dep.commit_sha,
            version=dep.version,
            full_version=dep.full_version if "+build." in ref else None,
            deployment_id=dep.id if here else None,
        )
        return end, dep if here else None
    build_col = builds.c.full_version if "+build." in ref else versions.c.version
    built = conn.execute(
        select(builds.c.commit_sha, builds.c.full_version, versions.c.version)
        .select_from(builds.join(versions, versions.c.id == builds.c.version_id))
        .where(
            builds.c.product_id == product_id, build_col == ref, builds.c.commit_sha.is_not(None)
        )
        .order_by(desc(builds.c.id))
        .limit(1)
    ).first()
    if built is not None:
        full = built.full_version if "+build." in ref else None
        return ChangelogEnd(ref, built.commit_sha, built.version, full), None
    pinned = conn.execute(
        select(versions.c.commit_sha).where(
            versions.c.product_id == product_id,
            versions.c.version == ref,
            versions.c.commit_sha.is_not(None),
        )
    ).scalar()
    if pinned is not None:
        return ChangelogEnd(ref, pinned, ref), None
    return ChangelogEnd(ref), None


def changelog_range(
    ctx: Context,
    product: str,
    environment: str | None,
    from_ref: str | None = None,
    to_ref: str | None = None,
) -> ChangelogRange:
    """The two ends of a changelog, from shipmate's records (rules in the module docstring)."""
    if not product:
        raise InvalidInputError("product is required", field="product")
    with ctx.read() as conn:
        product_id = find_product_id(conn, product)
        if product_id is None:
            raise NotFoundError(f"product {product!r} does not exist", field="product")
        environment_id = None
        if environment:
            environment_id = find_environment_id(conn, environment)
            if environment_id is None:
                raise NotFoundError(
                    f"environment {environment!r} does not exist", field="environment"
                )
        elif from_ref is None or to_ref is None:
            raise InvalidInputError(
                "environment is required unless both from and to are given", field="environment"
            )
        to_dep: DeploymentRecord | None
        if to_ref is not None:
            end, to_dep = _resolve_ref(conn, product_id, environment_id, to_ref, field="to")
        else:
            assert environment_id is not None
            to_dep = _current(conn, product_id, environment_id)
            if to_dep is None:
                raise NotFoundError(
                    f"{product} has no current deployment in {environment}; pass --to",
                    field="to",
                )
            end = _deployment_end(to_dep, field="to")
        start: ChangelogEnd | None
        if from_ref is not None:
            start, _ = _resolve_ref(conn, product_id, environment_id, from_ref, field="from")
        else:
            assert environment_id is not None
            base = (
                _previous_completed(conn, to_dep)
                if to_dep is not None
                else _current(conn, product_id, environment_id)
            )
            start = None if base is None else _deployment_end(base, field="from")
    return ChangelogRange(product=product, environment=environment, start=start, end=end)


# -- the changelog -------------------------------------------------------------------


@dataclass(frozen=True)
class Changelog:
    """Commits between two ends, grouped; render with :meth:`markdown` or :meth:`to_dict`."""

    range: ChangelogRange
    from_sha: str
    to_sha: str
    repository: str
    groups: tuple[Group, ...]
    truncated: bool
    #: ``backward`` when *to* is an ancestor of *from* (a rollback): the groups then
    #: list the commits the move took away.
    direction: str = "forward"

    @property
    def title(self) -> str:
        start = self.range.start.label if self.range.start is not None else self.from_sha[:7]
        back = " (rolls back)" if self.direction == "backward" else ""
        return f"{self.range.product} {start} → {self.range.end.label}{back}"

    @property
    def commits(self) -> int:
        return sum(len(group.entries) for group in self.groups)

    def markdown(self) -> str:
        text = domain.render_markdown(self.groups, title=self.title)
        if self.direction == "backward":
            text += "\n_These commits were taken away by moving back to an earlier commit._\n"
        if self.truncated:
            text += f"\n_Only the newest {MAX_COMMITS} commits are listed._\n"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.range.to_dict(),
            "from_sha": self.from_sha,
            "to_sha": self.to_sha,
            "repository": self.repository,
            "title": self.title,
            **domain.to_dict(self.groups),
            "truncated": self.truncated,
            "direction": self.direction,
            "markdown": self.markdown(),
        }


def _git_sha(repo: LocalRepository, end: ChangelogEnd, *, field: str) -> str:
    wanted = end.sha or end.ref
    sha = repo.resolve(wanted)
    if sha is not None:
        return sha
    if end.sha:
        dep = f", deployment {end.deployment_id}" if end.deployment_id is not None else ""
        message = (
            f"commit {end.sha} ({end.label}{dep}) is not in the repository {repo.path}; "
            "fetch it (git fetch) or check the repository setting"
        )
    else:
        message = (
            f"{end.ref!r} is neither a version of the product nor a commit the repository "
            f"{repo.path} knows"
        )
    raise NotFoundError(message, field=field, ref=end.ref)


def read_changelog(
    rng: ChangelogRange, repo: LocalRepository, *, limit: int = MAX_COMMITS
) -> Changelog:
    """Read the commits between the two ends from ``repo`` and group them."""
    if rng.start is None:
        raise NotFoundError(
            f"{rng.product} has no earlier completed deployment in {rng.environment} "
            "to start the changelog from; pass --from",
            field="from",
        )
    to_sha = _git_sha(repo, rng.end, field="to")
    from_sha = _git_sha(repo, rng.start, field="from")
    direction = "forward"
    listed = repo.commits(from_sha, to_sha, limit=limit + 1)
    if not listed and from_sha != to_sha:
        taken_away = repo.commits(to_sha, from_sha, limit=limit + 1)
        if taken_away:
            direction, listed = "backward", taken_away
    truncated = len(listed) > limit
    groups = domain.group_commits(listed[:limit])
    return Changelog(
        range=rng,
        from_sha=from_sha,
        to_sha=to_sha,
        repository=str(repo.path),
        groups=tuple(groups),
        truncated=truncated,
        direction=direction,
    )


def _need_repository(ctx: Context, product: str, repo: str | Path | None) -> LocalRepository:
    found = repository_for(ctx.settings, product, repo)
    if found is None:
        raise NotFoundError(
            f'no repository is configured for {product}: set repository = "/path/to/checkout" '
            f"under [products.{product}] in shipmate.toml, or pass --repo",
            field="repository",
        )
    return found


def changelog(
    ctx: Context,
    product: str,
    environment: str | None,
    from_ref: str | None = None,
    to_ref: str | None = None,
    repo: str | Path | None = None,
) -> Changelog:
    """The changelog of ``product`` in ``environment`` (rules in the module docstring)."""
    rng = changelog_range(ctx, product, environment, from_ref, to_ref)
    return read_changelog(rng, _need_repository(ctx, product, repo))


def deployment_changelog(
    ctx: Context, deployment_id: int, repo: str | Path | None = None
) -> Changelog:
    """What deployment ``deployment_id`` shipped: from the deployment before it there."""
    with ctx.read() as conn:
        dep = get_deployment(conn, deployment_id)
        if dep is None:
            raise NotFoundError(f"deployment {deployment_id} does not exist", field="id")
        end = _deployment_end(dep, field="to")
        base = _previous_completed(conn, dep)
    start = None if base is None else _deployment_end(base, field="from")
    rng = ChangelogRange(dep.product, dep.environment, start, end)
    return read_changelog(rng, _need_repository(ctx, dep.product, repo))
