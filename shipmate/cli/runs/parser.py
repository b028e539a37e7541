"""CLI commands for deploys and rollbacks run by shipmate: deploy, rollback, runs.

Only argparse work happens at import; handlers live in
:mod:`shipmate.cli.runs.handlers` and are named as handler="module:function"
strings (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["register"]

_HANDLERS = "shipmate.cli.runs.handlers"


def register(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this feature's commands to the top-level subparsers."""
    deploy = sub.add_parser(
        "deploy",
        help="deploy a version blue-green: start, health check, switch, retire the old slot",
        description="Deploy a version of a product into an environment as a durable run: "
        "gates, pick the idle slot, check the artifact, start it, health check, switch "
        "traffic, check again through the switch, keep the old slot warm, retire it. A "
        "failure before the switch leaves traffic alone; after it, traffic switches back "
        "automatically. The product's [products.NAME.deploy] table in shipmate.toml "
        "says how (docs/deploying.md).",
    )
    deploy.add_argument("--product", help="product name (default: config)")
    deploy.add_argument("--env", required=True, help="environment name")
    deploy.add_argument(
        "--version",
        dest="semver",
        metavar="VERSION",
        help="version or full version (default: .deployment-version.json)",
    )
    deploy.add_argument("--build", type=int, help="build number")
    deploy.add_argument("--dry-run", action="store_true", help="print the steps; change nothing")
    deploy.add_argument("--deployed-by", help="actor (default: CI actor or local user)")
    add_json(deploy)
    deploy.set_defaults(handler=f"{_HANDLERS}:cmd_deploy")

    rollback = sub.add_parser(
        "rollback",
        help="roll back to the previous completed version (or --to / --steps)",
        description="Roll an environment back to an earlier completed version. Without "
        "--to or --steps the target is the previous completed deployment (failed and "
        "rolled-back ones are skipped). Shows the recent history and asks for "
        "confirmation; without a terminal it needs --yes. When the target still runs warm "
        "in the other slot, the rollback is a switch back and nothing else.",
    )
    rollback.add_argument("--product", help="product name (default: config)")
    rollback.add_argument("--env", required=True, help="environment name")
    target = rollback.add_mutually_exclusive_group()
    target.add_argument("--to", metavar="VERSION", help="a version or full version to go back to")
    target.add_argument(
        "--steps", type=int, metavar="N", help="go back N completed versions (default: 1)"
    )
    rollback.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    rollback.add_argument(
        "--dry-run", action="store_true", help="show the target and the steps; change nothing"
    )
    rollback.add_argument("--deployed-by", help="actor (default: CI actor or local user)")
    add_json(rollback)
    rollback.set_defaults(handler=f"{_HANDLERS}:cmd_rollback")

    runs = sub.add_parser("runs", help="deploy and rollback runs: list, show, resume, abort")
    rsub = runs.add_subparsers(dest="runs_command", metavar="SUBCOMMAND")
    rsub.required = True
    rlist = rsub.add_parser("list", help="runs, newest first")
    rlist.add_argument("--product", help="only this product")
    rlist.add_argument("--env", help="only this environment")
    rlist.add_argument(
        "--status",
        help="running, interrupted, completed, failed, superseded or aborted",
    )
    rlist.add_argument("--limit", type=int, default=20, help="how many (default: %(default)s)")
    add_json(rlist)
    rlist.set_defaults(handler=f"{_HANDLERS}:cmd_runs_list")

    rshow = rsub.add_parser("show", help="one run with its steps and their output")
    rshow.add_argument("id", help="run id")
    add_json(rshow)
    rshow.set_defaults(handler=f"{_HANDLERS}:cmd_runs_show")

    rresume = rsub.add_parser(
        "resume",
        help="continue interrupted runs from their last completed step",
        description="Continue a run whose process died (or every interrupted run, without "
        "an id) from its last completed step. Steps that finished are not repeated.",
    )
    rresume.add_argument("id", nargs="?", help="run id (default: every interrupted run)")
    add_json(rresume)
    rresume.set_defaults(handler=f"{_HANDLERS}:cmd_runs_resume")

    rabort = rsub.add_parser(
        "abort",
        help="end an interrupted run without finishing it",
        description="Mark an interrupted run aborted and its open deployment aborted. "
        "Traffic and slots are left exactly as they are.",
    )
    rabort.add_argument("id", help="run id")
    add_json(rabort)
    rabort.set_defaults(handler=f"{_HANDLERS}:cmd_runs_abort")
