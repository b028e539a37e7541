"""CLI commands of release actions: ``shipmate plan`` and ``shipmate release ...``.

Only argparse work happens at import; handlers live in shipmate.cli.releases.handlers
and are named as handler="module:function" strings (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["register"]

_HANDLERS = "shipmate.cli.releases.handlers"


def _product(p: argparse.ArgumentParser) -> None:
    p.add_argument("--product", help="product name (default: SHIPMATE_PRODUCT or config)")


def _strict(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--strict",
        action="store_const",
        const=True,
        default=None,
        help="strict lineage: every version but the base needs a predecessor "
        '(default: lineage = "strict" in [products.<name>] or [releases])',
    )


def register(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this feature's commands to the top-level subparsers."""
    plan = sub.add_parser(
        "plan",
        help="show the interim versions and actions moving an environment to a version",
        description="The current version (none: a fresh environment starts from the base), "
        "the schema position, the direction, every interim version with the actions that "
        "will run and their flags. Nothing changes. See docs/rolling.md.",
    )
    _product(plan)
    plan.add_argument("--env", required=True, help="environment name")
    plan.add_argument(
        "--to", required=True, dest="target", metavar="VERSION", help="target version"
    )
    _strict(plan)
    add_json(plan)
    plan.set_defaults(handler=f"{_HANDLERS}:cmd_plan")

    release = sub.add_parser(
        "release",
        help="release actions: per-version up/down commands and SQL, run when rolling",
        description="Each version may carry up actions (run rolling forward through it) and "
        "down actions (run rolling back past it). See docs/rolling.md.",
    )
    rsub = release.add_subparsers(dest="release_command", metavar="SUBCOMMAND")
    rsub.required = True

    add = rsub.add_parser(
        "add-action",
        help="register one up or down action of a version",
        description="A shell command (--command), a script file (--script-file) or a SQL "
        "file (--sql-file, with --database-ref naming the environment variable that holds "
        "the database URL). Once the version was deployed its actions cannot change.",
    )
    _product(add)
    add.add_argument("--version", dest="semver", metavar="VERSION", required=True, help="version")
    add.add_argument("--phase", required=True, help="up (rolling forward) or down (rolling back)")
    add.add_argument(
        "--order", type=int, help="position among the phase's actions (default: last + 10)"
    )
    body = add.add_mutually_exclusive_group(required=True)
    body.add_argument("--command", help="a shell command (run with sh -c)")
    body.add_argument("--script-file", help="a shell script file (its text is stored)")
    body.add_argument("--sql-file", help="a SQL script file (its text is stored)")
    add.add_argument(
        "--database-ref",
        help="with --sql-file: the NAME of the environment variable holding the database URL",
    )
    add.add_argument("--name", help="a name for the log (default: the file, or the command)")
    add.add_argument(
        "--replace", action="store_true", help="replace the action at --order (undeployed only)"
    )
    add_json(add)
    add.set_defaults(handler=f"{_HANDLERS}:cmd_add_action")

    sync = rsub.add_parser(
        "sync",
        help="store the actions of a versions folder (versions/<v>/up|down/*.sql|*.sh)",
        description="Make the stored actions of every version in the folder match it. "
        "Versions not in the folder are kept. All or nothing.",
    )
    _product(sync)
    sync.add_argument(
        "--dir", help="the versions folder (default: releases.versions_dir, versions)"
    )
    sync.add_argument(
        "--database-ref",
        help="default environment variable of SQL files whose release.toml names none",
    )
    add_json(sync)
    sync.set_defaults(handler=f"{_HANDLERS}:cmd_sync")

    lst = rsub.add_parser("list", help="the stored actions, in lineage order")
    _product(lst)
    lst.add_argument("--version", dest="semver", metavar="VERSION", help="only this version")
    add_json(lst)
    lst.set_defaults(handler=f"{_HANDLERS}:cmd_list")

    pred = rsub.add_parser(
        "set-predecessor", help="set (or clear) the explicit predecessor of a version"
    )
    _product(pred)
    pred.add_argument("--version", dest="semver", metavar="VERSION", required=True, help="version")
    which = pred.add_mutually_exclusive_group(required=True)
    which.add_argument("--predecessor", help="the version that comes right before it")
    which.add_argument("--clear", action="store_true", help="remove the explicit predecessor")
    add_json(pred)
    pred.set_defaults(handler=f"{_HANDLERS}:cmd_set_predecessor")

    apply = rsub.add_parser(
        "apply",
        help="run the actions moving an environment to a version, and record it",
        description="Walks the plan (see shipmate plan), runs every interim version's "
        "actions, moves the schema position after each version, and records a deployment "
        "(rollforward, rollback or deploy). No application is delivered. Runs on this host "
        "against the database directly (not in remote mode).",
    )
    _product(apply)
    apply.add_argument("--env", required=True, help="environment name")
    apply.add_argument(
        "--to", required=True, dest="target", metavar="VERSION", help="target version"
    )
    apply.add_argument("--build", type=int, help="build number of the target (recorded)")
    apply.add_argument(
        "--timeout",
        type=float,
        help="seconds one action may take (default: releases.action_timeout, 900)",
    )
    _strict(apply)
    apply.add_argument("--deployed-by", help="actor (default: the local user)")
    add_json(apply)
    apply.set_defaults(handler=f"{_HANDLERS}:cmd_apply")

    log = rsub.add_parser("log", help="stored action executions with their output, newest first")
    _product(log)
    log.add_argument("--env", help="only this environment")
    log.add_argument("--run", help="only actions of this deploy run")
    log.add_argument("--limit", type=int, default=20, help="rows per page (default: %(default)s)")
    log.add_argument("--before", help="only executions with a smaller id (paging)")
    log.add_argument("--output", action="store_true", help="print each action's output too")
    add_json(log)
    log.set_defaults(handler=f"{_HANDLERS}:cmd_log")
