"""Handlers of ``shipmate plan`` and ``shipmate release ...``: ``handler(args, settings)``.

``plan``, ``release add-action``, ``sync``, ``list``, ``set-predecessor`` and ``log``
work on the database or, in remote mode (``SHIPMATE_URL``), through the server's
API (``sync`` reads the folder here and sends its content).  ``release apply`` runs
the actions on this host, so it always works on the database directly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from shipmate.cli import render
from shipmate.cli.arguments import fields_of, local_only
from shipmate.config import Settings
from shipmate.domain.inputs.fields import parse_id
from shipmate.errors import InvalidInputError, ShipmateError

__all__ = [
    "cmd_add_action",
    "cmd_apply",
    "cmd_list",
    "cmd_log",
    "cmd_plan",
    "cmd_set_predecessor",
    "cmd_sync",
]

_API = "/api/v1/releases"

#: The fields of an ApplyRequest but its product, and the flags they come from.
_APPLY_FLAGS = {
    "environment": "env",
    "version": "target",
    "build_number": "build",
    "actor": "deployed_by",
    "strict": "strict",
    "timeout": "timeout",
}


def _remote(settings: Settings) -> Any:
    from shipmate.cli.backends.remote import RemoteBackend

    return RemoteBackend(settings)


def _product(args: argparse.Namespace, settings: Settings) -> str:
    product = args.product or settings.product
    if not product:
        raise InvalidInputError(
            "give --product (or set SHIPMATE_PRODUCT / product in shipmate.toml)",
            field="product",
        )
    return str(product)


def _open(settings: Settings) -> Any:
    from shipmate.services.context import open_context

    return open_context(settings)


# -- plan ---------------------------------------------------------------------------------


def cmd_plan(args: argparse.Namespace, settings: Settings) -> int:
    product = _product(args, settings)
    if settings.url:
        query = {"product": product, "environment": args.env, "to": args.target}
        if args.strict is not None:
            query["strict"] = "true"
        data = _remote(settings)._request("GET", f"{_API}/plan", query=query)
        lines = list(data.get("lines", []))
        payload = data
    else:
        from shipmate.services.releases.plans import plan_for

        ctx = _open(settings)
        try:
            plan = plan_for(ctx, product, args.env, args.target, strict=args.strict)
        finally:
            ctx.close()
        lines = plan.render_lines(product, args.env)
        payload = {"plan": plan.to_dict(), "lines": lines}
    if args.json:
        render.print_json(payload)
        return 0
    for line in lines:
        print(render.p(line))
    for warning in payload["plan"].get("warnings", []):
        print(f"warning: {render.p(warning)}")
    return 0


# -- add-action --------------------------------------------------------------------------


def _read_file(path: str, field: str) -> str:
    file = Path(path)
    if not file.is_file():
        raise InvalidInputError(f"{path} does not exist (or is not a file)", field=field)
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path} cannot be read: {exc}", field=field) from None


def cmd_add_action(args: argparse.Namespace, settings: Settings) -> int:
    product = _product(args, settings)
    if args.sql_file is not None:
        if not args.database_ref:
            raise InvalidInputError(
                "--sql-file needs --database-ref: the NAME of the environment variable "
                "holding the database URL (e.g. APP_DB_URL)",
                field="database_ref",
            )
        kind, body, default_name = "sql", _read_file(args.sql_file, "sql_file"), args.sql_file
    else:
        if args.database_ref:
            raise InvalidInputError(
                "--database-ref goes with --sql-file; shell actions take none",
                field="database_ref",
            )
        if args.script_file is not None:
            kind, body = "shell", _read_file(args.script_file, "script_file")
            default_name = args.script_file
        else:
            kind, body, default_name = "shell", args.command, None
    # The action as the API takes it and as ActionSpec holds it: the same fields.
    spec = {
        "version": args.semver,
        "phase": args.phase,
        "kind": kind,
        "body": body,
        "name": args.name or default_name,
        "order": args.order,
        "database_ref": args.database_ref,
    }
    if settings.url:
        data = _remote(settings)._request(
            "POST",
            f"{_API}/actions",
            body={"product": product, **spec, "replace": args.replace},
        )
    else:
        from shipmate.services.releases.actions import ActionSpec, add_action

        ctx = _open(settings)
        try:
            change = add_action(ctx, product, ActionSpec(**spec), replace=args.replace)
        finally:
            ctx.close()
        data = change.to_dict()
    if args.json:
        render.print_json(data)
        return 0
    action = data["action"]
    print(
        f"{data['change']}: {product} {action['version']} {action['phase']} "
        f"#{action['order']} {action['name']} ({action['kind']}, checksum "
        f"{action['checksum'][:12]})"
    )
    return 0


# -- sync -----------------------------------------------------------------------------------


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    from shipmate.services.releases.folder import read_versions_dir
    from shipmate.services.releases.settings import release_settings

    product = _product(args, settings)
    folder = args.dir or release_settings(settings).versions_dir
    declared, ignored = read_versions_dir(folder, database_ref=args.database_ref)
    if settings.url:
        data = _remote(settings)._request(
            "POST",
            f"{_API}/sync",
            body={
                "product": product,
                "versions": [d.to_dict() for d in declared],
                "ignored": ignored,
            },
        )
    else:
        from shipmate.services.releases.sync import sync_versions

        ctx = _open(settings)
        try:
            data = sync_versions(ctx, product, declared, ignored=ignored).to_dict()
        finally:
            ctx.close()
    if args.json:
        render.print_json(data)
        return 0
    if not data["versions"]:
        print(f"No versions in {folder} (expected folders named like 1.2.0/up, 1.2.0/down).")
    for v in data["versions"]:
        if not v["changed"]:
            print(f"{render.p(v['version'])}: unchanged")
            continue
        parts = []
        if v["created"]:
            parts.append("new version")
        for key in ("added", "replaced", "removed"):
            if v[key]:
                parts.append(f"{len(v[key])} {key}")
        if v["predecessor_changed"]:
            parts.append(
                f"predecessor {v['predecessor']}" if v["predecessor"] else "predecessor cleared"
            )
        print(render.p(f"{v['version']}: " + ", ".join(parts)))
    for item in data.get("ignored", []):
        print(f"ignored: {render.p(item)}", file=sys.stderr)
    return 0


# -- list and set-predecessor ----------------------------------------------------------------


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    product = _product(args, settings)
    if settings.url:
        query = {"product": product}
        if args.semver:
            query["version"] = args.semver
        data = _remote(settings)._request("GET", f"{_API}/actions", query=query)
    else:
        from shipmate.services.releases.actions import list_actions
        from shipmate.services.releases.lineage import load_lineage

        ctx = _open(settings)
        try:
            items = list_actions(ctx, product, version=args.semver)
            try:
                lineage = load_lineage(ctx, product, strict=False)
                order = list(lineage.versions)
                predecessors = {v: n.predecessor for v, n in lineage.nodes.items()}
            except ShipmateError:  # a broken lineage must not hide the actions
                order, predecessors = [], {}
        finally:
            ctx.close()
        data = {
            "items": [s.to_dict() for s in items],
            "lineage": order,
            "predecessors": predecessors,
        }
    if args.json:
        render.print_json(data)
        return 0
    items_out = data["items"]
    if not items_out:
        print(f"No release actions for {product}.")
        return 0
    rank = {v: i for i, v in enumerate(data.get("lineage") or [])}
    items_out.sort(
        key=lambda a: (rank.get(a["version"], len(rank)), a["phase"] != "up", a["order"])
    )
    print(
        render.table(
            ["VERSION", "PHASE", "ORDER", "KIND", "NAME", "DATABASE", "CHECKSUM"],
            [
                [
                    a["version"],
                    a["phase"],
                    str(a["order"]),
                    a["kind"],
                    a["name"],
                    a["database_ref"] or "-",
                    a["checksum"][:12],
                ]
                for a in items_out
            ],
        )
    )
    explicit = {v: p for v, p in (data.get("predecessors") or {}).items() if p}
    for version, pred in explicit.items():
        print(f"{version} follows {pred} (explicit predecessor)")
    return 0


def cmd_set_predecessor(args: argparse.Namespace, settings: Settings) -> int:
    product = _product(args, settings)
    predecessor = None if args.clear else args.predecessor
    if settings.url:
        data = _remote(settings)._request(
            "PUT",
            f"{_API}/predecessor",
            body={"product": product, "version": args.semver, "predecessor": predecessor},
        )
    else:
        from shipmate.services.releases.lineage import set_predecessor

        ctx = _open(settings)
        try:
            data = set_predecessor(ctx, product, args.semver, predecessor)
        finally:
            ctx.close()
    if args.json:
        render.print_json(data)
        return 0
    if data["predecessor"] is None:
        print(f"{product} {data['version']}: no explicit predecessor")
    else:
        print(f"{product} {data['version']} follows {data['predecessor']}")
        if not data["predecessor_known"]:
            print(
                f"warning: {data['predecessor']} is not a version of {product} yet; "
                "the lineage reports a gap until it is",
                file=sys.stderr,
            )
    return 0


# -- apply -----------------------------------------------------------------------------------


def cmd_apply(args: argparse.Namespace, settings: Settings) -> int:
    local_only(
        settings,
        "release apply",
        "runs the actions on this host and journals into the database directly",
    )
    if args.timeout is not None and not 0 < args.timeout <= 86400:
        raise InvalidInputError("--timeout must be between 0 and 86400 seconds", field="timeout")
    from shipmate.errors import DeployError
    from shipmate.services.releases.apply import ApplyRequest, apply_release
    from shipmate.services.releases.plans import plan_for

    product = _product(args, settings)
    ctx = _open(settings)
    try:
        if not args.json:
            plan = plan_for(ctx, product, args.env, args.target, strict=args.strict)
            print(render.p(plan.render_lines(product, args.env)[0]), flush=True)

        def say(line: str) -> None:
            if not args.json:
                print(render.p(line), flush=True)

        result = apply_release(
            ctx, ApplyRequest(product=product, **fields_of(args, _APPLY_FLAGS)), on_progress=say
        )
    finally:
        ctx.close()
    if args.json:
        render.print_json(result.to_dict())
    else:
        dep = result.deployment
        if result.ok:
            print(
                f"{dep.kind} of {product} to {dep.full_version} in {args.env} completed "
                f"(deployment {dep.id}); schema position {result.walk.position}"
            )
    if not result.ok:
        raise DeployError(
            result.walk.failure_message() + f"; deployment {result.deployment.id} recorded failed",
            field="action",
            deployment_id=str(result.deployment.id),
        )
    return 0


# -- log ---------------------------------------------------------------------------------------


def _id_arg(value: str | None, field: str) -> int | None:
    return None if value is None else parse_id(value, field=field, label=f"--{field}")


def _executions(
    args: argparse.Namespace, settings: Settings, product: str, page_start: str | None
) -> dict[str, Any]:
    """One page of the action executions, older than ``page_start``."""
    run_id = _id_arg(args.run, "run")
    before = _id_arg(page_start, "before")
    if settings.url:
        query = {"product": product, "limit": str(args.limit)}
        for key, value in (("environment", args.env), ("run_id", run_id), ("before", before)):
            if value is not None:
                query[key] = str(value)
        remote: dict[str, Any] = _remote(settings)._request(
            "GET", f"{_API}/executions", query=query
        )
        return remote
    from shipmate.services.releases.executions import list_executions

    ctx = _open(settings)
    try:
        items = list_executions(
            ctx,
            product,
            environment=args.env,
            run_id=run_id,
            limit=args.limit,
            before_id=before,
        )
    finally:
        ctx.close()
    return {
        "items": [e.to_dict() for e in items],
        "next_before": str(items[-1].id) if len(items) == args.limit else None,
    }


def cmd_log(args: argparse.Namespace, settings: Settings) -> int:
    from shipmate.cli.paging import pages

    product = _product(args, settings)
    data = pages(
        lambda start: _executions(args, settings, product, start),
        "next_before",
        args.before,
        args.all,
    )
    if args.json:
        render.print_json(data)
        return 0
    if not data["items"]:
        print("No action executions.")
        return 0
    for e in data["items"]:
        took = "" if e["duration_ms"] is None else f" {render.duration(e['duration_ms'])}"
        when = (e["started_at"] or "")[:19].replace("T", " ")
        run = f" run {e['run_id']}" if e["run_id"] else ""
        print(
            render.p(
                f"#{e['id']} {when} {e['environment']} [{e['step']}] {e['version']} "
                f"{e['phase']}: {e['name']} … {e['status']}{took}{run}"
            )
        )
        if e["error"]:
            print(f"    error: {render.p(e['error'])}")
        if args.output and e["output"]:
            for line in e["output"].rstrip().splitlines():
                print(f"    | {render.p(line)}")
    if data.get("next_before"):
        print(f"more: --before {data['next_before']}", file=sys.stderr)
    return 0
