"""The links a page shows for repositories, commits, branches and CI runs.

:class:`LinkMaker` holds the ``[dashboard.links]`` settings and hands templates
the URLs :mod:`shipmate.domain.links` derives (each None when there is none: the
template then shows plain text).  CI runs link to the URL the record stored, when
it is http(s).
"""

from __future__ import annotations

from typing import Any

from shipmate.config import Settings
from shipmate.domain.configtables import ConfigTable
from shipmate.domain.links import Links, LinkSettings, link_settings, links_for, safe_http_url
from shipmate.domain.records import DeploymentRecord
from shipmate.services.context import Context

__all__ = ["LinkMaker", "link_maker", "read_link_settings"]


class LinkMaker:
    """URLs for one page, from the server's ``[dashboard.links]`` settings."""

    def __init__(self, settings: LinkSettings) -> None:
        self.settings = settings

    def of(self, dep: DeploymentRecord) -> Links:
        """The deployment's repository, commit and branch URLs."""
        return links_for(
            dep.repository, commit=dep.commit_sha, branch=dep.branch, settings=self.settings
        )

    def commit(self, repository: str | None, sha: str | None) -> str | None:
        return links_for(repository, commit=sha, settings=self.settings).commit

    def ci_run(self, dep: DeploymentRecord) -> str | None:
        return safe_http_url(dep.ci_run_url)


def link_maker(ctx: Context) -> LinkMaker:
    """The context's link maker, the settings read and checked once (``serve`` checks
    them at start, see :func:`read_link_settings`)."""
    found: Any = ctx.cache.get("link_maker")
    if found is None:
        found = ctx.cache["link_maker"] = LinkMaker(read_link_settings(ctx.settings))
    assert isinstance(found, LinkMaker)
    return found


def read_link_settings(settings: Settings) -> LinkSettings:
    """``[dashboard.links]`` read and checked: a bad key or template is a ConfigError
    naming it (the app checks this when it is created, so ``serve`` refuses to start)."""
    dashboard = ConfigTable(
        settings.sections.get("dashboard", {}), field="dashboard", allowed=("links",)
    )
    return link_settings(dashboard.raw("links"))
