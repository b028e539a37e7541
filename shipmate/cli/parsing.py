"""The argparse parser every shipmate command is built with, and its building blocks.

- :class:`Parser`: no prefix abbreviations of flags (a new flag must never break a
  script), usage errors as one line on stderr with "did you mean" for a mistyped
  command, flag or choice, descriptions wrapped and indented lines (the examples)
  kept as written;
- :func:`command`: a command (or group) with its help, description, examples and
  handler; every command has at least one example (a test parses each);
- :class:`Command`, :class:`Group`, :class:`Arg`, :class:`OneOf`, :class:`Using` and
  :func:`declare`: the same commands declared as data, a group's ``COMMANDS`` table
  that :func:`declare` builds (each entry with :func:`command`);
- :class:`Choice`: a parse-time check of a flag's value against a fixed list, any
  case, with the list in the error;
- the argument groups several commands share: :func:`add_product`,
  :func:`add_env`, :func:`add_product_env`, :func:`add_time_window`, :func:`add_paging`, :func:`add_json`.

Start-up matters, so this module imports only ``argparse`` and ``re`` (which
argparse imports anyway); ``difflib`` only when an error needs a suggestion.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn

__all__ = [
    "Arg",
    "Choice",
    "Command",
    "Group",
    "OneOf",
    "Parser",
    "Using",
    "add_env",
    "add_json",
    "add_paging",
    "add_product",
    "add_product_env",
    "add_time_window",
    "command",
    "command_group",
    "declare",
    "group",
    "suggest",
]

#: Where a subparser that met unknown arguments leaves itself, for the suggestion.
_DEEPEST = "_shipmate_parser_with_extras"

_FLAG_ERROR = re.compile(r"argument (--[a-z][\w-]*)[^:]*: ")
_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)$")

#: What ``--since``/``--until`` accept (parsed by :func:`shipmate.domain.timewindow.parse_moment`).
TIME_FORMATS = "a date (2026-11-22), RFC 3339 (2026-11-22T10:00:00Z) or ago (7d, 12h, 30m, 2w)"


def suggest(word: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""``."""
    import difflib

    close = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


def terminal_columns() -> int:
    """The terminal's width, as ``shutil.get_terminal_size().columns`` says it (``COLUMNS``
    when it is a positive number, else the terminal on standard output, else 80) without
    importing :mod:`shutil` and the compression modules it brings: argparse asks for it
    each time a flag is added, so every command would pay for them at start-up."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        size = os.get_terminal_size(sys.__stdout__.fileno())  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80
    return size.columns or 80


class _Formatter(argparse.HelpFormatter):
    """Paragraphs wrapped to the terminal; indented lines (examples) kept as written;
    required flags marked "(required)"."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        # argparse's own default, ``shutil.get_terminal_size().columns - 2``.
        width = terminal_columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if action.required and action.option_strings and text is not None:
            return f"{text} (required)"
        return text

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out: list[str] = []
        paragraph: list[str] = []

        def flush() -> None:
            if paragraph:
                out.append(super(_Formatter, self)._fill_text(" ".join(paragraph), width, indent))
                paragraph.clear()

        for line in text.splitlines():
            if not line.strip():
                flush()
                out.append("")
            elif line[0].isspace():
                flush()
                out.append(indent + line)
            else:
                paragraph.append(line.strip())
        flush()
        return "\n".join(out)


