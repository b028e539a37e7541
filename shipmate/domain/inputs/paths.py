"""Where a name filled into a path template may lead: only inside the template's root.

A path template such as ``/srv/releases/{version}/bin/app`` has a *root*: the
folder its text names before the first name placeholder (``/srv/releases``).
Whatever the names are, the rendered path must stay inside it, so a version
``1.0.0/../../evil`` stored by an older shipmate (the name charset refuses it
today) can never make ``/srv/evil/bin/app``.  The check is on the text (``..``
segments resolved lexically), not on the filesystem: the operator's own symlinks
under the root are theirs to have.

The names are the placeholders a client's values fill: ``{product}``,
``{version}``, ``{full_version}`` and ``{slot}``.  A template whose text before
the first name holds no ``/`` (``--version={version}``) is not a path and has no
root.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Mapping

__all__ = ["NAME_PLACEHOLDERS", "escapes_root", "template_root"]

#: The placeholders whose values come from names a client sent.
NAME_PLACEHOLDERS = frozenset({"product", "version", "full_version", "slot"})

_TOKEN = re.compile(r"\{\{[A-Za-z_][A-Za-z0-9_]*\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def template_root(
    template: str, values: Mapping[str, str], names: Collection[str] = NAME_PLACEHOLDERS
) -> str | None:
    """The folder the template names before its first name placeholder, rendered;
    None when no name follows a ``/`` (the template is not a path of names)."""
    head: list[str] = []
    end = 0
    for match in _TOKEN.finditer(template):
        head.append(template[end : match.start()])
        end = match.end()
        name = match.group(1)
        if name is not None and name in names:
            text = "".join(head)
            if "/" not in text:
                return None
            return text[: text.rindex("/") + 1]
        head.append(values.get(name, "") if name is not None else match.group(0)[1:-1])
    return None


def escapes_root(root: str, path: str) -> bool:
    """True when ``path``, its ``..`` segments resolved, is not inside ``root``."""
    base = posixpath.normpath(root)
    full = posixpath.normpath(path)
    if base == "/" or base == "//":
        return not full.startswith("/")
    if base == ".":
        return full == ".." or full.startswith(("../", "/"))
    return full != base and not full.startswith(base + "/")
