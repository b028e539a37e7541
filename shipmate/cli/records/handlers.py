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
from shipmate.cli.arguments import (
    VERSION_FILE,
    database_only,
    fields_of,
    moment_of,
    product_of,
    read_version_file,
)
from shipmate.cli.backends.interface import Backend, open_backend
from shipmate.config import Settings
from shipmate.domain.inputs.fields import parse_id, parse_metadata, parse_time
from shipmate.errors import (
    ConflictError,
    GateBlockedError,
    InvalidInputError,
    NotFoundError,
    StoreError,
)

if TYPE_CHECKING:
    import socket

    from shipmate.domain.records import DeploymentRecord
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
        if getattr(args, "create", False):
            backend.create_new_names()
        try:
            return run(args, settings, backend)
        finally:
            backend.close()

    return handler


def _time(value: str | None, flag: str) -> Any:
    return None if value is None else parse_time(value, field=flag)


#: The fields of a HistoryFilter taken as they are from a flag (the times are parsed).
_FILTER_FLAGS = {
    "product": "product",
    "environment": "env",
    "status": "status",
    "version": "version",
    "branch": "branch",
    "actor": "actor",
    "kind": "kind",
}


def _filter(args: argparse.Namespace) -> Any:
    from shipmate.domain.requests import HistoryFilter

    return HistoryFilter(
        **fields_of(args, _FILTER_FLAGS),
        since=moment_of(args.since, "since"),
        until=moment_of(args.until, "until"),
    )


@_with_backend
def cmd_version_next(args: argparse.Namespace, settings: Settings, backend: Backend) -> int:
    from shipmate.cli.ciworkflow import report_build
    from shipmate.domain.requests import BuildRequest
    from shipmate.services.project import collect_ci_info, find_project_version

    cwd = Path.cwd()
    version = args.semver
    source = "--version"
    if version is None:
        version, source = find_project_version(
            cwd, settings.version_sources, settings.version_prefix
        )
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
    report_build(build)
    if args.json:
        render.print_json({**build.to_dict(), "source": source})
    else:
        print(build.full_version)
    return 0


def cmd_version_show(args: argparse.Namespace, settings: Settings) -> int:
    from shipmate.services.project import find_project_version

    version, source = find_project_version(
        Path.cwd(), settings.version_sources, settings.version_prefix
    )
    if args.json:
        render.print_json({"version": version, "source": source})
    else:
        print(version)
    return 0


@_with_backend
def cmd_record(args: argparse.Namespace, settings: Settings, backend: Backend) -> int:
    from shipmate.cli.ciworkflow import environment_of, report_deployment
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
    elif version is None and args.deployment_id is None:
        version = _version_without_file(settings)
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
        environment=environment_of(args.env),
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
    report_deployment(dep, settings)
    if args.json:
        render.print_json(dep.to_dict())
    else:
        print(
            render.table_line(
                [str(dep.id), dep.product, dep.full_version, dep.environment, dep.status]
            )
        )
    return 0


def _version_without_file(settings: Settings) -> str:
    """The version sources' version, for a ``record`` in a job that did not run
    ``version next``; where it came from goes to stderr."""
    from shipmate.services.project import find_project_version

    try:
        version, source = find_project_version(
            Path.cwd(), settings.version_sources, settings.version_prefix
        )
    except NotFoundError as exc:
        tried = "; ".join(exc.details.get("tried", []))
        raise InvalidInputError(
            f"no version to record: there is no {VERSION_FILE} here (run `shipmate version "
            f"next` in this job first, or pass --version), and no version source states one "
            f"(tried {tried})",
            field="version",
        ) from None
    print(f"shipmate: version {version} from {source} (no {VERSION_FILE} here)", file=sys.stderr)
    return version


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
    from shipmate.cli.paging import every_page

    f = _filter(args)
    page = every_page(backend, f, cursor=args.cursor) if args.all else None
    page = page or backend.history(f, limit=args.limit, cursor=args.cursor)
    if args.json:
        body = page.to_dict()
        body["total"] = len(page.items) if args.all else backend.stats(f).total
        render.print_json(body)
    else:
        print(render.render_history(page))
    return 0


