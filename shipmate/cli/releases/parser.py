"""CLI commands of release actions: ``shipmate plan`` and ``shipmate release ...``.

Argparse work only; their handlers are :mod:`shipmate.cli.releases.handlers`.
"""

from __future__ import annotations

from shipmate.cli import choices
from shipmate.cli.parsing import (
    Arg,
    Choice,
    Command,
    Group,
    OneOf,
    Using,
    add_json,
    add_paging,
    add_product,
    add_product_env,
)

__all__ = ["COMMANDS"]

_HANDLERS = "shipmate.cli.releases.handlers"


_STRICT = Arg(
    "--strict",
    action="store_const",
    const=True,
    default=None,
    help="strict lineage: every version but the base needs a predecessor "
    '(default: lineage = "strict" in [products.<name>] or [releases])',
)

#: ``--product``, ``--env`` and ``--to``: where ``plan`` and ``apply`` go.
_TARGET = (
    Using(add_product_env, env_required=True),
    Arg("--to", required=True, dest="target", metavar="VERSION", help="target version"),
)

#: ``--product`` and ``--version``: the version an action command is about.
_VERSION = (
    add_product,
    Arg("--version", dest="semver", metavar="VERSION", required=True, help="version"),
)


_PLAN = Command(
    "plan",
    "show the interim versions and actions moving an environment to a version",
    description="The current version (none: a fresh environment starts from the base), "
    "the schema position, the direction, every interim version with the actions that "
    "will run and their flags. Nothing changes. See docs/rolling.md.",
    examples=[
        "shipmate plan --product api --env production --to 1.4.0",
        "shipmate plan --product api --env staging --to 1.2.0 --strict --json",
    ],
    handler=f"{_HANDLERS}:cmd_plan",
    args=[*_TARGET, _STRICT, add_json],
)

_RELEASE_ADD_ACTION = Command(
    "add-action",
    "register one up or down action of a version",
    description="A shell command (--command), a script file (--script-file) or a SQL "
    "file (--sql-file, with --database-ref naming the environment variable that holds "
    "the database URL). Once the version was deployed its actions cannot change.",
    examples=[
        "shipmate release add-action --product api --version 1.4.0 --phase up "
        '--command "./manage.py warm-cache"',
        "shipmate release add-action --product api --version 1.4.0 --phase down "
        "--sql-file down.sql --database-ref API_DATABASE_URL",
    ],
    handler=f"{_HANDLERS}:cmd_add_action",
    args=[
        *_VERSION,
        Arg(
            "--phase",
            required=True,
            type=Choice(choices.PHASES),
            help="up (rolling forward) or down (rolling back)",
        ),
        Arg("--order", type=int, help="position among the phase's actions (default: last + 10)"),
        OneOf(
            Arg("--command", help="a shell command (run with sh -c)"),
            Arg("--script-file", help="a shell script file (its text is stored)"),
            Arg("--sql-file", help="a SQL script file (its text is stored)"),
            required=True,
        ),
        Arg(
            "--database-ref",
            help="with --sql-file: the NAME of the environment variable holding the database URL",
        ),
        Arg("--name", help="a name for the log (default: the file, or the command)"),
        Arg(
            "--replace", action="store_true", help="replace the action at --order (undeployed only)"
        ),
        add_json,
    ],
)

_RELEASE_SYNC = Command(
    "sync",
    "store the actions of a versions folder (versions/<v>/up|down/*.sql|*.sh)",
    description="Make the stored actions of every version in the folder match it. "
    "Versions not in the folder are kept. All or nothing.",
    examples=["shipmate release sync --product api --dir versions"],
    handler=f"{_HANDLERS}:cmd_sync",
    args=[
        add_product,
        Arg("--dir", help="the versions folder (default: releases.versions_dir, versions)"),
        Arg(
            "--database-ref",
            help="default environment variable of SQL files whose release.toml names none",
        ),
        add_json,
    ],
)

_RELEASE_LIST = Command(
    "list",
    "the stored actions, in lineage order",
    examples=["shipmate release list --product api --version 1.4.0 --json"],
    handler=f"{_HANDLERS}:cmd_list",
    args=[
        add_product,
        Arg("--version", dest="semver", metavar="VERSION", help="only this version"),
        add_json,
    ],
)

_RELEASE_SET_PREDECESSOR = Command(
    "set-predecessor",
    "set (or clear) the explicit predecessor of a version",
    examples=[
        "shipmate release set-predecessor --product api --version 1.4.0 --predecessor 1.2.0",
        "shipmate release set-predecessor --product api --version 1.4.0 --clear",
    ],
    handler=f"{_HANDLERS}:cmd_set_predecessor",
    args=[
        *_VERSION,
        OneOf(
            Arg("--predecessor", help="the version that comes right before it"),
            Arg("--clear", action="store_true", help="remove the explicit predecessor"),
            required=True,
        ),
        add_json,
    ],
)

_RELEASE_APPLY = Command(
    "apply",
    "run the actions moving an environment to a version, and record it",
    description="Walks the plan (see shipmate plan), runs every interim version's "
    "actions, moves the schema position after each version, and records a deployment "
    "(rollforward, rollback or deploy). No application is delivered. Runs on this host "
    "against the database directly (not in remote mode).",
    examples=[
        "shipmate release apply --product api --env production --to 1.4.0 --build 3",
        "shipmate release apply --product api --env staging --to 1.2.0 --timeout 300",
    ],
    handler=f"{_HANDLERS}:cmd_apply",
    args=[
        *_TARGET,
        Arg("--build", type=int, help="build number of the target (recorded)"),
        Arg(
            "--timeout",
            type=float,
            help="seconds one action may take (default: releases.action_timeout, 900)",
        ),
        _STRICT,
        Arg("--deployed-by", help="actor (default: the local user)"),
        add_json,
    ],
)

_RELEASE_LOG = Command(
    "log",
    "stored action executions with their output, newest first",
    examples=[
        "shipmate release log --product api --env production",
        "shipmate release log --product api --run 17 --output --json",
    ],
    handler=f"{_HANDLERS}:cmd_log",
    args=[
        Using(add_product_env, env="only this environment"),
        Arg("--run", help="only actions of this deploy run"),
        Using(add_paging, before="executions"),
        Arg("--output", action="store_true", help="print each action's output too"),
        add_json,
    ],
)

_RELEASE = Group(
    "release",
    "release actions: per-version up/down commands and SQL, run when rolling",
    description="Each version may carry up actions (run rolling forward through it) and "
    "down actions (run rolling back past it). See docs/rolling.md.",
    examples=[
        "shipmate release sync --product api --dir versions",
        "shipmate release apply --product api --env production --to 1.4.0",
    ],
    dest="release_command",
    commands=[
        _RELEASE_ADD_ACTION,
        _RELEASE_SYNC,
        _RELEASE_LIST,
        _RELEASE_SET_PREDECESSOR,
        _RELEASE_APPLY,
        _RELEASE_LOG,
    ],
)

#: This group's commands (built by :func:`shipmate.cli.parsing.declare`).
COMMANDS = (_PLAN, _RELEASE)
