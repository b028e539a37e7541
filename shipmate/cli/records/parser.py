"""CLI commands of the core records: ``version``, ``record``, ``mark-rollback``,
``history``, ``show``, ``current``, ``stats``, and ``db``, ``serve``, ``keys``, ``demo``.

Only argparse work happens at import; handlers live in
:mod:`shipmate.cli.records.handlers` (see shipmate.cli.FEATURES).
"""

from __future__ import annotations

from typing import Any

from shipmate.cli import choices
from shipmate.cli.parsing import (
    Arg,
    Choice,
    Command,
    Group,
    Using,
    add_env,
    add_json,
    add_paging,
    add_product,
    add_product_env,
    add_time_window,
    declare,
)

__all__ = ["register", "register_demo"]

_HANDLERS = "shipmate.cli.records.handlers"

_STATUS = Choice(choices.STATUSES, choices.STATUS_ALIASES)
_KIND = Choice(choices.DEPLOYMENT_KINDS)


#: The deployment filters of ``history`` and ``stats``.
_FILTERS = (
    Using(add_product_env, product="only this product", env="only this environment"),
    Arg(
        "--status",
        type=_STATUS,
        metavar="STATUS",
        help="only this status (pending, started, completed, failed, aborted, rolled_back, "
        "or an alias)",
    ),
    Arg("--version", metavar="VERSION", help="only this version (or full version 1.4.0+build.7)"),
    Arg("--branch", metavar="BRANCH", help="only this git branch"),
    Arg("--actor", metavar="ACTOR", help="only deployments by this actor"),
    Arg("--kind", type=_KIND, metavar="KIND", help="only deploy, rollback or rollforward"),
    add_time_window,
)

_CREATE = Arg(
    "--create",
    action="store_true",
    help="create the product or environment even if its name is close to a known one",
)

#: ``--product``/``--env`` of a command that takes a full version (``mark-rollback``, ``show``).
_NARROWING = Using(
    add_product_env,
    product="product, when the full version is ambiguous",
    env="environment, when the full version is ambiguous",
)


def _h(function: str) -> str:
    return f"{_HANDLERS}:{function}"


def register(sub: Any) -> None:
    """Add the core record commands to the top-level subparsers."""
    declare(
        sub,
        _VERSION,
        _RECORD,
        _MARK_ROLLBACK,
        _HISTORY,
        _SHOW,
        _CURRENT,
        _STATS,
        _DB,
        _SERVE,
        _KEYS,
    )


_DB = Group(
    "db",
    "database schema",
    description="Apply the migrations, print the schema revision, or check the models "
    "against the migrations.",
    examples=["shipmate db upgrade", "shipmate db current --json"],
    handler=_h("cmd_db"),
    dest="db_command",
    commands=[
        Command(name, text, examples=[example], args=[add_json])
        for name, text, example in (
            ("upgrade", "apply pending migrations", "shipmate db upgrade"),
            ("current", "print the schema revision", "shipmate db current --json"),
            ("check", "fail if the models drift from the migrations", "shipmate db check"),
        )
    ],
)

_SERVE = Command(
    "serve",
    "run the HTTP API (FastAPI on uvicorn)",
    examples=["shipmate serve --host 0.0.0.0 --port 8000 --workers 2"],
    handler=_h("cmd_serve"),
    args=[
        Arg("--host", default="127.0.0.1", help="address to bind (default: %(default)s)"),
        Arg("--port", type=int, default=8000, help="port (default: %(default)s)"),
        Arg("--workers", type=int, default=1, help="worker processes (default: %(default)s)"),
        Arg("--log-level", default="info", help="uvicorn log level (default: %(default)s)"),
    ],
)

_KEYS = Group(
    "keys",
    "API keys for the server",
    description="Create, list and revoke the API keys remote mode and the HTTP API use.",
    examples=["shipmate keys create --name ci --scope write", "shipmate keys list"],
    handler=_h("cmd_keys"),
    dest="keys_command",
    commands=[
        Command(
            "create",
            "create a key; the token is printed once",
            examples=[
                "shipmate keys create --name ci --scope write --product api",
                "shipmate keys create --name oncall --scope admin --json",
                "shipmate keys create --name agent-web-1 --scope agent --host web-1",
            ],
            args=[
                Arg("--name", required=True, help="a name for the key (shown as the actor)"),
                Arg(
                    "--scope",
                    default="write",
                    type=Choice(choices.KEY_SCOPES),
                    help="read, write, admin or agent (a deploy agent's; needs --host) "
                    "(default: %(default)s)",
                ),
                Arg(
                    "--host",
                    default=None,
                    help="the one host an agent key acts for (agent keys only)",
                ),
                Arg(
                    "--product",
                    action="append",
                    default=[],
                    help="limit the key to this product (repeatable)",
                ),
                add_json,
            ],
        ),
        Command(
            "list",
            "list keys (never their tokens)",
            examples=["shipmate keys list --json"],
            args=[add_json],
        ),
        Command(
            "revoke",
            "revoke a key by name",
            examples=["shipmate keys revoke ci"],
            args=[Arg("name", help="the key's name"), add_json],
        ),
    ],
)


def register_demo(sub: Any) -> None:
    """Add ``demo``, listed last in ``shipmate --help``."""
    declare(sub, _DEMO)


