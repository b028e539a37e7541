"""CLI commands for deployment gates: gates list|add|set-mode|remove|check, approve, unlock.

Only argparse work happens at import; handlers live in other modules and are
named as handler="module:function" strings (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from shipmate.cli import choices
from shipmate.cli.parsing import (
    Choice,
    add_env,
    add_product,
    add_product_env,
    command,
    command_group,
)

__all__ = ["register"]

_HANDLERS = "shipmate.cli.gates.handlers"
_MODE = Choice(choices.RULE_MODES)


def register(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this feature's commands to the top-level subparsers."""
    gsub = command_group(
        sub,
        "gates",
        "deployment gates: one at a time, freeze windows, flow and soak, approvals",
        description="Rules guard deployments when they enter started (or are created "
        "pending). Rules come from [[gates]] in shipmate.toml (read-only here) and from "
        "`shipmate gates add`. A refused deployment exits 3. Docs: docs/gates.md.",
        examples=[
            "shipmate gates list",
            "shipmate gates check --product api --version 1.4.0 --env production",
        ],
        handler=f"{_HANDLERS}:cmd_gates",
        dest="gates_command",
    )

    glist = command(
        gsub,
        "list",
        "every rule, with its mode, scope and source",
        examples=["shipmate gates list", "shipmate gates list --json"],
    )
    add_json(glist)

    add = command(
        gsub,
        "add",
        "add a rule",
        description="Add a rule. Give its settings as flags, or the whole rule as a JSON "
        "object with --definition (flags given as well override its keys). Kinds: "
        "concurrency (--lease), freeze (--start/--end, or --cron/--duration; --timezone, "
        "--reason), flow (--requires, --soak), approval (--required, --allow-self-approval).",
        examples=[
            "shipmate gates add --name one-at-a-time --kind concurrency --lease 1h",
            'shipmate gates add --name weekend --kind freeze --cron "0 22 * * fri" '
            "--duration 58h --env production",
            "shipmate gates add --name soak --kind flow --requires staging --soak 24h "
            "--env production",
            "shipmate gates add --name two-eyes --kind approval --required 1 --product api",
        ],
    )
    add.add_argument("--name", help="a unique name for the rule")
    add.add_argument(
        "--kind", type=Choice(choices.RULE_KINDS), help="concurrency, freeze, flow or approval"
    )
    add.add_argument("--mode", type=_MODE, help="enabled (default), report_only or disabled")
    add.add_argument(
        "--product",
        action="append",
        dest="products",
        metavar="PATTERN",
        help="only these products (name or pattern such as api-*; repeatable; default: all)",
    )
    add.add_argument(
        "--env",
        action="append",
        dest="environments",
        metavar="PATTERN",
        help="only these environments (repeatable; default: all)",
    )
    add.add_argument("--lease", help="concurrency: a started deployment blocks this long (1h)")
    add.add_argument("--start", help="freeze: start, RFC 3339 or a wall time in --timezone")
    add.add_argument("--end", help="freeze: end, RFC 3339 or a wall time in --timezone")
    add.add_argument("--cron", help='freeze: recurring start, e.g. "0 22 * * fri"')
    add.add_argument("--duration", help="freeze: how long each recurring window lasts (10h)")
    add.add_argument("--timezone", help="freeze: IANA time zone (default UTC)")
    add.add_argument("--reason", help="freeze: why (shown in refusals)")
    add.add_argument(
        "--requires",
        action="append",
        dest="required_environments",
        metavar="ENV",
        help="flow: the version must have completed here first (repeatable)",
    )
    add.add_argument("--soak", help="flow: at least this long ago (24h)")
    add.add_argument("--required", type=int, help="approval: how many approvals (default 1)")
    add.add_argument(
        "--allow-self-approval",
        action="store_true",
        default=None,
        help="approval: the deployer's own approval counts",
    )
    add.add_argument("--definition", help="the whole rule as a JSON object")
    add_json(add)

    mode = command(
        gsub,
        "set-mode",
        "set a rule's mode",
        examples=["shipmate gates set-mode weekend report_only"],
    )
    mode.add_argument("name", help="the rule's name")
    mode.add_argument("mode", type=_MODE, help="enabled, report_only or disabled")
    add_json(mode)

    remove = command(
        gsub,
        "remove",
        "remove a rule (the audit log keeps it)",
        examples=["shipmate gates remove weekend"],
    )
    remove.add_argument("name", help="the rule's name")
    add_json(remove)

    check = command(
        gsub,
        "check",
        "dry run: would this deployment pass the gates now? (exit 3 if not)",
        description="Evaluate every rule as if the deployment started now; records nothing. "
        "Exits 0 when it would pass, 3 when a rule would refuse it.",
        examples=[
            "shipmate gates check --product api --version 1.4.0 --env production",
            "shipmate gates check --product api --version 1.4.0 --env production "
            "--deployer alice --json",
        ],
    )
    _add_deployment_subject(check)
    check.add_argument(
        "--deployer",
        help="who will deploy (their own approval does not count; default: you, or in "
        "remote mode the key)",
    )
    add_json(check)

    approve = command(
        sub,
        "approve",
        "approve deploying a version to an environment",
        description="Record your approval of (product, version, environment) for approval "
        "rules, as who you are: the key's name in remote mode, else the CI actor or your "
        "login name. One approval per identity; the deployer's own approval does not count.",
        examples=[
            "shipmate approve --product api --version 1.4.0 --env production "
            '--comment "checked the dashboards"',
        ],
        handler=f"{_HANDLERS}:cmd_approve",
    )
    _add_deployment_subject(approve)
    approve.add_argument("--comment", help="a note kept with the approval")
    add_json(approve)

    unlock = command(
        sub,
        "unlock",
        "release a started deployment that holds an environment (admin)",
        description="Mark a started deployment aborted, with a reason, so the concurrency "
        "rule lets the next one start. Recorded in the audit log.",
        examples=[
            'shipmate unlock --product api --env production --reason "runner died"',
            'shipmate unlock --id 42 --reason "stuck since yesterday"',
        ],
        handler=f"{_HANDLERS}:cmd_unlock",
    )
    add_product_env(unlock, product="product name (default: config)")
    unlock.add_argument(
        "--id", type=int, dest="deployment_id", help="the deployment (needed if several)"
    )
    unlock.add_argument("--reason", required=True, help="why (kept in the audit log)")
    add_json(unlock)


def _add_deployment_subject(parser: argparse.ArgumentParser) -> None:
    """--product, --version and --env: the deployment a check or an approval is about."""
    add_product(parser, "product name (default: config)")
    parser.add_argument("--version", dest="semver", metavar="VERSION", required=True)
    add_env(parser, required=True)
