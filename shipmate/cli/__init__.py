"""The ``shipmate`` command line: parse, call a service, render.  Nothing else.

Exit codes: 0 success; 1 a refused operation (not found, conflict, illegal
transition, deploy failure); 2 bad usage or bad input; 3 blocked by a deployment
gate.  Errors print one line on stderr; ``--traceback`` shows the stack.

The convention: every command group is a package ``shipmate/cli/<group>/`` with

- ``parser.py``: ``register(subparsers, add_json)`` adds the group's commands with
  :func:`shipmate.cli.parsing.command` (help, description, examples, and
  ``handler="shipmate.cli.<group>.handlers:function"``); it imports only
  ``argparse``, :mod:`shipmate.cli.parsing` and :mod:`shipmate.cli.choices`;
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
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["FEATURES", "main"]

# argparse translates its own words ("options", "show this help message and exit")
# for every parser it builds, and gettext looks for catalogue files on each call:
# half the time of building shipmate's parsers.  The answer cannot change while the
# process runs, so each word is looked up once.
argparse._ = functools.cache(argparse._)  # type: ignore[attr-defined]

#: The command groups after ``records``, in the order ``shipmate --help`` lists them.
FEATURES = ("agent", "catalog", "draining", "gates", "insights", "notify", "releases", "runs")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command; given ``argv``, only of the command it names (see
    :mod:`shipmate.cli.chosen`: the rest of the tree is built only when needed)."""
    from shipmate.cli.chosen import OnlyChosen, chosen_command

    chosen = chosen_command(argv) if argv is not None else None
    if chosen is not None:
        parser, only = _parser(lambda sub: OnlyChosen(sub, chosen))
        if only.found:
            return parser
    return _parser(lambda sub: sub)[0]


def _parser(
    subparsers_of: Callable[[Any], Any],
) -> tuple[argparse.ArgumentParser, Any]:
    from shipmate.cli.parsing import Parser, add_json, command

    # Flags only by their full names (Parser's default, on every subparser too): a new
    # flag must never make an abbreviation a script relies on ambiguous.
    parser = Parser(
        prog="shipmate",
        description="Deployment versioning and release: build numbers, deployment history, "
        "the version matrix, rollbacks.",
        epilog="Examples:\n"
        "  shipmate version next --product api\n"
        "  shipmate record --product api --env production --status completed\n"
        "  shipmate current\n\n"
        "Exit codes: 0 ok, 1 refused, 2 bad input, 3 blocked by a gate. Docs: docs/cli.md.",
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
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    top.required = True
    sub = subparsers_of(top)

    # The core record commands, then the feature modules' (each imports only argparse here).
    import importlib

    from shipmate.cli.records import parser as records

    records.register(sub, add_json)
    for name in FEATURES:
        importlib.import_module(f"shipmate.cli.{name}.parser").register(sub, add_json)
    records.register_demo(sub, add_json)
    shells = command(
        sub,
        "completion",
        "print a shell completion script (bash, zsh or fish)",
        description="Print the completion script of a shell, generated from the commands, "
        "flags and choices. Load it from the shell's start-up file (docs/cli.md).",
        examples=[
            "shipmate completion bash > ~/.local/share/bash-completion/completions/shipmate",
            "shipmate completion zsh > ~/.zfunc/_shipmate",
            "shipmate completion fish > ~/.config/fish/completions/shipmate.fish",
        ],
        handler="shipmate.cli.completion:cmd_completion",
    )
    from shipmate.cli.choices import SHELLS

    shells.add_argument("shell", choices=SHELLS, help="bash, zsh or fish")
    return parser, sub


def _version() -> str:
    from shipmate import __version__

    return f"shipmate {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (printed): its code
        return exc.code if isinstance(exc.code, int) else 2
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
        if os.environ.get("GITHUB_ACTIONS") == "true":
            from shipmate.cli.ciworkflow import annotate_error

            annotate_error(f"error{where}: {redact(exc.message)}")
        return exc.exit_code
    except KeyboardInterrupt:
        print("shipmate: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # e.g. `shipmate history | head`: not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
