"""The remote-mode bodies of ``deploy``, ``rollback``, ``runs list|show|abort`` and
``hosts``: build the request, call the server (:mod:`shipmate.cli.runs.remote`),
render like local mode."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from shipmate.cli import render
from shipmate.cli.arguments import product_of
from shipmate.cli.runs.handlers import (
    _confirm,
    _history_lines,
    _progress_stream,
    _run_id,
    deploy_target,
    print_runs,
    render_run,
)
from shipmate.cli.runs.progress import make_progress
from shipmate.cli.runs.remote import (
    RemoteChoice,
    create_and_follow,
    now,
    remote_abort,
    remote_hosts,
    remote_runs,
    remote_show,
    rollback_preview,
)
from shipmate.config import Settings

__all__ = [
    "print_hosts",
    "remote_deploy",
    "remote_hosts_command",
    "remote_one_run",
    "remote_rollback",
    "remote_runs_list",
]


def _ci_fields() -> dict[str, Any]:
    from shipmate.services.project import collect_ci_info

    ci = collect_ci_info(os.environ, Path.cwd())
    return {
        "deployed_by": ci.actor,
        "commit_sha": ci.commit_sha,
        "branch": ci.branch,
        "repository": ci.repository,
        "ci_platform": ci.platform,
        "ci_run_id": ci.run_id,
        "ci_run_url": ci.run_url,
    }


def remote_deploy(args: argparse.Namespace, settings: Settings) -> int:
    product, version, build, by_file = deploy_target(args, settings)
    ci = _ci_fields()
    body: dict[str, Any] = {
        "kind": "deploy",
        "product": product,
        "environment": args.env,
        "version": str(version),
        "build_number": build,
        **ci,
        "deployed_by": args.deployed_by or ci["deployed_by"],
        "commit_sha": ci["commit_sha"] or by_file.get("gitCommit"),
    }
    body = {k: v for k, v in body.items() if v is not None}
    if args.dry_run:
        answer = rollback_preview(settings, body)
        if args.json:
            render.print_json(answer)
            return 0
        plan = answer["plan"]
        hosts = ", ".join(answer["hosts"])
        print(
            f"Would deploy {render.p(product)} {render.p(plan['full_version'])} to "
            f"{render.p(args.env)} on {render.p(hosts)} (blue-green): the configuration and "
            "the gates allow it; which slot it takes depends on what runs on the host"
        )
        print("(dry run: nothing was changed)")
        return 0
    stream = _progress_stream(args)
    return create_and_follow(args, settings, body, make_progress(stream), stream)


def remote_rollback(args: argparse.Namespace, settings: Settings) -> int:
    product = product_of(args.product, settings)
    body: dict[str, Any] = {"kind": "rollback", "product": product, "environment": args.env}
    if args.to is not None:
        body["to"] = args.to
    if args.steps is not None:
        body["steps"] = args.steps
    if args.deployed_by:
        body["deployed_by"] = args.deployed_by
    answer = rollback_preview(settings, body)
    choice = RemoteChoice.from_dict(answer["rollback"])
    current, target = choice.current, choice.target
    hosts = ", ".join(answer["hosts"])
    if args.json and args.dry_run:
        render.print_json(answer)
        return 0
    p = render.p
    if not args.json:
        print(f"{p(product)} in {p(args.env)}: recent deployments")
        for line in _history_lines(choice, False):
            print("  " + line)
        print(
            f"Roll back from {p(current.full_version)} to {p(target.full_version)} "
            f"({p(choice.reason)}): the agent on {p(hosts)} switches traffic back to it if "
            "it still runs warm there, else starts it, health checks, switch."
        )
    if args.dry_run:
        print("(dry run: nothing was changed)")
        return 0
    _confirm(
        args,
        f"Roll back {p(product)} in {p(args.env)} from {p(current.full_version)} to "
        f"{p(target.full_version)}?",
    )
    body.pop("steps", None)
    body |= {"to": target.full_version, "current_id": current.id}
    stream = _progress_stream(args)
    return create_and_follow(args, settings, body, make_progress(stream), stream)


def remote_runs_list(args: argparse.Namespace, settings: Settings) -> int:
    query = {"limit": str(args.limit)}
    for name, value in (("product", args.product), ("environment", args.env)):
        if value:
            query[name] = value
    if args.status:
        query["status"] = args.status
    items = remote_runs(settings, query)
    if args.json:
        render.print_json({"items": [_plain(r) for r in items]})
        return 0
    print_runs(items, now())
    return 0


def _plain(run: Any) -> dict[str, Any]:
    return {
        "id": str(run.id),
        "kind": run.kind,
        "product": run.product,
        "environment": run.environment,
        "full_version": run.full_version,
        "status": run.status,
        "state": run.shown_state,
        "host": run.host,
    }


def remote_one_run(args: argparse.Namespace, settings: Settings, *, abort: bool) -> int:
    run_id = _run_id(args.id)
    run, body = remote_abort(settings, run_id) if abort else remote_show(settings, run_id)
    if args.json:
        render.print_json(body)
    elif abort:
        print(f"run {run.id} aborted; traffic and slots were left as they were")
    else:
        print(render_run(run, now()))
    return 0


def print_hosts(items: list[dict[str, Any]], out: Any = None) -> None:
    """Hosts as a table: labels, last seen (stale marked), slots, the run in progress."""
    out = out or sys.stdout
    if not items:
        print("No hosts. Start shipmate agent on a deploy host (docs/agents.md).", file=out)
        return
    rows = []
    colours = []
    for h in items:
        labels = ",".join(f"{k}={v}" for k, v in sorted(h["labels"].items())) or "-"
        seen = render.when(_when(h["last_seen_at"]))
        if h.get("stale"):
            seen += " (stale)"
        slots = []
        for product, envs in sorted((h.get("state") or {}).items()):
            slots.append(f"{product}: {_slots(envs)}")
        runs = [f"run {r['id']} {r['kind']} {r['full_version']} ({r['state']})" for r in h["runs"]]
        rows.append(
            [
                h["name"],
                labels,
                seen,
                "; ".join(slots) or "-",
                "; ".join(runs) or "-",
            ]
        )
        colours.append("33" if h.get("stale") else None)
    print(render.table(["HOST", "LABELS", "LAST SEEN", "SLOTS", "RUN"], rows, colours), file=out)


def _when(value: str) -> Any:
    from shipmate.domain.inputs.fields import parse_time

    return parse_time(value, field="last_seen_at")


def _slots(value: Any) -> str:
    """What an agent reported of a product's slots, as short text."""
    if not isinstance(value, dict):
        return render.p(str(value))
    parts = []
    for key, item in sorted(value.items()):
        if isinstance(item, dict):
            parts.append(f"{key} {_slots(item)}")
        else:
            parts.append(f"{key}={item}")
    return render.p(" ".join(parts))


def remote_hosts_command(args: argparse.Namespace, settings: Settings) -> int:
    items = remote_hosts(settings)
    if args.json:
        render.print_json({"items": items})
    else:
        print_hosts(items)
    return 0
