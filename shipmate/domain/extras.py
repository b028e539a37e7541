"""Optional dependencies: which extra brings each, and the error when one is missing.

SQLite needs nothing beyond the core install; PostgreSQL's driver is the
``postgres`` extra and the server's packages the ``server`` extra.  A feature that
needs one asks :func:`require` first, so a missing package is a one-line
``ConfigError`` naming the ``pip install`` that fixes it, not an ``ImportError``.
"""

from __future__ import annotations

import importlib.util

from shipmate.errors import ConfigError

__all__ = ["EXTRAS", "require"]

#: Importable module -> the extra that installs it.
EXTRAS: dict[str, str] = {"psycopg": "postgres"}


def require(module: str, *, needed_for: str, field: str | None = None) -> None:
    """Raise ConfigError naming the extra when ``module`` cannot be imported."""
    if importlib.util.find_spec(module) is not None:
        return
    extra = EXTRAS[module]
    raise ConfigError(
        f"{needed_for} needs the {module} package, which is not installed; "
        f"install it with: pip install 'shipmate[{extra}]'",
        field=field,
    )
