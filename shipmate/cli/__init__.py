"""The ``shipmate`` command line: parse, call a service, render.  Nothing else.

Exit codes: 0 success; 1 a refused operation (not found, conflict, illegal
transition, deploy failure); 2 bad usage or bad input; 3 blocked by a deployment
gate.  Errors print one line on stderr; ``--traceback`` shows the stack.

The convention: every command group is a package ``shipmate/cli/<group>/`` with

- ``parser.py``: ``register(subparsers, add_json)`` adds the group's parsers and
  sets ``handler="shipmate.cli.<group>.handlers:function"`` on each; it imports
  only ``argparse``;
- ``handlers.py``: one handler per command, called as ``handler(args, settings)``
  (:mod:`shipmate.cli.dispatch` loads the settings and imports the module only
  when its command runs).

``records`` holds the core commands (``version``, ``record``, ``history``, ...;
``demo`` is registered last), the groups in :data:`FEATURES` the others.  Commands
that work on records go through :mod:`shipmate.cli.backends` (the database, or a
server in remote mode).  This module holds only the root parser, :data:`FEATURES`
and :func:`main`.

Start-up matters (CI calls this many times per pipeline), so this module imports
only the standard library's ``argparse``; each command imports what it needs.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

__all__ = ["FEATURES", "main"]

# argparse translates its own words ("options", "show this help message and exit")
# for every parser it builds, and gettext looks for catalogue files on each call:
# half the time of building shipmate's parsers.  The answer cannot change while the
# process runs, so each word is looked up once.
argparse._ = functools.cache(argparse._)  # type: ignore[attr-defined]

#: The command groups after ``records``, in the order ``shipmate --help`` lists them.
FEATURES = ("draining", "gates", "insights", "notify", "releases", "runs")


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

    # The core record commands, then the feature modules' (each imports only argparse here).
    import importlib

    from shipmate.cli.records import parser as records

    records.register(sub, _add_json)
    for name in FEATURES:
        importlib.import_module(f"shipmate.cli.{name}.parser").register(sub, _add_json)
    records.register_demo(sub, _add_json)
    return parser


def _version() -> str:
    from shipmate import __version__

    return f"shipmate {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from shipmate.errors import ShipmateError

    try:
        from shipmate.cli.dispatch import dispatch

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
