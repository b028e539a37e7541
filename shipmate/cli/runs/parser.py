"""CLI commands for deploys and rollbacks run by shipmate: deploy, rollback, runs.

Only argparse work happens at import; handlers live in
:mod:`shipmate.cli.runs.handlers` and are named as handler="module:function"
strings (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

import argparse

from shipmate.cli import choices
from shipmate.cli.parsing import Arg, Choice, Command, Group, OneOf, add_json, add_product_env

__all__ = ["COMMANDS"]

_HANDLERS = "shipmate.cli.runs.handlers"


def _product_env(p: argparse.ArgumentParser) -> None:
    """``--product`` and the required ``--env`` of deploy and rollback."""
    add_product_env(p, product="product name (default: config)", env_required=True)


def _only_product_env(p: argparse.ArgumentParser) -> None:
    """The optional ``--product`` and ``--env`` filters of ``runs list``."""
    add_product_env(p, product="only this product", env="only this environment")


#: The last arguments of deploy and rollback: who deploys, and ``--json``.
_ACTOR_JSON = (Arg("--deployed-by", help="actor (default: CI actor or local user)"), add_json)

_DEPLOY = Command(
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
    args=[
        _product_env,
        Arg(
            "--version",
            dest="semver",
            metavar="VERSION",
            help="version or full version (default: .deployment-version.json)",
        ),
        Arg("--build", type=int, help="build number"),
        Arg("--dry-run", action="store_true", help="print the steps; change nothing"),
        *_ACTOR_JSON,
    ],
)

_ROLLBACK = Command(
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
    args=[
        _product_env,
        OneOf(
            Arg("--to", metavar="VERSION", help="a version or full version to go back to"),
            Arg("--steps", type=int, metavar="N", help="go back N completed versions (default: 1)"),
        ),
        Arg("--yes", "-y", action="store_true", help="do not ask for confirmation"),
        Arg("--dry-run", action="store_true", help="show the target and the steps; change nothing"),
        *_ACTOR_JSON,
    ],
)


def _one_run(name: str, text: str, description: str | None, id_arg: Arg) -> Command:
    """``show``, ``resume`` and ``abort``: one run id (resume: every interrupted run without one)."""
    return Command(
        name,
        text,
        description=description,
        examples=[f"shipmate runs {name} 17", f"shipmate runs {name} 17 --json"],
        handler=f"{_HANDLERS}:cmd_runs_{name}",
        args=[id_arg, add_json],
    )


_RUNS = Group(
    "runs",
    "deploy and rollback runs: list, show, resume, abort",
    description="The durable runs deploy and rollback leave behind: list them, show one "
    "with its steps, resume an interrupted one or abort it.",
    examples=["shipmate runs list --status interrupted", "shipmate runs resume"],
    dest="runs_command",
    commands=[
        Command(
            "list",
            "runs, newest first",
            examples=["shipmate runs list --product api --env production --status failed --json"],
            handler=f"{_HANDLERS}:cmd_runs_list",
            args=[
                _only_product_env,
                Arg(
                    "--status",
                    type=Choice(choices.RUN_STATUSES, fold=False),
                    help="running, interrupted, completed, failed, superseded or aborted",
                ),
                Arg("--limit", type=int, default=20, help="how many (default: %(default)s)"),
                add_json,
            ],
        ),
        _one_run("show", "one run with its steps and their output", None, Arg("id", help="run id")),
        _one_run(
            "resume",
            "continue interrupted runs from their last completed step",
            "Continue a run whose process died (or every interrupted run, without an id) "
            "from its last completed step. Steps that finished are not repeated.",
            Arg("id", nargs="?", help="run id (default: every interrupted run)"),
        ),
        _one_run(
            "abort",
            "end an interrupted run without finishing it",
            "Mark an interrupted run aborted and its open deployment aborted. Traffic and "
            "slots are left exactly as they are.",
            Arg("id", help="run id"),
        ),
    ],
)

_HOSTS = Command(
    "hosts",
    "deploy hosts: labels, last seen, what runs in each slot, the run in progress",
    description="The hosts shipmate agents registered: their labels, when the agent last "
    "called (marked stale after two minutes of silence), what it reported running in "
    "each slot, and its runs in progress (docs/agents.md).",
    examples=["shipmate hosts", "shipmate hosts --json"],
    handler=f"{_HANDLERS}:cmd_hosts",
    args=[add_json],
)

COMMANDS = (_DEPLOY, _ROLLBACK, _RUNS, _HOSTS)