@_with_backend
def cmd_show(args: argparse.Namespace, settings: Settings, backend: Backend) -> int:
    dep = _deployment_of(backend, args.id, product=args.product, environment=args.env)
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


def _deployment_of(
    backend: Backend, ref: str, *, product: str | None, environment: str | None
) -> DeploymentRecord:
    """The deployment ``ref`` names: an id, or a full version (``1.4.0+build.3``) that
    ``product`` and ``environment`` narrow to one deployment."""
    if "." not in ref:  # not a version: an id, or refused as neither
        return backend.show(
            parse_id(ref, field="id", noun="a deployment id (a number) or a full version")
        )
    from shipmate.domain.requests import HistoryFilter

    f = HistoryFilter(product=product, environment=environment, version=ref)
    found = backend.history(f, limit=2, cursor=None).items
    if not found:
        raise NotFoundError(f"no deployment of {ref} matches", field="id")
    if len(found) > 1:
        raise InvalidInputError(
            f"{ref} was deployed more than once; pass --product and --env, or the id",
            field="id",
        )
    return backend.show(found[0].id)


@_with_backend
def cmd_current(args: argparse.Namespace, settings: Settings, backend: Backend) -> int:
    from shipmate.cli import matrix as view

    products, environments = view.names(args.product), view.names(args.env)
    # One product: the backend narrows (and refuses an unknown one); else all, narrowed here.
    matrix = view.select(
        backend.current(products[0] if len(products) == 1 else None), products, environments
    )
    if args.json:
        render.print_json(matrix.to_dict())
    else:
        print(view.render_to_fit(matrix))
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
        revision = schema.upgrade_schema(settings)
        _print_db(args, {"revision": revision}, f"database at revision {revision}")
    elif args.db_command == "current":
        stored = schema.stored_revision(settings)
        _print_db(args, {"revision": stored}, stored or "empty (no migrations applied)")
    else:
        diff, names = schema.check_schema(settings)
        if args.json:
            render.print_json(
                {
                    "matches": not diff,
                    "differences": list(diff),
                    "names_outside_charset": [each.describe() for each in names],
                }
            )
        else:
            for d in diff:
                print(d)
        if diff:
            raise StoreError("the database schema differs from the models")
        if not args.json:
            print("schema matches the models")
            _print_names_outside_charset(names)
    return 0


def _print_db(args: argparse.Namespace, body: dict[str, Any], text: str) -> None:
    if args.json:
        render.print_json(body)
    else:
        print(text)


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
    # One socket for any worker count, bound before "serving" is printed: a busy port
    # is one ConflictError (exit 1), not uvicorn's start-up failure (exit 3).
    sock = bind_tcp(args.host, args.port)
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
        uvicorn.Server(config).run(sockets=[sock])
        return 0
    from uvicorn.supervisors import Multiprocess

    Multiprocess(config, sockets=[sock]).run()
    return 0


#: uvicorn's default listen backlog.
_BACKLOG = 2048


def bind_tcp(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port``, inheritable by workers.

    Created with IPPROTO_TCP: uvicorn binds with protocol 0, and asyncio turns Nagle
    off (TCP_NODELAY) only on sockets whose protocol is IPPROTO_TCP, so every response
    would wait ~40 ms for the client's delayed ACK.  A port in use is a
    :class:`ConflictError` naming it; any other refusal an :class:`InvalidInputError`.
    """
    import errno
    import socket  # here, not at the top: the CLI's start-up time is measured

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConflictError(
                f"cannot listen on {host}:{port}: the address is already in use (another "
                "server runs there; stop it or pick another --port)",
                field="port",
            ) from None
        raise InvalidInputError(
            f"cannot listen on {host}:{port}: {exc.strerror}", field="port"
        ) from None
    sock.listen(_BACKLOG)  # connections queue from now on, before uvicorn has started
    sock.set_inheritable(True)
    return sock


@_with_backend
def cmd_keys(args: argparse.Namespace, settings: Settings, backend: Backend) -> int:
    if args.keys_command == "create":
        created = backend.create_key(args.name, args.scope, tuple(args.product), args.host)
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
