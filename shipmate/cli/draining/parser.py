"""CLI commands of the draining feature: ``versions`` and ``drain check``.

Only argparse work happens at import; handlers live in
:mod:`shipmate.cli.draining.handlers` (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

from shipmate.cli import choices
from shipmate.cli.parsing import Arg, Choice, Command, Group, Using, add_json, add_product_env

__all__ = ["COMMANDS"]

_HANDLERS = "shipmate.cli.draining.handlers"

_VERSIONS = Command(
    "versions",
    "version states: active, draining (pending work), drained, retired",
    description="Which versions of a product run in an environment and in which state: "
    "active (takes traffic), draining (the old slot still finishes its in-flight work; "
    "with the pending count and since when), drained, retired. Docs: docs/draining.md.",
    examples=[
        "shipmate versions --product api --env production",
        "shipmate versions --product api --state draining --json",
    ],
    handler=f"{_HANDLERS}:cmd_versions",
    args=[
        Using(
            add_product_env, product="product name (default: config)", env="only this environment"
        ),
        Arg(
            "--state",
            action="append",
            type=Choice(choices.VERSION_STATES, fold=False),
            help="only this state (repeatable): active, draining, drained, retired",
        ),
        add_json,
    ],
)

_CHECK = Command(
    "check",
    "retire the old versions that drained since their run ended",
    description="For every version a run left draining (its drain deadline passed with "
    "on_deadline = keep): read its drain check again and, once it reads zero "
    "consecutive_zeros times, stop its slot and mark it retired. A version that takes "
    "traffic again (rolled back to) becomes active. Exit 0 when nothing is left "
    "draining, 5 while a version is still draining (or waits for a run), 1 when one "
    "could not be checked.",
    examples=[
        "shipmate drain check",
        "shipmate drain check --product api --env production --wait --json",
    ],
    handler=f"{_HANDLERS}:cmd_drain_check",
    args=[
        Using(add_product_env, product="only this product", env="only this environment"),
        Arg("--wait", action="store_true", help="keep reading until drained or the drain deadline"),
        Arg(
            "--force",
            action="store_true",
            help="retire anyway, whatever is pending (recorded in the audit log with the count)",
        ),
        add_json,
    ],
)

COMMANDS = (
    _VERSIONS,
    Group(
        "drain",
        "draining old versions: check and retire",
        description="Read the drain checks of the versions a run left draining, and retire "
        "those that drained. Docs: docs/draining.md.",
        examples=["shipmate drain check --product api --env production --wait"],
        dest="drain_command",
        commands=[_CHECK],
    ),
)
