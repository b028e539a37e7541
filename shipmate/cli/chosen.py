"""Building only the parser of the command being run.

Every call of the CLI used to build the parser of every command (about 25 ms of
argparse work, a fifth of a remote ``record``).  :func:`chosen_command` reads which
command ``argv`` names (past the global flags), and :class:`OnlyChosen` stands in for
the top-level subparsers while the groups register: the chosen command gets its real
parser, every other one a stand-in that ignores what is added to it.  Without a
command (``shipmate``, ``--help``, ``--version``), or with one no group registers (a
typo, so "did you mean" can list them all), the whole tree is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["OnlyChosen", "chosen_command"]

#: The root parser's flags that take a value (``--url URL`` or ``--url=URL``).
_GLOBAL_WITH_VALUE = ("--database-url", "--url", "--token", "--token-file")
_GLOBAL_FLAGS = ("--traceback",)


def chosen_command(argv: Sequence[str]) -> str | None:
    """The top-level command ``argv`` names; None for none, or a flag argparse must see."""
    tokens = iter(argv)
    for token in tokens:
        if token in _GLOBAL_WITH_VALUE:
            next(tokens, None)
        elif token in _GLOBAL_FLAGS or token.startswith(
            tuple(f"{flag}=" for flag in _GLOBAL_WITH_VALUE)
        ):
            continue
        elif token.startswith("-"):
            return None  # --help, --version, or a flag that is not the root's: argparse says
        else:
            return token
    return None


class _Unbuilt:
    """The parser of a command this call does not run: every call is accepted, nothing kept."""

    def __getattr__(self, _name: str) -> Callable[..., Any]:
        return self._ignore

    def _ignore(self, *_args: Any, **_kwargs: Any) -> _Unbuilt:
        return self


class OnlyChosen:
    """Top-level subparsers that build a real parser only for ``chosen``."""

    def __init__(self, subparsers: Any, chosen: str) -> None:
        self._subparsers = subparsers
        self._chosen = chosen
        #: Whether some group registered the chosen command.
        self.found = False

    def add_parser(self, name: str, **options: Any) -> Any:
        if name != self._chosen:
            return _Unbuilt()
        self.found = True
        return self._subparsers.add_parser(name, **options)
