"""CLI commands of the core records: ``version``, ``record``, ``mark-rollback``,
``history``, ``show``, ``current``, ``stats``, and ``db``, ``serve``, ``keys``, ``demo``.

Only argparse work happens at import; handlers live in
:mod:`shipmate.cli.records.handlers` (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["register", "register_demo"]

_HANDLERS = "shipmate.cli.records.handlers"

_FILTER_HELP = {
    "product": "only this product",
    "env": "only this environment",
    "status": "only this status (pending, started, completed, failed, aborted, rolled_back, or an alias)",
    "version": "only this version (or full version 1.4.0+build.7)",
    "branch": "only this git branch",
    "actor": "only deployments by this actor",
    "kind": "only deploy, rollback or rollforward",
    "since": "only deployments at or after this RFC 3339 time",
    "until": "only deployments before this RFC 3339 time",
}


def _add_filters(p: argparse.ArgumentParser) -> None:
    for name, text in _FILTER_HELP.items():
        p.add_argument(f"--{name}", help=text, metavar=name.upper())


def _add_create(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--create",
        action="store_true",
        help="create the product or environment even if its name is close to a known one",
    )


def _handler(p: argparse.ArgumentParser, function: str) -> None:
    p.set_defaults(handler=f"{_HANDLERS}:{function}")


def register(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the core record commands to the top-level subparsers."""
    # version next
    version = sub.add_parser("version", help="semantic version and build numbers")
    vsub = version.add_subparsers(dest="version_command", metavar="SUBCOMMAND")
    vsub.required = True
    nxt = vsub.add_parser(
        "next",
        help="allocate the next build number and print the full version",
        description="Find the product's version (--version, pyproject.toml, package.json, "
        "deno.json(c), Cargo.toml, VERSION, git describe), allocate its next build number, "
        "print the full version, write .deployment-version.json and $GITHUB_OUTPUT.",
    )
    _handler(nxt, "cmd_version_next")
    nxt.add_argument("--product", help="product name (default: SHIPMATE_PRODUCT or config)")
    nxt.add_argument("--version", dest="semver", metavar="VERSION", help="the version to build")
    nxt.add_argument("--commit", help="git commit (default: detected)")
    nxt.add_argument("--branch", help="git branch (default: detected)")
    nxt.add_argument("--strict-semver", action="store_true", help="refuse non-SemVer versions")
    nxt.add_argument(
        "--output-file",
        default=".deployment-version.json",
        help="where to write the version file (default: %(default)s)",
    )
    nxt.add_argument("--no-file", action="store_true", help="do not write the version file")
    nxt.add_argument("--metadata", help="JSON object stored with the build")
    _add_create(nxt)
    add_json(nxt)
    cur = vsub.add_parser("show", help="print the version the project files declare")
    _handler(cur, "cmd_version_show")
    add_json(cur)

    # record
    record = sub.add_parser(
        "record",
        help="record a deployment status event (creates or advances a deployment)",
        description="Record a status: pending, started, completed, failed, aborted, rolled_back "
        "(aliases such as success, in_progress, cancelled, rollback accepted, any case). A "
        "completed/failed after a started for the same product, environment and version "
        "(and CI run) advances that deployment. Version and build default to "
        ".deployment-version.json when present; git and CI metadata are detected.",
    )
    _handler(record, "cmd_record")
    _add_create(record)
    record.add_argument("--env", help="environment name (required; GitLab: CI_ENVIRONMENT_NAME)")
    record.add_argument("--status", required=True, help="status or alias")
    record.add_argument("--product", help="product name")
    record.add_argument(
        "--version", dest="semver", metavar="VERSION", help="version or full version"
    )
    record.add_argument("--build", type=int, help="build number")
    record.add_argument("--id", type=int, dest="deployment_id", help="advance this deployment")
    record.add_argument("--kind", default="deploy", help="deploy, rollback or rollforward")
    record.add_argument("--reverts", type=int, help="id of the deployment a rollback reverts")
    record.add_argument("--metadata", help="JSON object of extra metadata")
    record.add_argument("--metadata-file", help="file holding a JSON object of extra metadata")
    record.add_argument("--deployed-by", help="actor (default: CI actor or local user)")
    record.add_argument(
        "--started-at", help="RFC 3339 start time (default: now, for a started event)"
    )
    record.add_argument(
        "--completed-at", help="RFC 3339 finish time (default: now, for a finishing event)"
    )
    record.add_argument("--commit", help="git commit (default: detected)")
    record.add_argument(
        "--commit-time", help="RFC 3339 time of the commit (default: from the local git checkout)"
    )
    record.add_argument("--branch", help="git branch (default: detected)")
    record.add_argument("--repository", help="repository URL (default: detected)")
    record.add_argument("--ci-run-id", help="CI run id (default: detected)")
    record.add_argument("--ci-run-url", help="CI run URL (default: detected)")
    record.add_argument("--env-kind", help="dev, test, staging or production (default: inferred)")
    record.add_argument(
        "--no-detect", action="store_true", help="do not pick up git and CI metadata"
    )
    record.add_argument(
        "--override-gates",
        action="store_true",
        help="deploy despite failed gates (needs --reason; an admin key in remote mode)",
    )
    record.add_argument("--reason", help="why the gates are overridden (with --override-gates)")
    add_json(record)

    mark = sub.add_parser(
        "mark-rollback",
        help="mark a completed deployment rolled back (by id or full version)",
    )
    _handler(mark, "cmd_mark_rollback")
    mark.add_argument("ref", help="deployment id or full version (1.4.0+build.7)")
    mark.add_argument("--product", help="product, when the full version is ambiguous")
    mark.add_argument("--env", help="environment, when the full version is ambiguous")
    mark.add_argument("--reason", help="why (kept in the event log)")
    add_json(mark)

    hist = sub.add_parser("history", help="deployments, newest first")
    _handler(hist, "cmd_history")
    _add_filters(hist)
    hist.add_argument("--limit", type=int, default=20, help="rows per page (default: %(default)s)")
    hist.add_argument("--cursor", help="next_cursor of a previous page")
    add_json(hist)

    show = sub.add_parser("show", help="one deployment with its events")
    _handler(show, "cmd_show")
    show.add_argument("id", help="deployment id")
    add_json(show)

    current = sub.add_parser(
        "current", help="the matrix: products x environments, current versions"
    )
    _handler(current, "cmd_current")
    current.add_argument("--product", help="only this product")
    add_json(current)

    stats = sub.add_parser("stats", help="totals, success rate, latest version, per-version counts")
    _handler(stats, "cmd_stats")
    _add_filters(stats)
    add_json(stats)

    db = sub.add_parser("db", help="database schema")
    _handler(db, "cmd_db")
    dsub = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND")
    dsub.required = True
    dsub.add_parser("upgrade", help="apply pending migrations")
    dsub.add_parser("current", help="print the schema revision")
    dsub.add_parser("check", help="fail if the models drift from the migrations")

    serve = sub.add_parser("serve", help="run the HTTP API (FastAPI on uvicorn)")
    _handler(serve, "cmd_serve")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes (default: %(default)s)"
    )
    serve.add_argument(
        "--log-level", default="info", help="uvicorn log level (default: %(default)s)"
    )

    keys = sub.add_parser("keys", help="API keys for the server")
    _handler(keys, "cmd_keys")
    ksub = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND")
    ksub.required = True
    kcreate = ksub.add_parser("create", help="create a key; the token is printed once")
    kcreate.add_argument("--name", required=True, help="a name for the key (shown as the actor)")
    kcreate.add_argument(
        "--scope", default="write", help="read, write or admin (default: %(default)s)"
    )
    kcreate.add_argument(
        "--product", action="append", default=[], help="limit the key to this product (repeatable)"
    )
    add_json(kcreate)
    klist = ksub.add_parser("list", help="list keys (never their tokens)")
    add_json(klist)
    krevoke = ksub.add_parser("revoke", help="revoke a key by name")
    krevoke.add_argument("name", help="the key's name")
    add_json(krevoke)


def register_demo(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``demo``, listed last in ``shipmate --help``."""
    demo = sub.add_parser("demo", help="walk a realistic story on a demo SQLite database")
    _handler(demo, "cmd_demo")
    demo.add_argument("--dir", default="demo-data", help="where the demo database goes")
    demo.add_argument("--reset", action="store_true", help="start from an empty demo database")
    demo.add_argument(
        "--no-serve", action="store_true", help="do not start the API server at the end"
    )
    demo.add_argument(
        "--port", type=int, default=8000, help="API server port (default: %(default)s)"
    )
