"""CLI commands for deploys and rollbacks run by shipmate: deploy, rollback, runs.

Only argparse work happens at import; handlers live in
:mod:`shipmate.cli.runs.handlers` and are named as handler="module:function"
strings (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from shipmate.cli import choices
from shipmate.cli.parsing import Choice, add_product_env, command, command_group

__all__ = ["register"]

_HANDLERS = "shipmate.cli.runs.handlers"


def register(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this feature's commands to the top-level subparsers."""
    deploy = command(
        sub,
        "deploy",
        "deploy a version blue-green: start, health check, switch, retire the old slot",
        description="Deploy a version of a product into an environment as a durable run: "
        "gates, pick the idle slot, check the artifact, start it, health check, switch "
        "traffic, check again through the switch, keep the old slot warm, retire it. A "
        "failure before the switch leaves traffic alone; after it, traffic switches back "
        "automatically. The product's [products.NAME.deploy] table in shipmate.toml "
        "says how (docs/deploying.md). In remote mode (SHIPMATE_URL) the server checks the "
        "request and the agent of the environment's host runs it; the command follows it "
        "and exits the same way (docs/agents.md).",
        examples=[
            "shipmate deploy --product api --env production",
            "shipmate deploy --product api --env staging --version 1.4.0 --build 3 --dry-run",
        ],
        handler=f"{_HANDLERS}:cmd_deploy",
    )
    _product_env(deploy)
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

    rollback = command(
        sub,
        "rollback",
        "roll back to the previous completed version (or --to / --steps)",
        description="Roll an environment back to an earlier completed version. Without "
        "--to or --steps the target is the previous completed deployment (failed and "
        "rolled-back ones are skipped). Shows the recent history and asks for "
        "confirmation; without a terminal it needs --yes. When the target still runs warm "
        "in the other slot, the rollback is a switch back and nothing else.",
        examples=[
            "shipmate rollback --product api --env production --yes",
            "shipmate rollback --product api --env production --to 1.3.2 --dry-run",
            "shipmate rollback --product api --env production --steps 2 --yes",
        ],
        handler=f"{_HANDLERS}:cmd_rollback",
    )
    _product_env(rollback)
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

    rsub = command_group(
        sub,
        "runs",
        "deploy and rollback runs: list, show, resume, abort",
        description="The durable runs deploy and rollback leave behind: list them, show one "
        "with its steps, resume an interrupted one or abort it.",
        examples=["shipmate runs list --status interrupted", "shipmate runs resume"],
        dest="runs_command",
    )
    rlist = command(
        rsub,
        "list",
        "runs, newest first",
        examples=["shipmate runs list --product api --env production --status failed --json"],
        handler=f"{_HANDLERS}:cmd_runs_list",
    )
    add_product_env(rlist, product="only this product", env="only this environment")
    rlist.add_argument(
        "--status",
        type=Choice(choices.RUN_STATUSES, fold=False),
        help="running, interrupted, completed, failed, superseded or aborted",
    )
    rlist.add_argument("--limit", type=int, default=20, help="how many (default: %(default)s)")
    add_json(rlist)

    # show, resume and abort take one run id (resume: every interrupted run without one).
    for name, text, description, id_nargs, id_help in (
        ("show", "one run with its steps and their output", None, None, "run id"),
        (
            "resume",
            "continue interrupted runs from their last completed step",
            "Continue a run whose process died (or every interrupted run, without an id) "
            "from its last completed step. Steps that finished are not repeated.",
            "?",
            "run id (default: every interrupted run)",
        ),
        (
            "abort",
            "end an interrupted run without finishing it",
            "Mark an interrupted run aborted and its open deployment aborted. Traffic and "
            "slots are left exactly as they are.",
            None,
            "run id",
        ),
    ):
        one = command(
            rsub,
            name,
            text,
            description=description,
            examples=[f"shipmate runs {name} 17", f"shipmate runs {name} 17 --json"],
            handler=f"{_HANDLERS}:cmd_runs_{name}",
        )
        one.add_argument("id", nargs=id_nargs, help=id_help)
        add_json(one)

    hosts = command(
        sub,
        "hosts",
        "deploy hosts: labels, last seen, what runs in each slot, the run in progress",
        description="The hosts shipmate agents registered: their labels, when the agent last "
        "called (marked stale after two minutes of silence), what it reported running in "
        "each slot, and its runs in progress (docs/agents.md).",
        examples=["shipmate hosts", "shipmate hosts --json"],
        handler=f"{_HANDLERS}:cmd_hosts",
    )
    add_json(hosts)


def _product_env(p: argparse.ArgumentParser) -> None:
    """``--product`` and the required ``--env`` of deploy and rollback."""
    add_product_env(p, product="product name (default: config)", env_required=True)
