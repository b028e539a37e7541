"""The ``shipmate`` command line: parse, call a service, render.  Nothing else.

Exit codes: 0 success; 1 a refused operation (not found, conflict, illegal
transition, deploy failure); 2 bad usage or bad input; 3 blocked by a deployment
gate.  Errors print one line on stderr; ``--traceback`` shows the stack.

Start-up matters (CI calls this many times per pipeline), so this module imports
only the standard library's ``argparse``; each command imports what it needs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

__all__ = ["FEATURES", "main"]

#: Modules under shipmate.cli that register commands: ``register(subparsers, add_json)``
#: adds parsers and sets ``handler="module:function"``; the handler is imported only
#: when its command runs and is called as ``handler(args, settings)``.
FEATURES = ("draining", "gates", "insights", "notify", "releases", "runs")

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


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, like every other shipmate error (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"shipmate: error [usage]: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="shipmate",
        # Global flags only by their full names: argparse sorts every argument, also
        # those after the command, against them, so "--to" of a subcommand would be
        # an ambiguous abbreviation of --token and --token-file.
        allow_abbrev=False,
        description="Deployment versioning and release: build numbers, deployment history, "
        "the version matrix, rollbacks.",
        epilog="Exit codes: 0 ok, 1 refused, 2 bad input, 3 blocked by a gate. Docs: docs/cli.md.",
    )
    parser.add_argument("--database-url", help="database URL (default: SQLite in the data dir)")
    parser.add_argument("--url", help="shipmate server URL for remote mode (SHIPMATE_URL)")
    parser.add_argument(
        "--token",
        help="API key for remote mode (SHIPMATE_TOKEN); other users can see it in the process "
        "list, so prefer --token-file",
    )
    parser.add_argument(
        "--token-file",
        metavar="PATH",
        help="read the API key for remote mode from this file, - for standard input "
        "(SHIPMATE_TOKEN_FILE)",
    )
    parser.add_argument("--traceback", action="store_true", help="show the full stack on errors")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

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
    _add_json(nxt)
    cur = vsub.add_parser("show", help="print the version the project files declare")
    _add_json(cur)

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
    record.add_argument("--env", required=True, help="environment name")
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
    _add_json(record)

    mark = sub.add_parser(
        "mark-rollback",
        help="mark a completed deployment rolled back (by id or full version)",
    )
    mark.add_argument("ref", help="deployment id or full version (1.4.0+build.7)")
    mark.add_argument("--product", help="product, when the full version is ambiguous")
    mark.add_argument("--env", help="environment, when the full version is ambiguous")
    mark.add_argument("--reason", help="why (kept in the event log)")
    _add_json(mark)

    hist = sub.add_parser("history", help="deployments, newest first")
    _add_filters(hist)
    hist.add_argument("--limit", type=int, default=20, help="rows per page (default: %(default)s)")
    hist.add_argument("--cursor", help="next_cursor of a previous page")
    _add_json(hist)

    show = sub.add_parser("show", help="one deployment with its events")
    show.add_argument("id", help="deployment id")
    _add_json(show)

    current = sub.add_parser(
        "current", help="the matrix: products x environments, current versions"
    )
    current.add_argument("--product", help="only this product")
    _add_json(current)

    stats = sub.add_parser("stats", help="totals, success rate, latest version, per-version counts")
    _add_filters(stats)
    _add_json(stats)

    db = sub.add_parser("db", help="database schema")
    dsub = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND")
    dsub.required = True
    dsub.add_parser("upgrade", help="apply pending migrations")
    dsub.add_parser("current", help="print the schema revision")
    dsub.add_parser("check", help="fail if the models drift from the migrations")

    serve = sub.add_parser("serve", help="run the HTTP API (FastAPI on uvicorn)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes (default: %(default)s)"
    )
    serve.add_argument(
        "--log-level", default="info", help="uvicorn log level (default: %(default)s)"
    )

    keys = sub.add_parser("keys", help="API keys for the server")
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
    _add_json(kcreate)
    klist = ksub.add_parser("list", help="list keys (never their tokens)")
    _add_json(klist)
    krevoke = ksub.add_parser("revoke", help="revoke a key by name")
    krevoke.add_argument("name", help="the key's name")
    _add_json(krevoke)

    # Feature modules add their own commands (each imports only argparse here).
    import importlib

    for name in FEATURES:
        importlib.import_module(f"shipmate.cli.{name}.parser").register(sub, _add_json)

    demo = sub.add_parser("demo", help="walk a realistic story on a demo SQLite database")
    demo.add_argument("--dir", default="demo-data", help="where the demo database goes")
    demo.add_argument("--reset", action="store_true", help="start from an empty demo database")
    demo.add_argument(
        "--no-serve", action="store_true", help="do not start the API server at the end"
    )
    demo.add_argument(
        "--port", type=int, default=8000, help="API server port (default: %(default)s)"
    )
    return parser


def _version() -> str:
    from shipmate import __version__

    return f"shipmate {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from shipmate.errors import ShipmateError

    try:
        from shipmate.cli.records.handlers import dispatch

        return dispatch(args)
    except ShipmateError as exc:
        if args.traceback:
            import traceback

            traceback.print_exc()
        from shipmate.domain.redaction import redact

        where = f" [{exc.field}]" if exc.field else ""
        print(f"shipmate: error{where}: {redact(exc.message)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("shipmate: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # e.g. `shipmate history | head`: not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
