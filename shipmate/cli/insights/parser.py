"""CLI commands for DORA metrics and changelogs: dora, changelog.

Only argparse work happens at import; handlers live in other modules and are
named as handler="module:function" strings (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["register"]


def register(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this feature's commands to the top-level subparsers."""
    dora = sub.add_parser(
        "dora",
        help="DORA metrics: deployment frequency, lead time, failure rate, recovery time",
        description="The four DORA metrics with their bands, from shipmate's own records, for "
        "a product (default: every product) in an environment (default: every "
        "production-kind environment) over a period (default: the last 90 days). "
        "Definitions: docs/metrics.md.",
    )
    dora.add_argument("--product", help="only this product (default: every product)")
    dora.add_argument(
        "--env", help="only this environment (default: every production-kind environment)"
    )
    dora.add_argument(
        "--days", type=int, help="the period: this many days up to --until or now (default: 90)"
    )
    dora.add_argument("--since", help="start of the period, RFC 3339 (instead of --days)")
    dora.add_argument("--until", help="end of the period, RFC 3339 (default: now)")
    dora.add_argument(
        "--repo",
        help="local git checkout to read commit times from (default: [products.<name>] "
        "repository; local mode only)",
    )
    add_json(dora)
    dora.set_defaults(handler="shipmate.cli.insights.handlers:cmd_dora")

    log = sub.add_parser(
        "changelog",
        help="commits between two deployed commits, grouped by Conventional Commit type",
        description="By default from the previous completed deployment's commit to the "
        "current one in the environment; --from/--to take versions, full versions or "
        "git revisions. Reads a local git repository: --repo, or [products.<name>] "
        "repository in shipmate.toml (on the server, in remote mode without --repo).",
    )
    log.add_argument("--product", help="product name (default: config)")
    log.add_argument("--env", help="environment (required unless both --from and --to are given)")
    log.add_argument("--from", dest="from_ref", metavar="REF", help="start: version or commit")
    log.add_argument("--to", dest="to_ref", metavar="REF", help="end: version or commit")
    log.add_argument("--repo", metavar="PATH", help="local git checkout to read")
    log.add_argument(
        "--format",
        choices=("markdown", "json"),
        default="markdown",
        help="output format (default: %(default)s)",
    )
    log.set_defaults(handler="shipmate.cli.insights.handlers:cmd_changelog")
