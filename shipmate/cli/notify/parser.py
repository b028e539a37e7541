"""CLI commands for notifications: notifications list|deliveries|test|run.

Only argparse work happens at import; handlers live in shipmate.cli.notify.handlers
and are named as handler="module:function" strings (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from shipmate.cli import choices
from shipmate.cli.parsing import Choice, add_paging, add_product_env, command, command_group

__all__ = ["register"]

_HANDLERS = "shipmate.cli.notify.handlers"


def register(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this feature's commands to the top-level subparsers."""
    nsub = command_group(
        sub,
        "notifications",
        "notification rules, the delivery log, test messages, the delivery worker",
        description="Rules live in [[notifications]] of shipmate.toml; `shipmate serve` "
        "delivers them in the background. See docs/notifications.md.",
        examples=[
            "shipmate notifications list",
            "shipmate notifications deliveries --status failed",
        ],
        dest="notifications_command",
    )

    lst = command(
        nsub,
        "list",
        "the configured rules (targets without secrets)",
        examples=["shipmate notifications list --json"],
        handler=f"{_HANDLERS}:cmd_list",
    )
    add_json(lst)

    deliveries = command(
        nsub,
        "deliveries",
        "the delivery log, newest first",
        examples=[
            "shipmate notifications deliveries --status failed --product api",
            "shipmate notifications deliveries --rule oncall --all --json",
        ],
        handler=f"{_HANDLERS}:cmd_deliveries",
    )
    deliveries.add_argument(
        "--status",
        type=Choice(choices.DELIVERY_STATUSES, fold=False),
        help="only pending, sending, delivered, failed or expired deliveries",
    )
    deliveries.add_argument("--rule", help="only this rule's deliveries")
    deliveries.add_argument("--event", help="only this event type (deployment.failed, ...)")
    add_product_env(deliveries, product="only this product", env="only this environment")
    add_paging(deliveries, before="deliveries")
    add_json(deliveries)

    test = command(
        nsub,
        "test",
        "send a test message to a rule's target now",
        examples=["shipmate notifications test oncall"],
        handler=f"{_HANDLERS}:cmd_test",
    )
    test.add_argument("rule", help="the rule's name")
    add_json(test)

    run = command(
        nsub,
        "run",
        "deliver pending notifications (once, or in a loop) without a server",
        description="Scan the event log and send what is due, then exit; with --loop keep "
        "going until interrupted. Safe to run next to `shipmate serve` or another run.",
        examples=["shipmate notifications run", "shipmate notifications run --loop --interval 5"],
        handler=f"{_HANDLERS}:cmd_run",
    )
    run.add_argument("--loop", action="store_true", help="keep running until interrupted")
    run.add_argument(
        "--interval",
        type=float,
        help="seconds between passes with --loop (default: poll_interval_seconds, 2)",
    )
    add_json(run)
