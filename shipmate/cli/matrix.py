"""``shipmate current``: the matrix narrowed to the products and environments asked
for, and rendered to fit the terminal.

The matrix is a table with one column per environment; when that is wider than the
terminal (``COLUMNS``, else the terminal's width, else 80), it is printed as one line
per product and environment instead, which fits any number of environments.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import replace

from shipmate.cli.render import age, render_matrix, table
from shipmate.domain.matrix import Matrix
from shipmate.errors import NotFoundError

__all__ = ["names", "render_to_fit", "select"]

_DRIFT_NOTE = "* differs from the most-promoted environment's version (drift)"


def names(values: Sequence[str] | None) -> tuple[str, ...]:
    """The names of a repeatable flag that also takes comma lists (``--env a,b --env c``)."""
    return tuple(n.strip() for v in values or () for n in v.split(",") if n.strip())


def select(m: Matrix, products: Sequence[str], environments: Sequence[str]) -> Matrix:
    """Only these products and environments (all when empty); an unknown one is refused."""
    known_envs = [name for name, _ in m.environments]
    for asked, known, what in (
        (products, m.products, "product"),
        (environments, known_envs, "environment"),
    ):
        for name in asked:
            if name not in known:
                raise NotFoundError(f"{what} {name!r} is not in the matrix", field=what)
    keep_p = set(products or m.products)
    keep_e = set(environments or known_envs)
    return replace(
        m,
        products=tuple(p for p in m.products if p in keep_p),
        environments=tuple(e for e in m.environments if e[0] in keep_e),
        cells=tuple(c for c in m.cells if c.product in keep_p and c.environment in keep_e),
    )


def render_pairs(m: Matrix) -> str:
    """One line per product and environment with a deployment."""
    rows = []
    drifted = False
    for product in m.products:
        for env, _ in m.environments:
            cell = m.cell(product, env)
            if cell is not None:
                drifted = drifted or cell.drift
                mark = "*" if cell.drift else ""
                rows.append([product, env, f"{cell.full_version}{mark}", age(cell.age_seconds)])
    out = table(["PRODUCT", "ENV", "VERSION", "AGE"], rows)
    return out + (f"\n\n{_DRIFT_NOTE}" if drifted else "")


def render_to_fit(m: Matrix, width: int | None = None) -> str:
    """The matrix as a table when it fits ``width`` columns, else one line per pair."""
    columns = width or shutil.get_terminal_size(fallback=(80, 24)).columns
    wide = render_matrix(m)
    if not m.products or max(len(line) for line in wide.splitlines()) <= columns:
        return wide
    return render_pairs(m)
