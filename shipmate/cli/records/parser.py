"""CLI commands of the core records: ``version``, ``record``, ``mark-rollback``,
``history``, ``show``, ``current``, ``stats``, and ``db``, ``serve``, ``keys``, ``demo``.

Only argparse work happens at import; handlers live in
:mod:`shipmate.cli.records.handlers` (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from shipmate.cli import choices
from shipmate.cli.parsing import (
    Choice,
    add_env,
    add_paging,
    add_product,
    add_product_env,
    add_time_window,
    command,
    command_group,
)

__all__ = ["register", "register_demo"]

_HANDLERS = "shipmate.cli.records.handlers"

_STATUS = Choice(choices.STATUSES, choices.STATUS_ALIASES)
_KIND = Choice(choices.DEPLOYMENT_KINDS)


def _add_filters(p: argparse.ArgumentParser) -> None:
    """The deployment filters of ``history`` and ``stats``."""
    add_product_env(p, product="only this product", env="only this environment")
    p.add_argument(
        "--status",
        type=_STATUS,
        metavar="STATUS",
        help="only this status (pending, started, completed, failed, aborted, rolled_back, "
        "or an alias)",
    )
    p.add_argument(
        "--version", metavar="VERSION", help="only this version (or full version 1.4.0+build.7)"
    )
    p.add_argument("--branch", metavar="BRANCH", help="only this git branch")
    p.add_argument("--actor", metavar="ACTOR", help="only deployments by this actor")
    p.add_argument(
        "--kind", type=_KIND, metavar="KIND", help="only deploy, rollback or rollforward"
    )
    add_time_window(p)


def _add_create(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--create",
        action="store_true",
        help="create the product or environment even if its name is close to a known one",
    )


def _add_narrowing(p: argparse.ArgumentParser) -> None:
    """``--product``/``--env`` of a command that takes a full version (``mark-rollback``, ``show``)."""
    add_product_env(
        p,
        product="product, when the full version is ambiguous",
        env="environment, when the full version is ambiguous",
    )


def _h(function: str) -> str:
    return f"{_HANDLERS}:{function}"


def register(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the core record commands to the top-level subparsers."""
    _register_version(sub, add_json)
    _register_record(sub, add_json)
    _register_queries(sub, add_json)
    _register_admin(sub, add_json)


