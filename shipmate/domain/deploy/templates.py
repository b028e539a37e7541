"""Placeholder templates used by the ``[deploy]`` configuration.

Rules:

* A placeholder is ``{name}`` where ``name`` is a letter or ``_`` followed by letters,
  digits or ``_``: ``{version}``, ``{port}``, ``{blue_port}``.
* Every other brace is literal, so nginx blocks (``upstream app { ... }``) and Go
  templates (``{{.State.Running}}``) need no escaping.  To write a literal
  ``{name}``, double its braces: ``{{name}}`` renders as ``{name}``.
* Command templates are argument lists.  A string is split like a POSIX shell would
  (:func:`shlex.split`) *before* placeholders are filled in, so a value never turns
  into two arguments and is never interpreted by a shell.  An argument that is
  exactly a *list placeholder* (``{run_args}``) expands to zero or more arguments.

Templates are checked when the configuration is read (:func:`check_placeholders`),
so an unknown placeholder is reported before anything runs.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection, Mapping, Sequence

from shipmate.errors import ConfigError

__all__ = [
    "check_placeholders",
    "placeholders",
    "render",
    "render_argv",
    "split_command",
]

_TOKEN = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(template: str) -> list[str]:
    """The placeholder names used in ``template``, in order of first use."""
    seen: list[str] = []
    for match in _TOKEN.finditer(template):
        name = match.group(2)
        if name is not None and name not in seen:
            seen.append(name)
    return seen


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill ``{name}`` placeholders from ``values``; ``{{name}}`` gives ``{name}``.

    A placeholder missing from ``values`` is a ConfigError naming it (templates are
    checked up front, so reaching this is a wiring mistake, not a user's typo).
    """

    def fill(match: re.Match[str]) -> str:
        escaped, name = match.group(1), match.group(2)
        if escaped is not None:
            return "{" + escaped + "}"
        if name not in values:
            raise ConfigError(
                f"template {template!r} uses {{{name}}}, which has no value here",
                placeholder=name,
            )
        return str(values[name])

    return _TOKEN.sub(fill, template)


def render_argv(
    argv: Sequence[str],
    values: Mapping[str, str],
    lists: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Render each argument; an argument that is exactly ``{name}`` of a list expands."""
    lists = lists or {}
    out: list[str] = []
    for arg in argv:
        match = _TOKEN.fullmatch(arg)
        if match and match.group(2) in lists:
            out.extend(lists[match.group(2)])
        else:
            out.append(render(arg, values))
    return out


def split_command(value: object, *, field: str) -> tuple[str, ...]:
    """A command template given as a string (shell-like words) or a list of strings."""
    if isinstance(value, str):
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise ConfigError(
                f"{field} cannot be split into arguments: {exc}", field=field
            ) from None
    elif isinstance(value, list | tuple):
        if not all(isinstance(word, str) for word in value):
            raise ConfigError(f"{field} must be a string or a list of strings", field=field)
        words = list(value)
    else:
        raise ConfigError(f"{field} must be a string or a list of strings", field=field)
    if not words or not words[0].strip():
        raise ConfigError(f"{field} must name a command to run", field=field)
    return tuple(words)


def check_placeholders(
    template: str | Sequence[str],
    *,
    field: str,
    allowed: Collection[str],
    lists: Collection[str] = (),
    known: Collection[str] = (),
) -> None:
    """Raise ConfigError naming ``field`` and the placeholder if one is not allowed.

    ``lists`` are list placeholders, allowed only as a whole argument of a command.
    ``known`` are placeholders that exist elsewhere but have no value in this key
    (``{version}`` in a stop command); they get a message saying so.
    """
    parts = [template] if isinstance(template, str) else list(template)
    for part in parts:
        whole = _TOKEN.fullmatch(part)
        if whole and whole.group(2) in lists and not isinstance(template, str):
            continue
        for name in placeholders(part):
            if name in allowed:
                continue
            if name in lists:
                raise ConfigError(
                    f"{field} uses {{{name}}} inside an argument; it expands to several "
                    "arguments, so it must stand alone as one whole argument",
                    field=field,
                    placeholder=name,
                )
            shown = ", ".join("{" + n + "}" for n in sorted({*allowed, *lists}))
            if name in known:
                raise ConfigError(
                    f"{field} uses {{{name}}}, which has no value when this key is used; "
                    f"available here: {shown}",
                    field=field,
                    placeholder=name,
                    allowed=sorted({*allowed, *lists}),
                )
            raise ConfigError(
                f"{field} uses the unknown placeholder {{{name}}}; available here: {shown} "
                "(write a literal {name} as {{name}})",
                field=field,
                placeholder=name,
                allowed=sorted({*allowed, *lists}),
            )
