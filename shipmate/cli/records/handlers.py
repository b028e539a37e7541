"""The core record commands: turn arguments into a backend or service call, render.

Each ``cmd_*`` is a handler ``handler(args, settings)`` (see :mod:`shipmate.cli`);
those that read or write records get their backend from :func:`_with_backend`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipmate.cli import render
from shipmate.cli.arguments import database_only, product_of, read_version_file
from shipmate.cli.backends.interface import Backend, open_backend
from shipmate.config import Settings
from shipmate.domain.inputs.fields import parse_id, parse_metadata, parse_time
from shipmate.errors import GateBlockedError, InvalidInputError, StoreError

if TYPE_CHECKING:
    import socket

    from shipmate.services.schema import OffendingName

__all__ = [
    "cmd_current",
    "cmd_db",
    "cmd_demo",
    "cmd_history",
    "cmd_keys",
    "cmd_mark_rollback",
    "cmd_record",
    "cmd_serve",
    "cmd_show",
    "cmd_stats",
    "cmd_version_next",
    "cmd_version_show",
]

_BackendCommand = Callable[[argparse.Namespace, Settings, "Backend"], int]


def _with_backend(run: _BackendCommand) -> Callable[[argparse.Namespace, Settings], int]:
    """The command as a handler: it gets the backend the settings pick, closed after."""

    @functools.wraps(run)
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        backend = open_backend(settings)
        try:
            return run(args, settings, backend)
        finally:
            backend.close()

    return handler


def _time(value: str | None, flag: str) -> Any:
    return None if value is None else parse_time(value, field=flag)


def _filter(args: argparse.Namespace) -> Any:
    from shipmate.domain.requests import HistoryFilter

    return HistoryFilter(
        product=args.product,
        environment=args.env,
        status=args.status,
        version=args.version,
        branch=args.branch,
        actor=args.actor,
        kind=args.kind,
        since=_time(args.since, "since"),
        until=_time(args.until, "until"),
    )


@_with_backend
def cmd_version_next(args: argparse.Namespace, settings: Settings, backend: Backend) -> int:
    from shipmate.domain.requests import BuildRequest
    from shipmate.services.project import collect_ci_info, find_project_version

    cwd = Path.cwd()
    version = args.semver
    source = "--version"
    if version is None:
        version, source = find_project_version(cwd, settings.version_sources)
    ci = collect_ci_info(os.environ, cwd)
    build = backend.allocate_build(
        BuildRequest(
            product=product_of(args.product, settings),
            version=version,
            commit_sha=args.commit or ci.commit_sha,
            branch=args.branch or ci.branch,
            repository=ci.repository,
            built_by=ci.actor,
            ci_platform=ci.platform,
            ci_run_id=ci.run_id,
            ci_run_url=ci.run_url,
            source_system="shipmate-cli",
            metadata=parse_metadata(args.metadata),
        )
    )
    payload = {
        "version": build.version,
        "buildNumber": build.build_number,
        "fullVersion": build.full_version,
        "product": build.product,
        "gitCommit": build.commit_sha,
    }
    if not args.no_file:
        Path(args.output_file).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    gh_output = os.environ.get("GITHUB_OUTPUT")
    if gh_output:
        with open(gh_output, "a", encoding="utf-8") as fh:
            fh.write(
                f"version={build.version}\nbuild_number={build.build_number}\n"
                f"full_version={build.full_version}\n"
            )
    if args.json:
        render.print_json({**build.to_dict(), "source": source})
    else:
        print(build.full_version)
    return 0


def cmd_version_show(args: argparse.Namespace, settings: Settings) -> int:
    from shipmate.services.project import find_project_version

    version, source = find_project_version(Path.cwd(), settings.version_sources)
    if args.json:
        render.print_json({"version": version, "source": source})
    else:
        print(version)
    return 0


@_with_backend
def cmd_record(args: argparse.Namespace, settings: Settings, backend: Backend) -> int:
    from shipmate.cli.identity import login_name
    from shipmate.domain.ci import CiInfo
    from shipmate.domain.requests import RecordRequest
    from shipmate.services.project import collect_ci_info, commit_time

    metadata: Any = args.metadata
    if args.metadata_file and args.metadata:
        raise InvalidInputError("give --metadata or --metadata-file, not both", field="metadata")
    if args.metadata_file:
        try:
            metadata = Path(args.metadata_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(
                f"--metadata-file {args.metadata_file}: {exc.strerror}", field="metadata"
            ) from None
    by_file = {} if args.deployment_id else read_version_file()
    version = args.semver
    build = args.build
    if version is None and args.deployment_id is None and by_file.get("version"):
        version = by_file["version"]
        build = build if build is not None else by_file.get("buildNumber")
    ci = CiInfo() if args.no_detect else collect_ci_info(os.environ, Path.cwd())
    # The build's own commit (from the version file) beats the checkout this job runs in.
    from_file = by_file.get("gitCommit") if version == by_file.get("version") else None
    commit = args.commit or from_file or ci.commit_sha
    when = _time(args.commit_time, "commit_time")
    if when is None and commit and not args.no_detect:
        when = commit_time(Path.cwd(), commit)
    product = args.product or settings.product or by_file.get("product")
    if args.deployment_id is None:
        product = product_of(args.product, settings, by_file.get("product"))
    request = RecordRequest(
        environment=args.env,
        status=args.status,
        product=product,
        version=version,
        build_number=build,
        deployment_id=args.deployment_id,
        kind=args.kind,
        reverts_id=args.reverts,
        commit_sha=commit,
        commit_time=when,
        branch=args.branch or ci.branch,
        repository=args.repository or ci.repository,
        deployed_by=args.deployed_by or ci.actor or login_name(),
        ci_platform=ci.platform,
        ci_run_id=args.ci_run_id or ci.run_id,
        ci_run_url=args.ci_run_url or ci.run_url,
        source_system="shipmate-cli",
        metadata=parse_metadata(metadata),
        started_at=_time(args.started_at, "started_at"),
        completed_at=_time(args.completed_at, "completed_at"),
        environment_kind=args.env_kind,
        override_gates=args.override_gates,
        override_reason=args.reason,
    )
    try:
        dep = backend.record(request)
    except GateBlockedError as exc:
        from shipmate.cli.gates.handlers import explain_refusal

        raise explain_refusal(exc) from None
    if args.json:
        render.print_json(dep.to_dict())
    else:
        print(
            render.table_line(
                [str(dep.id), dep.product, dep.full_version, dep.environment, dep.status]
            )
        )
    return 0


@_with_backend
def cmd_mark_rollback(args: argparse.Namespace, settings: Settings, backend: Backend) -> int:
    dep = backend.mark_rollback(
        args.ref, product=args.product, environment=args.env, reason=args.reason
    )
    if args.json:
        render.print_json(dep.to_dict())
    else:
        print(
            render.table_line(
                [str(dep.id), dep.product, dep.full_version, dep.environment, "rolled_back"]
            )
        )
    return 0


@_with_backend
def cmd_history(args: argparse.Namespace, settings: Settings, backend: Backend) -> int:
    page = backend.history(_filter(args), limit=args.limit, cursor=args.cursor)
    if args.json:
        render.print_json(page.to_dict())
    else:
        print(render.render_history(page))
    return 0


@_with_backend
def cmd_show(args: argparse.Namespace, settings: Settings, backend: Backend) -> int:
    dep = backend.show(parse_id(args.id, field="id", noun="a deployment id (a number)"))
    state = backend.version_state(dep)
    if args.json:
        body = dep.to_dict(with_events=True)
        body["version_state"] = state.to_dict() if state is not None else None
        render.print_json(body)
    else:
        print(render.render_deployment(dep))
        if state is not None:
            from shipmate.cli.draining.handlers import describe_state

            print(describe_state(state))
    return 0


@_with_backend
def cmd_current(args: argparse.Namespace, settings: Settings, backend: Backend) -> int:
    matrix = backend.current(args.product)
    if args.json:
        render.print_json(matrix.to_dict())
    else:
        print(render.render_matrix(matrix))
    return 0


@_with_backend
def cmd_stats(args: argparse.Namespace, settings: Settings, backend: Backend) -> int:
    result = backend.stats(_filter(args))
    if args.json:
        render.print_json(result.to_dict())
    else:
        print(render.render_stats(result))
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    database_only(settings, "db", "; a server migrates its own database when it starts")
    from shipmate.services import schema

    if args.db_command == "upgrade":
        print(f"database at revision {schema.upgrade_schema(settings)}")
    elif args.db_command == "current":
        print(schema.stored_revision(settings) or "empty (no migrations applied)")
    else:
        diff, names = schema.check_schema(settings)
        if diff:
            for d in diff:
                print(d)
            raise StoreError("the database schema differs from the models")
        print("schema matches the models")
        _print_names_outside_charset(names)
    return 0


def _print_names_outside_charset(found: list[OffendingName]) -> None:
    from shipmate.domain.inputs.names import NAME_RULE

    if found:
        print(
            f"{len(found)} stored name(s) outside the name charset ({NAME_RULE}); "
            "they stay readable, but no write accepts them:"
        )
        for each in found:
            print(f"  {each.describe()}")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    try:
        import uvicorn
    except ImportError:
        raise InvalidInputError(
            "shipmate serve needs the server extra: pip install 'shipmate[server]'", field="serve"
        ) from None
    if not 0 < args.port < 65536:
        raise InvalidInputError(f"--port {args.port} is not a port number", field="port")
    if args.workers < 1:
        raise InvalidInputError("--workers must be at least 1", field="workers")
    # Workers rebuild their settings from the environment: hand the flags down.
    os.environ["SHIPMATE_DATABASE_URL"] = settings.effective_database_url
    if settings.config_file:
        os.environ["SHIPMATE_CONFIG"] = settings.config_file
    from shipmate.api.settings import ServerSettings
    from shipmate.services.context import open_context

    # Validate every table the server reads before forking workers: one clear line, not
    # a traceback in uvicorn's start-up log.
    from shipmate.services.gates.rules import config_rules
    from shipmate.services.notify.config import load_notify_config

    ServerSettings.from_table(settings.sections.get("server", {}))
    config_rules(settings)
    load_notify_config(settings)
    open_context(settings).close()  # migrate once, before the workers start
    print(
        f"shipmate serving http://{args.host}:{args.port} "
        f"(API docs at /docs, {args.workers} worker(s))",
        flush=True,
    )
    config = uvicorn.Config(
        "shipmate.api.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
    )
    if args.workers == 1:
        uvicorn.Server(config).run()
        return 0
    from uvicorn.supervisors import Multiprocess

    # uvicorn binds the workers' shared socket with protocol 0, and asyncio turns Nagle
    # off (TCP_NODELAY) only on sockets whose protocol is IPPROTO_TCP: every response
    # then waited ~40 ms for the client's delayed ACK.  Bind it ourselves, as TCP.
    Multiprocess(config, sockets=[bind_tcp(args.host, args.port)]).run()
    return 0


def bind_tcp(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host``:``port``, inheritable by workers,
    created with IPPROTO_TCP so the connections it accepts get TCP_NODELAY."""
    import socket  # here, not at the top: the CLI's start-up time is measured

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidInputError(
            f"cannot listen on {host}:{port}: {exc.strerror}", field="port"
        ) from None
    sock.set_inheritable(True)
    return sock