_VERSION_NEXT = Command(
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
    args=[
        add_product,
        Arg("--version", dest="semver", metavar="VERSION", help="the version to build"),
        Arg("--commit", help="git commit (default: detected)"),
        Arg("--branch", help="git branch (default: detected)"),
        Arg("--strict-semver", action="store_true", help="refuse non-SemVer versions"),
        Arg(
            "--output-file",
            default=".deployment-version.json",
            help="where to write the version file (default: %(default)s)",
        ),
        Arg("--no-file", action="store_true", help="do not write the version file"),
        Arg("--metadata", help="JSON object stored with the build"),
        _CREATE,
        add_json,
    ],
)

_VERSION_SHOW = Command(
    "show",
    "print the version the project files declare",
    examples=["shipmate version show", "shipmate version show --json"],
    handler=_h("cmd_version_show"),
    args=[add_json],
)

_VERSION = Group(
    "version",
    "semantic version and build numbers",
    description="Allocate build numbers (version next) and read the version the project "
    "files declare (version show).",
    examples=["shipmate version next --product api", "shipmate version show"],
    dest="version_command",
    commands=[_VERSION_NEXT, _VERSION_SHOW],
)

_RECORD = Command(
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
    args=[
        _CREATE,
        Using(add_env, "environment name (required; GitLab: CI_ENVIRONMENT_NAME)"),
        Arg("--status", required=True, type=_STATUS, metavar="STATUS", help="status or alias"),
        Using(add_product, "product name"),
        Arg("--version", dest="semver", metavar="VERSION", help="version or full version"),
        Arg("--build", type=int, help="build number"),
        Arg("--id", type=int, dest="deployment_id", help="advance this deployment"),
        Arg("--kind", default="deploy", type=_KIND, help="deploy, rollback or rollforward"),
        Arg("--reverts", type=int, help="id of the deployment a rollback reverts"),
        Arg("--metadata", help="JSON object of extra metadata"),
        Arg("--metadata-file", help="file holding a JSON object of extra metadata"),
        Arg("--deployed-by", help="actor (default: CI actor or local user)"),
        Arg("--started-at", help="RFC 3339 start time (default: now, for a started event)"),
        Arg("--completed-at", help="RFC 3339 finish time (default: now, for a finishing event)"),
        Arg("--commit", help="git commit (default: detected)"),
        Arg(
            "--commit-time",
            help="RFC 3339 time of the commit (default: from the local git checkout)",
        ),
        Arg("--branch", help="git branch (default: detected)"),
        Arg("--repository", help="repository URL (default: detected)"),
        Arg("--ci-run-id", help="CI run id (default: detected)"),
        Arg("--ci-run-url", help="CI run URL (default: detected)"),
        Arg(
            "--env-kind",
            type=Choice(choices.ENVIRONMENT_KINDS),
            help="dev, test, staging or production (default: inferred)",
        ),
        Arg("--no-detect", action="store_true", help="do not pick up git and CI metadata"),
        Arg(
            "--override-gates",
            action="store_true",
            help="deploy despite failed gates (needs --reason; an admin key in remote mode)",
        ),
        Arg("--reason", help="why the gates are overridden (with --override-gates)"),
        add_json,
    ],
)

_MARK_ROLLBACK = Command(
    "mark-rollback",
    "mark a completed deployment rolled back (by id or full version)",
    examples=[
        "shipmate mark-rollback 42",
        'shipmate mark-rollback 1.4.0+build.7 --product api --env production --reason "error rate"',
    ],
    handler=_h("cmd_mark_rollback"),
    args=[
        Arg("ref", help="deployment id or full version (1.4.0+build.7)"),
        _NARROWING,
        Arg("--reason", help="why (kept in the event log)"),
        add_json,
    ],
)

_HISTORY = Command(
    "history",
    "deployments, newest first",
    examples=[
        "shipmate history --product api --env production",
        "shipmate history --status failed --since 7d",
        "shipmate history --since 2026-11-22 --until 2026-11-29 --all --json",
    ],
    handler=_h("cmd_history"),
    args=[*_FILTERS, add_paging, add_json],
)

_SHOW = Command(
    "show",
    "one deployment with its events",
    description="One deployment with its events, by id or by full version "
    "(--product and --env narrow a full version deployed to several environments).",
    examples=[
        "shipmate show 42",
        "shipmate show 1.4.0+build.3 --product api --env production --json",
    ],
    handler=_h("cmd_show"),
    args=[
        Arg("id", metavar="REF", help="deployment id or full version (1.4.0+build.3)"),
        _NARROWING,
        add_json,
    ],
)

_CURRENT = Command(
    "current",
    "the matrix: products x environments, current versions",
    description="The version each product runs in each environment. Wider than the "
    "terminal, it prints one line per product and environment instead.",
    examples=[
        "shipmate current",
        "shipmate current --product api,web --env staging --env production",
    ],
    handler=_h("cmd_current"),
    args=[
        Using(
            add_product_env,
            product="only these products (repeatable, or a comma list)",
            env="only these environments (repeatable, or a comma list)",
            repeatable=True,
        ),
        add_json,
    ],
)

_STATS = Command(
    "stats",
    "totals, success rate, latest version, per-version counts",
    examples=["shipmate stats --product api --env production --since 30d"],
    handler=_h("cmd_stats"),
    args=[*_FILTERS, add_json],
)

_DEMO = Command(
    "demo",
    "walk a realistic story on a demo SQLite database",
    examples=["shipmate demo", "shipmate demo --dir /tmp/demo --reset --no-serve"],
    handler=_h("cmd_demo"),
    args=[
        Arg("--dir", default="demo-data", help="where the demo database goes"),
        Arg("--reset", action="store_true", help="start from an empty demo database"),
        Arg("--no-serve", action="store_true", help="do not start the API server at the end"),
        Arg("--port", type=int, default=8000, help="API server port (default: %(default)s)"),
    ],
)
