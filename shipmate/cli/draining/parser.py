"""CLI commands of the draining feature: ``versions`` and ``drain check``.

Only argparse work happens at import; handlers live in
:mod:`shipmate.cli.draining.handlers` (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from shipmate.cli import choices
from shipmate.cli.parsing import Choice, add_product_env, command, command_group

__all__ = ["register"]

_HANDLERS = "shipmate.cli.draining.handlers"


def register(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this feature's commands to the top-level subparsers."""
    versions = command(
        sub,
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
    )
    add_product_env(versions, product="product name (default: config)", env="only this environment")
    versions.add_argument(
        "--state",
        action="append",
        type=Choice(choices.VERSION_STATES, fold=False),
        help="only this state (repeatable): active, draining, drained, retired",
    )
    add_json(versions)

    dsub = command_group(
        sub,
        "drain",
        "draining old versions: check and retire",
        description="Read the drain checks of the versions a run left draining, and retire "
        "those that drained. Docs: docs/draining.md.",
        examples=["shipmate drain check --product api --env production --wait"],
        dest="drain_command",
    )
    check = command(
        dsub,
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
    )
    add_product_env(check, product="only this product", env="only this environment")
    check.add_argument(
        "--wait", action="store_true", help="keep reading until drained or the drain deadline"
    )
    check.add_argument(
        "--force",
        action="store_true",
        help="retire anyway, whatever is pending (recorded in the audit log with the count)",
    )
    add_json(check)
