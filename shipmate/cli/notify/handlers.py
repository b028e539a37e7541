"""Handlers of ``shipmate notifications ...``: called as ``handler(args, settings)``.

``list``, ``deliveries`` and ``test`` work locally (the config file and the
database) or, in remote mode (``SHIPMATE_URL``), through the server's API, whose
rules are the server's.  ``run`` always works on the database: it is the delivery
worker for setups without ``shipmate serve``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from shipmate.cli import render
from shipmate.cli.arguments import fields_of
from shipmate.config import Settings
from shipmate.domain.inputs.fields import parse_id
from shipmate.errors import InvalidInputError

__all__ = ["cmd_deliveries", "cmd_list", "cmd_run", "cmd_test"]


def _remote(settings: Settings) -> Any:
    from shipmate.cli.backends.remote import RemoteBackend

    return RemoteBackend(settings)


def _print_rules(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        render.print_json(data)
        return
    items = data["items"]
    if not items:
        print(
            "No notification rules. Add [[notifications]] to shipmate.toml "
            "(see docs/notifications.md)."
        )
        return
    print(
        render.table(
            ["NAME", "VIA", "TARGET", "EVENTS", "PRODUCTS", "ENVIRONMENTS", "STATUSES", "SIGNED"],
            [
                [
                    r["name"] + ("" if r["enabled"] else " (disabled)"),
                    r["via"],
                    r["target"],
                    ",".join(r["events"]),
                    ",".join(r["products"]) or "all",
                    ",".join(r["environments"]) or "all",
                    ",".join(r["statuses"]) or "any",
                    "yes" if r["signed"] else "no",
                ]
                for r in items
            ],
        )
    )


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    if settings.url:
        data = _remote(settings)._request("GET", "/api/v1/notifications/rules")
    else:
        from shipmate.services.notify.config import load_notify_config

        config = load_notify_config(settings)
        data = {"items": [r.to_dict() for r in config.rules], "base_url": config.base_url}
    _print_rules(data, args.json)
    return 0


def _when(value: str | None) -> str:
    return "-" if not value else value[:19].replace("T", " ")


#: The delivery log's filters (query parameters and list_deliveries arguments alike),
#: and the flags they come from.
_DELIVERY_FLAGS = {
    "status": "status",
    "rule": "rule",
    "event_type": "event",
    "product": "product",
    "environment": "env",
}


def _deliveries(args: argparse.Namespace, settings: Settings, before: str | None) -> dict[str, Any]:
    """One page of the delivery log, older than ``before``."""
    filters = fields_of(args, _DELIVERY_FLAGS)
    if settings.url:
        query = {
            key: str(value)
            for key, value in (*filters.items(), ("limit", args.limit), ("before_id", before))
            if value is not None
        }
        remote: dict[str, Any] = _remote(settings)._request(
            "GET", "/api/v1/notifications/deliveries", query=query
        )
        return remote
    from shipmate.services.context import open_context
    from shipmate.services.notify.delivery_log import list_deliveries

    ctx = open_context(settings)
    try:
        items = list_deliveries(
            ctx,
            **filters,
            limit=args.limit,
            before_id=None if before is None else int(before),
        )
    finally:
        ctx.close()
    return {
        "items": [d.to_dict() for d in items],
        "next_before_id": str(items[-1].id) if len(items) == args.limit else None,
    }


def cmd_deliveries(args: argparse.Namespace, settings: Settings) -> int:
    if args.before is not None:
        parse_id(args.before, field="before", label="--before")
    from shipmate.cli.paging import pages

    data = pages(
        lambda before: _deliveries(args, settings, before), "next_before_id", args.before, args.all
    )
    if args.json:
        render.print_json(data)
        return 0
    items_out = data["items"]
    if not items_out:
        print("No deliveries.")
        return 0
    print(
        render.table(
            ["ID", "RULE", "EVENT", "PRODUCT", "ENV", "STATUS", "TRIES", "CODE", "WHEN", "ERROR"],
            [
                [
                    d["id"],
                    d["rule"],
                    d["event_type"],
                    d["product"] or "-",
                    d["environment"] or "-",
                    d["status"],
                    str(d["attempts"]),
                    "-" if d["last_status_code"] is None else str(d["last_status_code"]),
                    _when(
                        d["delivered_at"]
                        if d["status"] == "delivered"
                        else d["next_attempt_at"] or d["updated_at"]
                    ),
                    (d["last_error"] or "")[:60],
                ]
                for d in items_out
            ],
        )
    )
    if data.get("next_before_id"):
        print(f"more: --before {data['next_before_id']}", file=sys.stderr)
    return 0


def cmd_test(args: argparse.Namespace, settings: Settings) -> int:
    if settings.url:
        data = _remote(settings)._request(
            "POST", "/api/v1/notifications/test", body={"rule": args.rule}, write=True
        )
    else:
        from shipmate.services.context import open_context
        from shipmate.services.notify.config import load_notify_config
        from shipmate.services.notify.sending import send_test

        config = load_notify_config(settings)
        ctx = open_context(settings)
        try:
            result = send_test(ctx, config, args.rule)
        finally:
            ctx.close()
        rule = config.rule(args.rule)
        data = {"rule": args.rule, "target": None if rule is None else rule.target}
        data |= result.to_dict()
    if args.json:
        render.print_json(data)
    elif data["delivered"]:
        code = f" (HTTP {data['status_code']})" if data.get("status_code") else ""
        print(
            f"test message delivered to {render.p(data['target'])} by rule "
            f"{render.p(repr(data['rule']))}{code}"
        )
    else:
        print(
            f"test message NOT delivered to {render.p(data['target'])} by rule "
            f"{render.p(repr(data['rule']))}: {render.p(data.get('error') or data.get('outcome'))}",
            file=sys.stderr,
        )
    return 0 if data["delivered"] else 1


def _summary(report: Any) -> str:
    return (
        f"scanned {report.scanned} event(s), queued {report.queued}, "
        f"delivered {report.delivered}, retrying {report.retrying}, failed {report.failed}"
        + (f", expired {report.expired}" if report.expired else "")
    )


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from shipmate.services.context import open_context
    from shipmate.services.notify.config import load_notify_config
    from shipmate.services.notify.worker import NotificationWorker

    if args.interval is not None and not 0.05 <= args.interval <= 3600:
        raise InvalidInputError(
            "--interval must be between 0.05 and 3600 seconds", field="interval"
        )
    config = load_notify_config(settings)
    if args.interval is not None:
        config = replace(config, poll_interval_seconds=args.interval)
    if not config.active_rules:
        message = "no notification rules configured ([[notifications]] in shipmate.toml)"
        if args.json:
            render.print_json({"rules": 0, "message": message})
        else:
            print(message, file=sys.stderr)
        return 0
    ctx = open_context(settings)
    try:
        worker = NotificationWorker(ctx, config)
        if args.loop:
            print(
                f"delivering notifications for {len(config.active_rules)} rule(s); Ctrl-C to stop",
                file=sys.stderr,
                flush=True,
            )
            worker.run_forever()
            return 0
        report = worker.drain()
    finally:
        ctx.close()
    if args.json:
        render.print_json(report.to_dict())
    else:
        print(_summary(report))
    return 0
