"""What a deployment takes from the build it deploys, and the commit rule.

A Versioner deployment event names no branch and often no commit, and its
``build_number`` is CI metadata, not shipmate's; the build event sent earlier
for the same version knows them.  So a deployment opened for a version takes
its build's commit, branch and repository, and (when the event named no build)
the build's number, so that ``full_version`` and bloqr's ``buildNumber`` and
``gitBranch`` show it.  Which build:

- the event names a build number: that build;
- otherwise the version's newest ``completed`` build, else its newest build that
  has not failed or been aborted; with a commit in the event, only builds of
  that commit count (a version without a pinned commit may have builds of
  several).

A value the event gives always wins; a commit that contradicts the build's (or
the version's pinned commit) is a ``version_commit_conflict``
(:func:`check_commit`), never silently replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, case, desc, select

from shipmate.domain.lifecycle import Status
from shipmate.domain.versions import format_full_version
from shipmate.errors import VersionCommitConflictError
from shipmate.store.catalog import VersionRow, pin_version_commit
from shipmate.store.schema import builds, deployments

__all__ = ["BuildLink", "check_commit", "fill_from_build", "find_build"]


@dataclass(frozen=True)
class BuildLink:
    """The facts of one build a deployment can take."""

    build_number: int
    commit_sha: str | None
    branch: str | None
    repository: str | None


#: The build lookups, built once for each shape (by number; by commit; any).
_FIND_BUILD: dict[tuple[bool, bool], Any] = {}


def _find_build_query(by_number: bool, by_commit: bool) -> Any:
    found = _FIND_BUILD.get((by_number, by_commit))
    if found is not None:
        return found
    query = select(builds.c.build_number, builds.c.commit_sha, builds.c.branch, builds.c.repository)
    query = query.where(builds.c.version_id == bindparam("version_id"))
    if by_number:
        query = query.where(builds.c.build_number == bindparam("build_number"))
    else:
        query = query.where(builds.c.status.not_in([Status.FAILED.value, Status.ABORTED.value]))
        if by_commit:
            query = query.where(builds.c.commit_sha == bindparam("commit"))
        completed_first = case((builds.c.status == Status.COMPLETED.value, 0), else_=1)
        query = query.order_by(completed_first, desc(builds.c.build_number))
    found = _FIND_BUILD[by_number, by_commit] = query.limit(1)
    return found


def find_build(
    conn: Connection, version_id: int, build_number: int | None, commit: str | None
) -> BuildLink | None:
    """The build a deployment of this version (and build, if named) deploys."""
    by_number = build_number is not None
    by_commit = not by_number and commit is not None
    params: dict[str, Any] = {"version_id": version_id}
    if by_number:
        params["build_number"] = build_number
    elif by_commit:
        params["commit"] = commit
    row = conn.execute(_find_build_query(by_number, by_commit), params).first()
    if row is None:
        return None
    return BuildLink(int(row.build_number), row.commit_sha, row.branch, row.repository)


def fill_from_build(text: dict[str, str | None], link: BuildLink | None) -> None:
    """Give ``text`` the build's commit, branch and repository where it has none."""
    if link is None:
        return
    for key, value in (
        ("commit_sha", link.commit_sha),
        ("branch", link.branch),
        ("repository", link.repository),
    ):
        if text.get(key) is None and value is not None:
            text[key] = value


def check_commit(
    conn: Connection,
    stored: VersionRow,
    *,
    product: str,
    version: str,
    build_number: int | None,
    commit: str,
) -> None:
    """A build's commit is fixed; so is a version's (``stored``, its row, holds the
    commit it was pinned to) when reported without builds.

    The conflict's details carry both commits (``recorded_commit``,
    ``reported_commit``) so that every front end can show them.
    """
    version_id, pinned = stored.id, stored.commit_sha
    if build_number is not None:
        link = find_build(conn, version_id, build_number, None)
        known = link.commit_sha if link is not None else None
        if known is None:
            # No build row (the number came from elsewhere): earlier deployments of the
            # same build fix its commit instead.
            known = conn.execute(
                select(deployments.c.commit_sha)
                .where(
                    deployments.c.version_id == version_id,
                    deployments.c.build_number == build_number,
                    deployments.c.commit_sha.is_not(None),
                )
                .limit(1)
            ).scalar()
        if known and known != commit:
            raise VersionCommitConflictError(
                f"{format_full_version(version, build_number)} was built from commit "
                f"{known}, not {commit}",
                field="commit",
                recorded_commit=known,
                reported_commit=commit,
            )
        return
    if pinned is not None and pinned != commit:
        raise VersionCommitConflictError(
            f"version {version} of {product} was recorded with commit {pinned}, "
            f"not {commit}; a new commit needs a new version or a build number",
            field="commit",
            recorded_commit=pinned,
            reported_commit=commit,
        )
    if pinned is None:
        pin_version_commit(conn, version_id, commit)
