"""CLI commands of the draining feature: ``versions`` and ``drain check``.

Only argparse work happens at import; handlers live in
:mod:`shipmate.cli.draining.handlers` (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["register"]

_HANDLERS = "shipmate.cli.draining.handlers"


def register(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this feature's commands to the top-level subparsers."""
    versions = sub.add_parser(
        "versions",
        help="version states: active, draining (pending work), drained, retired",
        description="Which versions of a product run in an environment and in which state: "
        "active (takes traffic), draining (the old slot still finishes its in-flight work; "
        "with the pending count and since when), drained, retired. Docs: docs/draining.md.",
    )
    versions.add_argument("--product", help="product name (default: config)")
    versions.add_argument("--env", help="only this environment")
    versions.add_argument(
        "--state", action="append", help="only this state (repeatable): active, draining, ..."
    )
    add_json(versions)
    versions.set_defaults(handler=f"{_HANDLERS}:cmd_versions")

    drain = sub.add_parser("drain", help="draining old versions: check and retire")
    dsub = drain.add_subparsers(dest="drain_command", metavar="SUBCOMMAND")
    dsub.required = True
    check = dsub.add_parser(
        "check",
        help="retire the old versions that drained since their run ended",
        description="For every version a run left draining (its drain deadline passed with "
        "on_deadline = keep): read its drain check again and, once it reads zero "
        "consecutive_zeros times, stop its slot and mark it retired. A version that takes "
        "traffic again (rolled back to) becomes active. Exit 0 when nothing is left "
        "draining, 5 while a version is still draining (or waits for a run), 1 when one "
        "could not be checked.",
    )
    check.add_argument("--product", help="only this product")
    check.add_argument("--env", help="only this environment")
    check.add_argument(
        "--wait", action="store_true", help="keep reading until drained or the drain deadline"
    )
    check.add_argument(
        "--force",
        action="store_true",
        help="retire anyway, whatever is pending (recorded in the audit log with the count)",
    )
    add_json(check)
    check.set_defaults(handler=f"{_HANDLERS}:cmd_drain_check")
