"""CLI commands for DORA metrics and changelogs (``dora``, ``changelog``), as data."""

from __future__ import annotations

from shipmate.cli.parsing import (
    TIME_FORMATS,
    Arg,
    Command,
    Using,
    add_json,
    add_product_env,
)

__all__ = ["COMMANDS"]

_HANDLERS = "shipmate.cli.insights.handlers"


_DORA = Command(
    "dora",
    "DORA metrics: deployment frequency, lead time, failure rate, recovery time",
    description="The four DORA metrics with their bands, from shipmate's own records, for "
    "a product (default: every product) in an environment (default: every "
    "production-kind environment) over a period (default: the last 90 days). "
    "Definitions: docs/metrics.md.",
    examples=[
        "shipmate dora --product api --env production",
        "shipmate dora --since 2026-10-01 --until 2026-11-01 --json",
        "shipmate dora --since 4w",
    ],
    handler=f"{_HANDLERS}:cmd_dora",
    args=[
        Using(
            add_product_env,
            product="only this product (default: every product)",
            env="only this environment (default: every production-kind environment)",
        ),
        Arg(
            "--days", type=int, help="the period: this many days up to --until or now (default: 90)"
        ),
        Arg(
            "--since",
            metavar="WHEN",
            help=f"start of the period (instead of --days): {TIME_FORMATS}",
        ),
        Arg("--until", metavar="WHEN", help="end of the period, same formats (default: now)"),
        Arg(
            "--repo",
            help="local git checkout to read commit times from (default: [products.<name>] "
            "repository; local mode only)",
        ),
        add_json,
    ],
)

_CHANGELOG = Command(
    "changelog",
    "commits between two deployed commits, grouped by Conventional Commit type",
    description="By default from the previous completed deployment's commit to the "
    "current one in the environment; --from/--to take versions, full versions or "
    "git revisions. Reads a local git repository: --repo, or [products.<name>] "
    "repository in shipmate.toml (on the server, in remote mode without --repo).",
    examples=[
        "shipmate changelog --product api --env production",
        "shipmate changelog --product api --from 1.3.0 --to 1.4.0 --repo . --json",
    ],
    handler=f"{_HANDLERS}:cmd_changelog",
    args=[
        Using(
            add_product_env,
            product="product name (default: config)",
            env="environment (required unless both --from and --to are given)",
        ),
        Arg("--from", dest="from_ref", metavar="REF", help="start: version or commit"),
        Arg("--to", dest="to_ref", metavar="REF", help="end: version or commit"),
        Arg("--repo", metavar="PATH", help="local git checkout to read"),
        Arg(
            "--format",
            choices=("markdown", "json"),
            default="markdown",
            help="output format (default: %(default)s)",
        ),
        add_json,
    ],
)

#: This group's commands (built by :func:`shipmate.cli.parsing.declare`).
COMMANDS = (_DORA, _CHANGELOG)
