"""CLI commands for deployment gates: gates list|add|set-mode|remove|check, approve, unlock.

Declared as data in :data:`COMMANDS` (the convention: :mod:`shipmate.cli`).
"""

from __future__ import annotations

from shipmate.cli import choices
from shipmate.cli.parsing import (
    Arg,
    Choice,
    Command,
    Group,
    Using,
    add_env,
    add_json,
    add_product,
    add_product_env,
)

__all__ = ["COMMANDS"]

_HANDLERS = "shipmate.cli.gates.handlers"
_MODE = Choice(choices.RULE_MODES)


def _repeated(flag: str, dest: str, metavar: str, help: str) -> Arg:
    """A repeatable flag whose values collect in the list ``dest``."""
    return Arg(flag, action="append", dest=dest, metavar=metavar, help=help)


#: --product, --version and --env: the deployment a check or an approval is about.
_DEPLOYMENT_SUBJECT = (
    Using(add_product, "product name (default: config)"),
    Arg("--version", dest="semver", metavar="VERSION", required=True),
    Using(add_env, required=True),
)


_GATES_LIST = Command(
    "list",
    "every rule, with its mode, scope and source",
    examples=["shipmate gates list", "shipmate gates list --json"],
    args=[add_json],
)

_GATES_ADD = Command(
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
        "shipmate gates add --name soak --kind flow --requires staging --soak 24h --env production",
        "shipmate gates add --name two-eyes --kind approval --required 1 --product api",
    ],
    args=[
        Arg("--name", help="a unique name for the rule"),
        Arg(
            "--kind", type=Choice(choices.RULE_KINDS), help="concurrency, freeze, flow or approval"
        ),
        Arg("--mode", type=_MODE, help="enabled (default), report_only or disabled"),
        _repeated(
            "--product",
            "products",
            "PATTERN",
            "only these products (name or pattern such as api-*; repeatable; default: all)",
        ),
        _repeated(
            "--env", "environments", "PATTERN", "only these environments (repeatable; default: all)"
        ),
        Arg("--lease", help="concurrency: a started deployment blocks this long (1h)"),
        Arg("--start", help="freeze: start, RFC 3339 or a wall time in --timezone"),
        Arg("--end", help="freeze: end, RFC 3339 or a wall time in --timezone"),
        Arg("--cron", help='freeze: recurring start, e.g. "0 22 * * fri"'),
        Arg("--duration", help="freeze: how long each recurring window lasts (10h)"),
        Arg("--timezone", help="freeze: IANA time zone (default UTC)"),
        Arg("--reason", help="freeze: why (shown in refusals)"),
        _repeated(
            "--requires",
            "required_environments",
            "ENV",
            "flow: the version must have completed here first (repeatable)",
        ),
        Arg("--soak", help="flow: at least this long ago (24h)"),
        Arg("--required", type=int, help="approval: how many approvals (default 1)"),
        Arg(
            "--allow-self-approval",
            action="store_true",
            default=None,
            help="approval: the deployer's own approval counts",
        ),
        Arg("--definition", help="the whole rule as a JSON object"),
        add_json,
    ],
)

_GATES_SET_MODE = Command(
    "set-mode",
    "set a rule's mode",
    examples=["shipmate gates set-mode weekend report_only"],
    args=[
        Arg("name", help="the rule's name"),
        Arg("mode", type=_MODE, help="enabled, report_only or disabled"),
        add_json,
    ],
)

_GATES_REMOVE = Command(
    "remove",
    "remove a rule (the audit log keeps it)",
    examples=["shipmate gates remove weekend"],
    args=[Arg("name", help="the rule's name"), add_json],
)

_GATES_CHECK = Command(
    "check",
    "dry run: would this deployment pass the gates now? (exit 3 if not)",
    description="Evaluate every rule as if the deployment started now; records nothing. "
    "Exits 0 when it would pass, 3 when a rule would refuse it.",
    examples=[
        "shipmate gates check --product api --version 1.4.0 --env production",
        "shipmate gates check --product api --version 1.4.0 --env production "
        "--deployer alice --json",
    ],
    args=[
        *_DEPLOYMENT_SUBJECT,
        Arg(
            "--deployer",
            help="who will deploy (their own approval does not count; default: you, or in "
            "remote mode the key)",
        ),
        add_json,
    ],
)

_GATES = Group(
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
    commands=[_GATES_LIST, _GATES_ADD, _GATES_SET_MODE, _GATES_REMOVE, _GATES_CHECK],
)

_APPROVE = Command(
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
    args=[
        *_DEPLOYMENT_SUBJECT,
        Arg("--comment", help="a note kept with the approval"),
        add_json,
    ],
)

_UNLOCK = Command(
    "unlock",
    "release a started deployment that holds an environment (admin)",
    description="Mark a started deployment aborted, with a reason, so the concurrency "
    "rule lets the next one start. Recorded in the audit log.",
    examples=[
        'shipmate unlock --product api --env production --reason "runner died"',
        'shipmate unlock --id 42 --reason "stuck since yesterday"',
    ],
    handler=f"{_HANDLERS}:cmd_unlock",
    args=[
        Using(add_product_env, product="product name (default: config)"),
        Arg("--id", type=int, dest="deployment_id", help="the deployment (needed if several)"),
        Arg("--reason", required=True, help="why (kept in the audit log)"),
        add_json,
    ],
)

#: This group's commands (built by :func:`shipmate.cli.parsing.declare`).
COMMANDS = (_GATES, _APPROVE, _UNLOCK)
