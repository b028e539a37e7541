"""A changelog: the commits between two ends, read from git and grouped.

:func:`read_changelog` asks git for ``git log --no-merges from..to``: the
commits reachable from *to* but not from *from*, newest first (merge commits are
left out: they restate the commits they merge), at most :data:`MAX_COMMITS`
(``truncated`` says when there were more), grouped by Conventional Commit type
with :mod:`shipmate.domain.changelog`.  When that is empty because *to* is an
ancestor of *from* (a rollback), the changelog lists ``to..from`` instead, the
commits the move took away, with ``direction = "backward"``.  A commit git does not know (not fetched
yet, or a wrong repository) is a :class:`NotFoundError` naming ``from`` or
``to``.

The ends come from :mod:`shipmate.services.changelog.commit_range`, the repository
from :mod:`shipmate.services.changelog.repository`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipmate.domain import changelog as domain
from shipmate.domain.changelog import Group
from shipmate.errors import NotFoundError
from shipmate.services.changelog.commit_range import (
    ChangelogEnd,
    ChangelogRange,
    changelog_range,
    deployment_range,
)
from shipmate.services.changelog.repository import LocalRepository, repository_for
from shipmate.services.context import Context

__all__ = ["MAX_COMMITS", "Changelog", "changelog", "deployment_changelog", "read_changelog"]

#: At most this many commits are listed; ``truncated`` says when there were more.
MAX_COMMITS = 1000


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
    rng = deployment_range(ctx, deployment_id)
    return read_changelog(rng, _need_repository(ctx, rng.product, repo))