@_with_backend
def cmd_keys(args: argparse.Namespace, settings: Settings, backend: Backend) -> int:
    if args.keys_command == "create":
        created = backend.create_key(args.name, args.scope, tuple(args.product))
        if args.json:
            render.print_json(created)
        else:
            print(created["token"])
            print(
                f"key {created['name']!r} ({created['scope']}) created; the token above is shown "
                "only once",
                file=sys.stderr,
            )
        return 0
    if args.keys_command == "revoke":
        revoked = backend.revoke_key(args.name)
        if args.json:
            render.print_json(revoked)
        else:
            print(f"key {revoked['name']!r} revoked at {revoked['revoked_at']}")
        return 0
    items = backend.list_keys()
    if args.json:
        render.print_json({"items": items})
    elif not items:
        print("No keys. Create one with: shipmate keys create --name ci --scope write")
    else:
        print(
            render.table(
                ["NAME", "SCOPE", "PRODUCTS", "PREFIX", "CREATED", "LAST USED", "STATE"],
                [
                    [
                        k["name"],
                        k["scope"],
                        ",".join(k["products"]) or "all",
                        k["prefix"],
                        (k["created_at"] or "-")[:16],
                        (k["last_used_at"] or "never")[:16],
                        "active" if k["active"] else "revoked",
                    ]
                    for k in items
                ],
            )
        )
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from shipmate.demo.story import run_demo

    return run_demo(Path(args.dir), reset=args.reset, serve=not args.no_serve, port=args.port)
