"""Handlers of the gates commands (``shipmate gates ...``, ``approve``, ``unlock``).

Each is called as ``handler(args, settings)`` and goes through the
:class:`~shipmate.cli.backends.interface.Backend`, so local and remote mode print the same
and exit the same: 0 done, 1 refused (not found, conflict), 2 bad input,
3 blocked by a gate (``gates check`` too, when the deployment would be refused).

:func:`explain_refusal` turns a :class:`GateBlockedError` into the one stderr line
``shipmate record`` prints: the message, the rule and its code, and when to
retry, in RFC 3339 and relative to now.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from shipmate.cli import render
from shipmate.cli.arguments import product_of
from shipmate.cli.backends.interface import Backend, open_backend
from shipmate.config import Settings
from shipmate.domain.inputs.fields import parse_time
from shipmate.errors import GateBlockedError, InvalidInputError, ShipmateError

__all__ = [
    "cmd_approve",
    "cmd_gates",
    "cmd_unlock",
    "explain_refusal",
    "refusal_line",
    "relative",
]

EXIT_BLOCKED = GateBlockedError.exit_code


def relative(target: datetime, now: datetime) -> str:
    """``in 2h 5m`` / ``now``: how far ``target`` is from ``now`` (to the minute past 1 h)."""
    seconds = int((target - now).total_seconds())
    if seconds <= 0:
        return "now"
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    if len(parts) > 1 and parts[-1].endswith("s"):
        parts.pop()  # seconds only matter for the last minute
    return "in " + " ".join(parts[:2])


def _retry_text(retry_after: object, now: datetime) -> str:
    if not isinstance(retry_after, str):
        return "no retry time: retry once the rule passes"
    try:
        at = parse_time(retry_after, field="retry_after")
    except ShipmateError:
        return f"retry after {retry_after}"
    return f"retry after {retry_after} ({relative(at, now)})"


def refusal_line(rule: str, code: object, message: str, retry_after: object, now: datetime) -> str:
    """``blocked by gate rule 'x' (CODE): what and why; retry after T (in 2h 5m)``."""
    text = message.rstrip(". ")
    prefix = f"gate {rule!r}: "
    if text.startswith(prefix):
        text = text[len(prefix) :]
    if isinstance(retry_after, str) and text.endswith(f". Retry after {retry_after}"):
        text = text[: -len(f". Retry after {retry_after}")]
    return f"blocked by gate rule {rule!r} ({code}): {text}; {_retry_text(retry_after, now)}"


def explain_refusal(exc: GateBlockedError, now: datetime | None = None) -> GateBlockedError:
    """The same error with the rule, its code and the retry time spelled out."""
    details = exc.details
    rule = details.get("rule_name")
    if not isinstance(rule, str):
        return exc
    message = refusal_line(
        rule,
        details.get("gate_code"),
        exc.message,
        details.get("retry_after"),
        now or datetime.now(UTC),
    )
    return GateBlockedError("deployment " + message, field=exc.field, **details)


def _scope(items: list[str]) -> str:
    return ",".join(items) or "all"


def _settings_text(rule: dict[str, Any]) -> str:
    kind = rule["kind"]
    if kind == "concurrency":
        return f"lease {rule['lease_seconds']}s"
    if kind == "freeze":
        when = (
            f"cron {rule['cron']!r} for {rule['duration_seconds']}s"
            if rule.get("cron")
            else f"{rule['start']} .. {rule['end']}"
        )
        reason = f" ({rule['reason']})" if rule.get("reason") else ""
        return f"{when} {rule['timezone']}{reason}"
    if kind == "flow":
        soak = f", soak {rule['soak_seconds']}s" if rule.get("soak_seconds") else ""
        return f"after {','.join(rule['required_environments'])}{soak}"
    if kind == "approval":
        own = ", self-approval counts" if rule.get("allow_self_approval") else ""
        return f"{rule['required']} approval(s){own}"
    return ""


def _definition(args: argparse.Namespace) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if args.definition:
        try:
            loaded = json.loads(args.definition)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"--definition is not valid JSON: {exc.msg} at position {exc.pos}",
                field="definition",
            ) from None
        if not isinstance(loaded, dict):
            raise InvalidInputError("--definition must be a JSON object", field="definition")
        data.update(loaded)
    for key in (
        "name",
        "kind",
        "mode",
        "products",
        "environments",
        "lease",
        "start",
        "end",
        "cron",
        "duration",
        "timezone",
        "reason",
        "required_environments",
        "soak",
        "required",
        "allow_self_approval",
    ):
        value = getattr(args, key)
        if value is not None:
            data[key] = value
    return data


def _print_rule(verb: str, rule: dict[str, Any], as_json: bool) -> None:
    if as_json:
        render.print_json(rule)
    else:
        print(f"{verb} gate rule {render.p(repr(rule['name']))} ({rule['kind']}, {rule['mode']})")


def _check(args: argparse.Namespace, settings: Settings, backend: Backend) -> int:
    product = product_of(args.product, settings)
    result = backend.check_gates(product, args.semver, args.env, args.deployer)
    if args.json:
        render.print_json(result)
    else:
        rows = [
            [
                r["rule_name"],
                r["kind"],
                r["mode"],
                "pass" if r["passed"] else ("BLOCK" if r["blocks"] else "fail"),
                r["message"],
            ]
            for r in result["results"]
        ]
        if rows:
            print(render.table(["RULE", "KIND", "MODE", "RESULT", "MESSAGE"], rows))
        else:
            print(f"No gate rule applies to {render.p(product)} in {render.p(args.env)}.")
    if result["allowed"]:
        if not args.json:
            print(
                f"ok: {render.p(product)} {render.p(args.semver)} may deploy to "
                f"{render.p(args.env)} now"
            )
        return 0
    block = result["blocking"]
    line = refusal_line(
        block["details"]["rule_name"],
        block["code"],
        block["message"],
        block.get("retry_after"),
        datetime.now(UTC),
    )
    print(f"shipmate: {render.p(line)}", file=sys.stderr)
    return EXIT_BLOCKED


def cmd_gates(args: argparse.Namespace, settings: Settings) -> int:
    backend = open_backend(settings)
    try:
        command = args.gates_command
        if command == "check":
            return _check(args, settings, backend)
        if command == "add":
            _print_rule("added", backend.add_gate_rule(_definition(args)), args.json)
        elif command == "set-mode":
            _print_rule("set", backend.set_gate_rule_mode(args.name, args.mode), args.json)
        elif command == "remove":
            _print_rule("removed", backend.remove_gate_rule(args.name), args.json)
        else:
            items = backend.gate_rules()
            if args.json:
                render.print_json({"items": items})
            elif not items:
                print(
                    "No gate rules. Add [[gates]] to shipmate.toml or run, e.g.: "
                    "shipmate gates add --name one-at-a-time --kind concurrency"
                )
            else:
                rows = [
                    [
                        r["name"],
                        r["kind"],
                        r["mode"],
                        _scope(r["products"]),
                        _scope(r["environments"]),
                        r["source"],
                        _settings_text(r),
                    ]
                    for r in items
                ]
                headers = ["NAME", "KIND", "MODE", "PRODUCTS", "ENVS", "SOURCE", "SETTINGS"]
                print(render.table(headers, rows))
        return 0
    finally:
        backend.close()


def cmd_approve(args: argparse.Namespace, settings: Settings) -> int:
    backend = open_backend(settings)
    try:
        approval = backend.approve(
            product_of(args.product, settings),
            args.semver,
            args.env,
            comment=args.comment,
        )
    finally:
        backend.close()
    if args.json:
        render.print_json(approval)
    elif approval["created"]:
        print(
            render.table_line(
                [
                    "approved",
                    approval["product"],
                    approval["version"],
                    "for",
                    approval["environment"],
                    "as",
                    approval["approver"],
                ]
            )
        )
    else:
        print(
            render.table_line(
                [
                    approval["approver"],
                    "had already approved",
                    approval["product"],
                    approval["version"],
                    "for",
                    approval["environment"],
                    "at",
                    approval["approved_at"],
                ]
            )
        )
    return 0


def cmd_unlock(args: argparse.Namespace, settings: Settings) -> int:
    product = args.product or settings.product
    if args.deployment_id is None:
        product = product_of(args.product, settings)
        if not args.env:
            raise InvalidInputError("--env is required (or give --id)", field="env")
    backend = open_backend(settings)
    try:
        dep = backend.unlock(
            product=product if args.deployment_id is None or args.product else None,
            environment=args.env,
            deployment_id=args.deployment_id,
            reason=args.reason,
        )
    finally:
        backend.close()
    if args.json:
        render.print_json(dep.to_dict())
    else:
        shown = [str(dep.id), dep.product, dep.full_version, dep.environment]
        print(render.table_line([*shown, "aborted (unlocked)"]))
    return 0
