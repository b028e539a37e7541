"""The ``notifications`` commands (list, deliveries, test, run) as a table."""

from __future__ import annotations

from shipmate.cli import choices
from shipmate.cli.parsing import (
    Arg,
    Choice,
    Command,
    Group,
    Using,
    add_json,
    add_paging,
    add_product_env,
)

__all__ = ["COMMANDS"]

_HANDLERS = "shipmate.cli.notify.handlers"


_NOTIFICATIONS_LIST = Command(
    "list",
    "the configured rules (targets without secrets)",
    examples=["shipmate notifications list --json"],
    handler=f"{_HANDLERS}:cmd_list",
    args=[add_json],
)

_NOTIFICATIONS_DELIVERIES = Command(
    "deliveries",
    "the delivery log, newest first",
    examples=[
        "shipmate notifications deliveries --status failed --product api",
        "shipmate notifications deliveries --rule oncall --all --json",
    ],
    handler=f"{_HANDLERS}:cmd_deliveries",
    args=[
        Arg(
            "--status",
            type=Choice(choices.DELIVERY_STATUSES, fold=False),
            help="only pending, sending, delivered, failed or expired deliveries",
        ),
        Arg("--rule", help="only this rule's deliveries"),
        Arg("--event", help="only this event type (deployment.failed, ...)"),
        Using(add_product_env, product="only this product", env="only this environment"),
        Using(add_paging, before="deliveries"),
        add_json,
    ],
)

_NOTIFICATIONS_TEST = Command(
    "test",
    "send a test message to a rule's target now",
    examples=["shipmate notifications test oncall"],
    handler=f"{_HANDLERS}:cmd_test",
    args=[Arg("rule", help="the rule's name"), add_json],
)

_NOTIFICATIONS_RUN = Command(
    "run",
    "deliver pending notifications (once, or in a loop) without a server",
    description="Scan the event log and send what is due, then exit; with --loop keep "
    "going until interrupted. Safe to run next to `shipmate serve` or another run.",
    examples=["shipmate notifications run", "shipmate notifications run --loop --interval 5"],
    handler=f"{_HANDLERS}:cmd_run",
    args=[
        Arg("--loop", action="store_true", help="keep running until interrupted"),
        Arg(
            "--interval",
            type=float,
            help="seconds between passes with --loop (default: poll_interval_seconds, 2)",
        ),
        add_json,
    ],
)

_NOTIFICATIONS = Group(
    "notifications",
    "notification rules, the delivery log, test messages, the delivery worker",
    description="Rules live in [[notifications]] of shipmate.toml; `shipmate serve` "
    "delivers them in the background. See docs/notifications.md.",
    examples=[
        "shipmate notifications list",
        "shipmate notifications deliveries --status failed",
    ],
    dest="notifications_command",
    commands=[
        _NOTIFICATIONS_LIST,
        _NOTIFICATIONS_DELIVERIES,
        _NOTIFICATIONS_TEST,
        _NOTIFICATIONS_RUN,
    ],
)

#: This group's commands (built by :func:`shipmate.cli.parsing.declare`).
COMMANDS = (_NOTIFICATIONS,)
