"""CLI commands for notifications: notifications list|deliveries|test|run.

Only argparse work happens at import; handlers live in shipmate.cli.notify.handlers
and are named as handler="module:function" strings (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["register"]

_HANDLERS = "shipmate.cli.notify.handlers"


def register(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this feature's commands to the top-level subparsers."""
    notify = sub.add_parser(
        "notifications",
        help="notification rules, the delivery log, test messages, the delivery worker",
        description="Rules live in [[notifications]] of shipmate.toml; `shipmate serve` "
        "delivers them in the background. See docs/notifications.md.",
    )
    nsub = notify.add_subparsers(dest="notifications_command", metavar="SUBCOMMAND")
    nsub.required = True

    lst = nsub.add_parser("list", help="the configured rules (targets without secrets)")
    add_json(lst)
    lst.set_defaults(handler=f"{_HANDLERS}:cmd_list")

    deliveries = nsub.add_parser("deliveries", help="the delivery log, newest first")
    deliveries.add_argument(
        "--status", help="only pending, sending, delivered, failed or expired deliveries"
    )
    deliveries.add_argument("--rule", help="only this rule's deliveries")
    deliveries.add_argument("--event", help="only this event type (deployment.failed, ...)")
    deliveries.add_argument("--product", help="only this product")
    deliveries.add_argument("--env", help="only this environment")
    deliveries.add_argument(
        "--limit", type=int, default=20, help="rows per page (default: %(default)s)"
    )
    deliveries.add_argument("--before", help="only deliveries with a smaller id (paging)")
    add_json(deliveries)
    deliveries.set_defaults(handler=f"{_HANDLERS}:cmd_deliveries")

    test = nsub.add_parser("test", help="send a test message to a rule's target now")
    test.add_argument("rule", help="the rule's name")
    add_json(test)
    test.set_defaults(handler=f"{_HANDLERS}:cmd_test")

    run = nsub.add_parser(
        "run",
        help="deliver pending notifications (once, or in a loop) without a server",
        description="Scan the event log and send what is due, then exit; with --loop keep "
        "going until interrupted. Safe to run next to `shipmate serve` or another run.",
    )
    run.add_argument("--loop", action="store_true", help="keep running until interrupted")
    run.add_argument(
        "--interval",
        type=float,
        help="seconds between passes with --loop (default: poll_interval_seconds, 2)",
    )
    add_json(run)
    run.set_defaults(handler=f"{_HANDLERS}:cmd_run")
