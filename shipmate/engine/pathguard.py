"""Rendering path templates so that no name leads outside the template's root.

Every template that becomes a path or a command argument (a process target's
``command``, ``cwd``, ``artifact`` and ``env``; a command target's commands; a
symlink switch's ``target_template``) is rendered through :func:`render_guarded`
or :func:`render_argv_guarded`; the rule is in :mod:`shipmate.domain.inputs.paths`.  A
refusal is an InvalidInputError naming the configuration key and the template,
raised before anything is started or pointed at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shipmate.domain.deploy.templates import render, render_argv
from shipmate.domain.inputs.paths import escapes_root, template_root
from shipmate.errors import InvalidInputError

__all__ = ["render_argv_guarded", "render_guarded"]


def render_guarded(template: str, values: Mapping[str, str], *, field: str) -> str:
    """``render(template, values)``, refused when a name takes it outside its root."""
    rendered = render(template, values)
    _check(template, rendered, values, field=field)
    return rendered


def render_argv_guarded(
    argv: Sequence[str],
    values: Mapping[str, str],
    *,
    field: str,
    lists: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """``render_argv``, with every single argument checked like :func:`render_guarded`."""
    for arg in argv:
        if lists and arg.strip("{}") in lists:
            continue
        _check(arg, render(arg, values), values, field=field)
    return render_argv(argv, values, lists)


def _check(template: str, rendered: str, values: Mapping[str, str], *, field: str) -> None:
    root = template_root(template, values)
    if root is not None and escapes_root(root, rendered):
        raise InvalidInputError(
            f"{field} {template!r} renders to {rendered!r}, outside {root!r}: a name "
            "may not lead a path out of the folder its template names",
            field=field,
            template=template,
            path=rendered,
        )