def _register_version(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    vsub = command_group(
        sub,
        "version",
        "semantic version and build numbers",
        description="Allocate build numbers (version next) and read the version the project "
        "files declare (version show).",
        examples=["shipmate version next --product api", "shipmate version show"],
        dest="version_command",
    )
    nxt = command(
        vsub,
        "next",
        "allocate the next build number and print the full version",
        description="Find the product's version (--version, pyproject.toml, package.json, "
        "deno.json(c), Cargo.toml, VERSION, git describe), allocate its next build number, "
        "print the full version, write .deployment-version.json and $GITHUB_OUTPUT.",
        examples=[
            "shipmate version next --product api",
            "shipmate version next --product api --version 1.4.0 --json",
        ],
        handler=_h("cmd_version_next"),
    )
    add_product(nxt)
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
    cur = command(
        vsub,
        "show",
        "print the version the project files declare",
        examples=["shipmate version show", "shipmate version show --json"],
        handler=_h("cmd_version_show"),
    )
    add_json(cur)


def _register_record(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    record = command(
        sub,
        "record",
        "record a deployment status event (creates or advances a deployment)",
        description="Record a status: pending, started, completed, failed, aborted, rolled_back "
        "(aliases such as success, in_progress, cancelled, rollback accepted, any case). A "
        "completed/failed after a started for the same product, environment and version "
        "(and CI run) advances that deployment. Version and build default to "
        ".deployment-version.json when present; git and CI metadata are detected.",
        examples=[
            "shipmate record --product api --env production --status started",
            "shipmate record --product api --env production --status completed "
            "--version 1.4.0 --build 3",
        ],
        handler=_h("cmd_record"),
    )
    _add_create(record)
    # Not argparse-required: on GitLab CI, CI_ENVIRONMENT_NAME is the default.
    add_env(record, "environment name (required; GitLab: CI_ENVIRONMENT_NAME)")
    record.add_argument(
        "--status", required=True, type=_STATUS, metavar="STATUS", help="status or alias"
    )
    add_product(record, "product name")
    record.add_argument(
        "--version", dest="semver", metavar="VERSION", help="version or full version"
    )
    record.add_argument("--build", type=int, help="build number")
    record.add_argument("--id", type=int, dest="deployment_id", help="advance this deployment")
    record.add_argument(
        "--kind", default="deploy", type=_KIND, help="deploy, rollback or rollforward"
    )
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
    record.add_argument(
        "--env-kind",
        type=Choice(choices.ENVIRONMENT_KINDS),
        help="dev, test, staging or production (default: inferred)",
    )
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

    mark = command(
        sub,
        "mark-rollback",
        "mark a completed deployment rolled back (by id or full version)",
        examples=[
            "shipmate mark-rollback 42",
            "shipmate mark-rollback 1.4.0+build.7 --product api --env production "
            '--reason "error rate"',
        ],
        handler=_h("cmd_mark_rollback"),
    )
    mark.add_argument("ref", help="deployment id or full version (1.4.0+build.7)")
    _add_narrowing(mark)
    mark.add_argument("--reason", help="why (kept in the event log)")
    add_json(mark)


def _register_queries(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    hist = command(
        sub,
        "history",
        "deployments, newest first",
        examples=[
            "shipmate history --product api --env production",
            "shipmate history --status failed --since 7d",
            "shipmate history --since 2026-11-22 --until 2026-11-29 --all --json",
        ],
        handler=_h("cmd_history"),
    )
    _add_filters(hist)
    add_paging(hist)
    add_json(hist)

    show = command(
        sub,
        "show",
        "one deployment with its events",
        description="One deployment with its events, by id or by full version "
        "(--product and --env narrow a full version deployed to several environments).",
        examples=[
            "shipmate show 42",
            "shipmate show 1.4.0+build.3 --product api --env production --json",
        ],
        handler=_h("cmd_show"),
    )
    show.add_argument("id", metavar="REF", help="deployment id or full version (1.4.0+build.3)")
    _add_narrowing(show)
    add_json(show)

    current = command(
        sub,
        "current",
        "the matrix: products x environments, current versions",
        description="The version each product runs in each environment. Wider than the "
        "terminal, it prints one line per product and environment instead.",
        examples=[
            "shipmate current",
            "shipmate current --product api,web --env staging --env production",
        ],
        handler=_h("cmd_current"),
    )
    add_product_env(
        current,
        product="only these products (repeatable, or a comma list)",
        env="only these environments (repeatable, or a comma list)",
        repeatable=True,
    )
    add_json(current)

    stats = command(
        sub,
        "stats",
        "totals, success rate, latest version, per-version counts",
        examples=["shipmate stats --product api --env production --since 30d"],
        handler=_h("cmd_stats"),
    )
    _add_filters(stats)
    add_json(stats)


def _register_admin(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    dsub = command_group(
        sub,
        "db",
        "database schema",
        description="Apply the migrations, print the schema revision, or check the models "
        "against the migrations.",
        examples=["shipmate db upgrade", "shipmate db current --json"],
        handler=_h("cmd_db"),
        dest="db_command",
    )
    for name, text, example in (
        ("upgrade", "apply pending migrations", "shipmate db upgrade"),
        ("current", "print the schema revision", "shipmate db current --json"),
        ("check", "fail if the models drift from the migrations", "shipmate db check"),
    ):
        add_json(command(dsub, name, text, examples=[example]))

    serve = command(
        sub,
        "serve",
        "run the HTTP API (FastAPI on uvicorn)",
        examples=["shipmate serve --host 0.0.0.0 --port 8000 --workers 2"],
        handler=_h("cmd_serve"),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes (default: %(default)s)"
    )
    serve.add_argument(
        "--log-level", default="info", help="uvicorn log level (default: %(default)s)"
    )

    ksub = command_group(
        sub,
        "keys",
        "API keys for the server",
        description="Create, list and revoke the API keys remote mode and the HTTP API use.",
        examples=["shipmate keys create --name ci --scope write", "shipmate keys list"],
        handler=_h("cmd_keys"),
        dest="keys_command",
    )
    kcreate = command(
        ksub,
        "create",
        "create a key; the token is printed once",
        examples=[
            "shipmate keys create --name ci --scope write --product api",
            "shipmate keys create --name oncall --scope admin --json",
            "shipmate keys create --name agent-web-1 --scope agent --host web-1",
        ],
    )
    kcreate.add_argument("--name", required=True, help="a name for the key (shown as the actor)")
    kcreate.add_argument(
        "--scope",
        default="write",
        type=Choice(choices.KEY_SCOPES),
        help="read, write, admin or agent (a deploy agent's; needs --host) (default: %(default)s)",
    )
    kcreate.add_argument(
        "--host", default=None, help="the one host an agent key acts for (agent keys only)"
    )
    kcreate.add_argument(
        "--product", action="append", default=[], help="limit the key to this product (repeatable)"
    )
    add_json(kcreate)
    klist = command(
        ksub, "list", "list keys (never their tokens)", examples=["shipmate keys list --json"]
    )
    add_json(klist)
    krevoke = command(ksub, "revoke", "revoke a key by name", examples=["shipmate keys revoke ci"])
    krevoke.add_argument("name", help="the key's name")
    add_json(krevoke)


def register_demo(sub: Any, add_json: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``demo``, listed last in ``shipmate --help``."""
    demo = command(
        sub,
        "demo",
        "walk a realistic story on a demo SQLite database",
        examples=["shipmate demo", "shipmate demo --dir /tmp/demo --reset --no-serve"],
        handler=_h("cmd_demo"),
    )
    demo.add_argument("--dir", default="demo-data", help="where the demo database goes")
    demo.add_argument("--reset", action="store_true", help="start from an empty demo database")
    demo.add_argument(
        "--no-serve", action="store_true", help="do not start the API server at the end"
    )
    demo.add_argument(
        "--port", type=int, default=8000, help="API server port (default: %(default)s)"
    )