class Parser(argparse.ArgumentParser):
    """shipmate's parser: whole flag names only, one-line usage errors with suggestions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        found = _INVALID_CHOICE.search(message)
        if found:
            message += suggest(found.group(1), re.findall(r"'([^']*)'", found.group(2)))
        # A flag's bad value names the flag as the field, like a refused input does.
        flag = _FLAG_ERROR.match(message)
        where = flag.group(1)[2:].replace("-", "_") if flag else "usage"
        self.exit(2, f"shipmate: error [{where}]: {message} (see '{self.prog} --help')\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and not hasattr(parsed, _DEEPEST):
            setattr(parsed, _DEEPEST, self)
        return parsed, extras

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        deepest: Parser = vars(parsed).pop(_DEEPEST, self)
        if extras:
            flags = [s for a in deepest._actions for s in a.option_strings]
            hint = next((suggest(e, flags) for e in extras if e.startswith("-")), "")
            deepest.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
        return parsed


class Choice:
    """``type=`` of a flag that takes one of ``values`` or ``aliases``; with ``fold``
    (for services that read any case) also in any case and with ``-`` for ``_``.
    The value is passed on as given: the service reads it."""

    def __init__(
        self, values: Sequence[str], aliases: Sequence[str] = (), *, fold: bool = True
    ) -> None:
        self.values = tuple(values)
        self.accepted = frozenset((*self.values, *aliases))
        self.fold = fold
        self.__name__ = "choice"

    def __call__(self, text: str) -> str:
        folded = text.strip().lower() if self.fold else text
        if folded in self.accepted or (self.fold and folded.replace("-", "_") in self.accepted):
            return text
        raise argparse.ArgumentTypeError(
            f"invalid choice: {text!r} (choose from {', '.join(self.values)})"
            + suggest(folded, self.accepted)
        )


def _epilog(examples: Sequence[str], epilog: str | None) -> str:
    lines = ["Examples:", *(f"  {e}" for e in examples)]
    return "\n".join(lines) + (f"\n\n{epilog}" if epilog else "")


def command(
    sub: Any,
    name: str,
    help: str,
    *,
    examples: Sequence[str],
    description: str | None = None,
    handler: str | None = None,
    epilog: str | None = None,
) -> Parser:
    """A command (``handler`` is ``"module:function"``) with its help and examples.

    The description defaults to the help as a sentence.
    """
    if not examples:
        raise ValueError(f"command {name!r} needs at least one example")
    parser: Parser = sub.add_parser(
        name,
        help=help,
        description=description or help[0].upper() + help[1:] + ".",
        epilog=_epilog(examples, epilog),
    )
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


def command_group(
    sub: Any,
    name: str,
    help: str,
    *,
    dest: str,
    examples: Sequence[str],
    description: str | None = None,
    handler: str | None = None,
) -> Any:
    """A command with subcommands (see :func:`command`): the subparsers to add them to,
    whose name lands in ``dest``."""
    parser = command(sub, name, help, examples=examples, description=description, handler=handler)
    return group(parser, dest)


def group(parser: argparse.ArgumentParser, dest: str) -> Any:
    """The subcommands of a command group (one is required)."""
    sub = parser.add_subparsers(dest=dest, metavar="SUBCOMMAND")
    sub.required = True
    return sub


class Arg:
    """One ``add_argument`` call declared: the flag (or positional) names and options."""

    __slots__ = ("names", "options")

    def __init__(self, *names: str, **options: Any) -> None:
        self.names = names
        self.options = options

    def add_to(self, parser: Any) -> None:
        parser.add_argument(*self.names, **self.options)


class OneOf:
    """Arguments of which at most one may be given (with ``required``, exactly one)."""

    __slots__ = ("args", "required")

    def __init__(self, *args: Arg, required: bool = False) -> None:
        self.args = args
        self.required = required

    def add_to(self, parser: Any) -> None:
        exclusive = parser.add_mutually_exclusive_group(required=self.required)
        for arg in self.args:
            arg.add_to(exclusive)


class Using:
    """Arguments a function adds (``add_product_env``, ``add_paging``, ...), with its options."""

    __slots__ = ("add", "args", "options")

    def __init__(self, add: Callable[..., None], *args: Any, **options: Any) -> None:
        self.add = add
        self.args = args
        self.options = options

    def add_to(self, parser: Any) -> None:
        self.add(parser, *self.args, **self.options)


#: What a command's ``args`` hold: declared arguments, or a function that adds some
#: (called with the command's parser, like :func:`add_json`).
Part = Arg | OneOf | Using | Callable[[argparse.ArgumentParser], None]


class Command:
    """A command declared as data; :func:`declare` builds it with :func:`command`, then
    adds its ``args`` in order and sets ``defaults``."""

    __slots__ = ("args", "defaults", "description", "epilog", "examples", "handler", "help", "name")

    def __init__(
        self,
        name: str,
        help: str,
        *,
        examples: Sequence[str],
        args: Sequence[Part] = (),
        description: str | None = None,
        handler: str | None = None,
        epilog: str | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.help = help
        self.examples = examples
        self.args = args
        self.description = description
        self.handler = handler
        self.epilog = epilog
        self.defaults = defaults

    def build(self, sub: Any) -> Any:
        """Add the command to the subparsers ``sub``; its parser."""
        parser = command(
            sub,
            self.name,
            self.help,
            examples=self.examples,
            description=self.description,
            handler=self.handler,
            epilog=self.epilog,
        )
        for part in self.args:
            if isinstance(part, Arg | OneOf | Using):
                part.add_to(parser)
            else:
                part(parser)
        if self.defaults:
            parser.set_defaults(**self.defaults)
        return parser


class Group(Command):
    """A command with subcommands (see :func:`command_group`), declared as data."""

    __slots__ = ("commands", "dest")

    def __init__(
        self,
        name: str,
        help: str,
        *,
        dest: str,
        examples: Sequence[str],
        commands: Sequence[Command],
        description: str | None = None,
        handler: str | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            name,
            help,
            examples=examples,
            description=description,
            handler=handler,
            defaults=defaults,
        )
        self.dest = dest
        self.commands = commands

    def build(self, sub: Any) -> Any:
        parser = super().build(sub)
        declare(group(parser, self.dest), *self.commands)
        return parser


def declare(sub: Any, *commands: Command) -> None:
    """Build every declared command (and group, with its subcommands) into ``sub``."""
    for declared in commands:
        declared.build(sub)


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def add_product(
    p: argparse.ArgumentParser,
    help: str = "product name (default: SHIPMATE_PRODUCT or config)",
    *,
    repeatable: bool = False,
) -> None:
    """``--product``: one product, or with ``repeatable`` a list (``--product a,b``)."""
    if repeatable:
        p.add_argument("--product", action="append", metavar="PRODUCT", help=help)
    else:
        p.add_argument("--product", help=help)


def add_env(
    p: argparse.ArgumentParser,
    help: str = "environment name",
    *,
    required: bool = False,
    repeatable: bool = False,
) -> None:
    """``--env``: one environment (maybe required), or with ``repeatable`` a list."""
    if repeatable:
        p.add_argument("--env", action="append", metavar="ENV", help=help)
    else:
        p.add_argument("--env", required=required, help=help)


def add_product_env(
    p: argparse.ArgumentParser,
    *,
    product: str = "product name (default: SHIPMATE_PRODUCT or config)",
    env: str = "environment name",
    env_required: bool = False,
    repeatable: bool = False,
) -> None:
    """``--product`` and ``--env`` (see :func:`add_product` and :func:`add_env`)."""
    add_product(p, product, repeatable=repeatable)
    add_env(p, env, required=env_required, repeatable=repeatable)


def add_time_window(p: argparse.ArgumentParser, what: str = "deployments") -> None:
    """``--since``/``--until``: the handlers parse them with ``parse_moment``."""
    p.add_argument("--since", metavar="WHEN", help=f"only {what} at or after WHEN: {TIME_FORMATS}")
    p.add_argument("--until", metavar="WHEN", help=f"only {what} before WHEN (same formats)")


def add_paging(p: argparse.ArgumentParser, *, before: str | None = None) -> None:
    """``--limit`` and the page start (``--before ID`` of ``before``'s rows, else
    ``--cursor``), and ``--all`` to follow every page."""
    p.add_argument("--limit", type=int, default=20, help="rows per page (default: %(default)s)")
    if before is None:
        p.add_argument("--cursor", help="next_cursor of a previous page")
    else:
        p.add_argument("--before", help=f"only {before} with a smaller id (paging)")
    p.add_argument("--all", action="store_true", help="follow every page, not only the first")
