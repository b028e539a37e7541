"""Handlers of ``deploy``, ``rollback`` and ``runs``: parse, call a service, render.

Local runs act on this host (processes, nginx) and journal into shipmate's database
(a SQLite file or a PostgreSQL URL).  In remote mode (``--url``) the server creates
the run for the agent of the environment's host and the command follows it
(:mod:`shipmate.cli.runs.remote_handlers`); ``runs resume`` refuses there (the agent
resumes its runs).

Test hook: ``SHIPMATE_TEST_CRASH=after:<step>`` (or ``during:<step>``) kills the
process with SIGKILL at that step boundary, so tests can prove a run resumes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from shipmate.cli import render
from shipmate.cli.arguments import local_only, product_of, read_version_file
from shipmate.config import Settings
from shipmate.domain.inputs.fields import parse_id
from shipmate.errors import InvalidInputError

__all__ = [
    "cmd_deploy",
    "cmd_hosts",
    "cmd_rollback",
    "cmd_runs_abort",
    "cmd_runs_list",
    "cmd_runs_resume",
    "cmd_runs_show",
    "deploy_target",
]

_STATE_COLOURS = {
    "completed": "32",
    "completed_draining": "36",
    "failed": "31",
    "running": "33",
    "waiting": "33",
    "interrupted": "35",
    "superseded": "36",
    "aborted": "2",
}


def _local(settings: Settings, command: str) -> None:
    local_only(
        settings,
        command,
        "drives processes and nginx on this host and journals into the database directly",
    )


def _progress_stream(args: argparse.Namespace) -> TextIO:
    return sys.stderr if getattr(args, "json", False) else sys.stdout


def _crash_point() -> Any:
    from shipmate.services.runs.driver import CrashPoint

    return CrashPoint.parse(os.environ.get("SHIPMATE_TEST_CRASH"))


def _watched(args: argparse.Namespace) -> dict[str, Any]:
    """How a run the CLI drives is watched: progress on the terminal, the test crash point."""
    from shipmate.cli.runs.progress import make_progress

    return {"observer": make_progress(_progress_stream(args)), "crash": _crash_point()}


def _print_preview(preview: Any) -> None:
    live = preview.live
    p = render.p
    print(f"  traffic now: {p(live.describe())}")
    for slot, version in live.running.items():
        print(f"  slot {p(slot)}: {p(version or 'nothing running')}")
    if preview.slot is not None:
        how = " (already warm there: a switch back)" if preview.warm else ""
        print(f"  {p(preview.plan.full_version)} goes to slot {p(preview.slot)}{how}")
    print("Steps:")
    for n, step in enumerate(preview.steps, 1):
        print(f"  {n:>2}. {p(step.title)}")
    print("On failure:")
    for line in preview.failure_handling:
        print(f"  - {p(line)}")
    for note in preview.notes:
        print(f"  ! {p(note)}")
    print("(dry run: nothing was changed)")


def _report(args: argparse.Namespace, outcome: Any, ctx: Any) -> int:
    run = outcome.run
    if args.json:
        body = run.to_dict(now=ctx.now(), with_steps=True)
        body["outcome"] = outcome.end.to_dict() if outcome.end else None
        render.print_json(body)
    elif outcome.ok:
        end = outcome.end
        verb = "rolled back to" if run.kind == "rollback" else "deployed"
        print(
            render.colour(
                f"{verb} {render.p(run.product)} {render.p(run.full_version)} in "
                f"{render.p(run.environment)}: {render.p(end.message)} "
                f"(run {run.id}, deployment {end.deployment_id})",
                "32",
            )
        )
    error = outcome.error()
    if error is not None:
        raise error
    return 0


def deploy_target(
    args: argparse.Namespace, settings: Settings
) -> tuple[str, str, int | None, dict[str, Any]]:
    """Product, version and build of ``deploy``: the flags, else the version file."""
    by_file = read_version_file() if args.semver is None else {}
    version = args.semver or by_file.get("version")
    build = args.build if args.build is not None else by_file.get("buildNumber")
    if not version:
        raise InvalidInputError(
            "version is required: pass --version (or run shipmate version next first)",
            field="version",
        )
    product = product_of(args.product, settings, by_file.get("product"))
    return product, str(version), build, by_file


def cmd_deploy(args: argparse.Namespace, settings: Settings) -> int:
    if settings.url:
        from shipmate.cli.runs.remote_handlers import remote_deploy

        return remote_deploy(args, settings)
    from shipmate.services.context import open_context
    from shipmate.services.deploys.config import load_product_deploy
    from shipmate.services.deploys.deploy import DeployRequest, deploy, preview_deploy
    from shipmate.services.project import collect_ci_info

    product, version, build, by_file = deploy_target(args, settings)
    config = load_product_deploy(settings, product)
    ci = collect_ci_info(os.environ, Path.cwd())
    request = DeployRequest(
        product=product,
        environment=args.env,
        version=str(version),
        build_number=build,
        actor=args.deployed_by or ci.actor,
        commit_sha=ci.commit_sha or by_file.get("gitCommit"),
        branch=ci.branch,
        repository=ci.repository,
        ci_platform=ci.platform,
        ci_run_id=ci.run_id,
        ci_run_url=ci.run_url,
    )
    ctx = open_context(settings)
    try:
        if args.dry_run:
            preview = preview_deploy(ctx, config, request)
            if args.json:
                render.print_json(preview.to_dict())
            else:
                print(
                    f"Would deploy {product} {preview.plan.full_version} to {args.env} "
                    "(blue-green):"
                )
                _print_preview(preview)
            return 0
        return _report(args, deploy(ctx, config, request, **_watched(args)), ctx)
    finally:
        ctx.close()


def _history_lines(choice: Any, warm: bool) -> list[str]:
    rows = []
    colours = []
    for d in choice.recent:
        mark = ""
        if d.id == choice.current.id:
            mark = "← current"
        elif d.id == choice.target.id:
            mark = "← rollback target" + (" (warm)" if warm else "")
        rows.append(
            [
                str(d.id),
                d.full_version,
                d.status,
                d.kind,
                render.when(d.finished_at or d.deployed_at),
                d.deployed_by or "-",
                mark,
            ]
        )
        colours.append({"completed": "32", "failed": "31", "rolled_back": "33"}.get(d.status))
    if all(d.id != choice.target.id for d in choice.recent):
        t = choice.target
        rows.append(["...", "", "", "", "", "", ""])
        rows.append(
            [
                str(t.id),
                t.full_version,
                t.status,
                t.kind,
                render.when(t.finished_at),
                t.deployed_by or "-",
                "← rollback target",
            ]
        )
        colours.extend([None, "32"])
    table = render.table(["ID", "VERSION", "STATUS", "KIND", "FINISHED", "BY", ""], rows, colours)
    return table.splitlines()


def _confirm(args: argparse.Namespace, question: str) -> None:
    if args.yes:
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InvalidInputError(
            "refusing to roll back without confirmation: this is not a terminal, so pass "
            "--yes to confirm",
            field="yes",
        )
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise InvalidInputError("rollback cancelled: not confirmed", field="yes")


def cmd_rollback(args: argparse.Namespace, settings: Settings) -> int:
    if settings.url:
        from shipmate.cli.runs.remote_handlers import remote_rollback

        return remote_rollback(args, settings)
    from shipmate.services.context import open_context
    from shipmate.services.deploys.config import load_product_deploy
    from shipmate.services.deploys.deploy import DeployRequest
    from shipmate.services.deploys.rollback import choose_rollback, preview_rollback, rollback

    product = product_of(args.product, settings)
    config = load_product_deploy(settings, product)
    ctx = open_context(settings)
    try:
        choice = choose_rollback(ctx, product, args.env, to=args.to, steps=args.steps)
        preview = preview_rollback(ctx, config, choice)
        current, target = choice.current, choice.target
        if args.json and args.dry_run:
            render.print_json(choice.to_dict() | {"plan": preview.to_dict()})
            return 0
        p = render.p
        if not args.json:
            print(f"{p(product)} in {p(args.env)}: recent deployments")
            for line in _history_lines(choice, preview.warm):
                print("  " + line)
            how = (
                f"switch traffic back to slot {p(preview.slot)}, where it still runs"
                if preview.warm
                else f"start it in slot {p(preview.slot)}, health check, switch"
            )
            print(
                f"Roll back from {p(current.full_version)} to {p(target.full_version)} "
                f"({p(choice.reason)}): {how}."
            )
        if args.dry_run:
            _print_preview(preview)
            return 0
        _confirm(
            args,
            f"Roll back {p(product)} in {p(args.env)} from {p(current.full_version)} to "
            f"{p(target.full_version)}?",
        )
        request = DeployRequest(
            product=product,
            environment=args.env,
            version=target.full_version,
            actor=args.deployed_by,
        )
        return _report(args, rollback(ctx, config, choice, request, **_watched(args)), ctx)
    finally:
        ctx.close()


def _run_id(value: str) -> int:
    return parse_id(value, field="id", label="run id", noun="a number")


def _open(settings: Settings, command: str) -> Any:
    _local(settings, command)
    from shipmate.services.context import open_context

    return open_context(settings)


def cmd_runs_list(args: argparse.Namespace, settings: Settings) -> int:
    if settings.url:
        from shipmate.cli.runs.remote_handlers import remote_runs_list

        return remote_runs_list(args, settings)
    from shipmate.services.runs.control import list_runs

    ctx = _open(settings, "runs list")
    try:
        items = list_runs(
            ctx, product=args.product, environment=args.env, status=args.status, limit=args.limit
        )
        now = ctx.now()
        if args.json:
            render.print_json({"items": [r.to_dict(now=now) for r in items]})
            return 0
        print_runs(items, now)
        return 0
    finally:
        ctx.close()


def print_runs(items: list[Any], now: datetime) -> None:
    """Runs as a table (local records or the remote ones, same attributes)."""
    if not items:
        print("No runs. Start one with: shipmate deploy --product P --env E --version V")
        return
    rows = []
    colours = []
    for r in items:
        state = r.state(now)
        took = (
            render.duration(int((r.finished_at - r.created_at).total_seconds() * 1000))
            if r.finished_at
            else "-"
        )
        rows.append(
            [
                str(r.id),
                r.kind,
                r.product,
                r.environment,
                r.full_version,
                state,
                render.when(r.created_at),
                took,
                r.actor or "-",
            ]
        )
        colours.append(_STATE_COLOURS.get(state))
    print(
        render.table(
            ["ID", "KIND", "PRODUCT", "ENV", "VERSION", "STATUS", "STARTED", "TOOK", "BY"],
            rows,
            colours,
        )
    )


def render_run(run: Any, now: Any) -> str:
    state = run.state(now)
    lines = [
        render.colour(
            f"Run {run.id}: {run.kind} of {run.product} {run.full_version} to {run.environment}",
            "1",
        ),
        f"  status:      {render.colour(state, _STATE_COLOURS.get(state))}",
        f"  started:     {render.when(run.created_at)} by {run.actor or '-'}",
    ]
    if run.finished_at:
        lines.append(f"  finished:    {render.when(run.finished_at)}")
    if run.deployment_id:
        lines.append(f"  deployment:  {run.deployment_id}")
    if run.reverts_id:
        lines.append(f"  reverts:     {run.reverts_id}")
    if run.rollback_deployment_id:
        lines.append(f"  automatic rollback: deployment {run.rollback_deployment_id}")
    if run.attempts > 1:
        lines.append(f"  driven:      {run.attempts} times (resumed)")
    if run.error:
        lines.append(f"  error:       {run.error}")
    if run.host:
        lines.append(f"  host:        {run.host}")
    if run.attention and state == "interrupted":
        lines.append(f"  attention:   {run.attention} (noticed {render.when(run.attention_at)})")
    if state == "interrupted":
        lines.append(f"  resume with: shipmate runs resume {run.id}")
    lines.append("Steps:")
    marks = {"completed": ("✓", "32"), "failed": ("✗", "31"), "running": ("…", "33")}
    for s in run.steps:
        mark, code = marks.get(s.status, ("?", None))
        extra = []
        if s.duration_ms is not None:
            extra.append(
                render.duration(s.duration_ms) if s.duration_ms >= 1000 else f"{s.duration_ms} ms"
            )
        if s.attempts > 1:
            extra.append(f"{s.attempts} attempts")
        if s.status == "running":
            extra.append("interrupted here" if state == "interrupted" else "in progress")
        suffix = f" ({', '.join(extra)})" if extra else ""
        lines.append(f"  {render.colour(mark, code)} {s.seq:>2}. {s.title}{suffix}")
        if s.error:
            lines.append(f"        error: {s.error}")
        if s.output:
            for out in s.output.splitlines()[-20:]:
                lines.append(f"        {out}")
    return "\n".join(lines)


def _one_run(
    args: argparse.Namespace,
    settings: Settings,
    command: str,
    act: Callable[[Any, int], Any],
    text: Callable[[Any, datetime], str],
    *,
    abort: bool,
) -> int:
    """``runs show`` and ``runs abort``: ``act`` on the run, print it (JSON, or ``text``);
    in remote mode the server does it."""
    if settings.url:
        from shipmate.cli.runs.remote_handlers import remote_one_run

        return remote_one_run(args, settings, abort=abort)
    ctx = _open(settings, command)
    try:
        run = act(ctx, _run_id(args.id))
        if args.json:
            render.print_json(run.to_dict(now=ctx.now(), with_steps=True))
        else:
            print(text(run, ctx.now()))
        return 0
    finally:
        ctx.close()


def cmd_runs_show(args: argparse.Namespace, settings: Settings) -> int:
    return _one_run(args, settings, "runs show", _show_run, render_run, abort=False)


def _show_run(ctx: Any, run_id: int) -> Any:
    from shipmate.services.runs.control import get_run

    return get_run(ctx, run_id)


def cmd_runs_resume(args: argparse.Namespace, settings: Settings) -> int:
    if settings.url:
        raise InvalidInputError(
            "in remote mode a run is resumed by the agent of its host, by itself, when the "
            "agent runs again (see shipmate hosts for when it was last seen); to give up a "
            "run whose host is gone: shipmate runs abort ID",
            field="url",
        )
    from shipmate.services.runs.control import orphaned_runs, resume_run
    from shipmate.services.runs.records import this_host

    ctx = _open(settings, "runs resume")
    try:
        if args.id is not None:
            ids = [_run_id(args.id)]
        else:
            here = this_host()
            found = orphaned_runs(ctx)
            for other in (r for r in found if r.host not in (None, here)):
                print(
                    f"run {other.id} belongs to host {other.host}: resume it there",
                    file=sys.stderr,
                )
            ids = [r.id for r in found if r.host in (None, here)]
            if not ids:
                if args.json:
                    render.print_json({"items": []})
                else:
                    print("No interrupted runs.")
                return 0
        results = []
        first_error = None
        for run_id in ids:
            outcome = resume_run(ctx, run_id, **_watched(args))
            results.append(outcome)
            if not args.json and outcome.ok and outcome.end is not None:
                print(render.colour(f"run {run_id}: {outcome.end.message}", "32"))
            first_error = first_error or outcome.error()
        if args.json:
            render.print_json(
                {
                    "items": [
                        o.run.to_dict(now=ctx.now(), with_steps=True)
                        | {"outcome": o.end.to_dict() if o.end else None}
                        for o in results
                    ]
                }
            )
        if first_error is not None:
            raise first_error
        return 0
    finally:
        ctx.close()


def cmd_runs_abort(args: argparse.Namespace, settings: Settings) -> int:
    return _one_run(
        args,
        settings,
        "runs abort",
        _abort_run,
        lambda run, _now: f"run {run.id} aborted; traffic and slots were left as they were",
        abort=True,
    )


def _abort_run(ctx: Any, run_id: int) -> Any:
    from shipmate.services.records.deployments import default_actor
    from shipmate.services.runs.control import abort_run

    return abort_run(ctx, run_id, actor=default_actor())


def cmd_hosts(args: argparse.Namespace, settings: Settings) -> int:
    from shipmate.cli.runs import remote_handlers

    if settings.url:
        return remote_handlers.remote_hosts_command(args, settings)
    from shipmate.services.context import open_context
    from shipmate.services.runs.hostlist import list_hosts

    ctx = open_context(settings)
    try:
        items = [h.to_dict() for h in list_hosts(ctx)]
    finally:
        ctx.close()
    if args.json:
        render.print_json({"items": items})
    else:
        remote_handlers.print_hosts(items)
    return 0
