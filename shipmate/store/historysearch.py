"""Free-text search over a deployment's version, commit, deployer and metadata values.

One filter term (``search`` in :data:`shipmate.store.history.TERMS`): the bound
value is a ``LIKE`` pattern made by :func:`search_pattern` (``%`` and ``_`` in
the user's text escaped, so they match themselves), compared case-insensitively
with ``full_version``, ``commit_sha``, ``deployed_by`` and each top-level value of
the metadata (``json_each`` on SQLite, ``json_each_text`` on PostgreSQL; a
nested object or list is matched as its JSON text).  No user text is ever part of
the SQL: it is always the bound pattern.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement, literal, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from shipmate.store.schema import deployments

__all__ = ["ESCAPE", "search_pattern", "search_term"]

#: The LIKE escape character of every search pattern.
ESCAPE = "/"

_d = deployments.c


def search_pattern(text: str) -> str:
    """A ``LIKE`` pattern matching ``text`` anywhere, its wildcards taken literally."""
    escaped = text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    return f"%{escaped}%"


class _MetadataValueLike(ColumnElement[bool]):
    """True when a top-level metadata value matches the pattern (case-insensitive)."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [("pattern", InternalTraversal.dp_clauseelement)]

    def __init__(self, pattern: ColumnElement[Any]) -> None:
        self.pattern = pattern


@compiles(_MetadataValueLike)
def _values_like_sqlite(element: _MetadataValueLike, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's LIKE ignores ASCII case, as lower(...) LIKE lower(...) does elsewhere
    pattern = compiler.process(element.pattern, **kw)
    return (
        "EXISTS (SELECT 1 FROM json_each(deployments.extra) AS kv "
        f"WHERE kv.value LIKE {pattern} ESCAPE '{ESCAPE}')"
    )


@compiles(_MetadataValueLike, "postgresql")
def _values_like_postgresql(element: _MetadataValueLike, compiler: SQLCompiler, **kw: Any) -> str:
    pattern = compiler.process(element.pattern, **kw)
    return (
        "EXISTS (SELECT 1 FROM json_each_text(deployments.extra) AS kv "
        f"WHERE kv.value ILIKE {pattern} ESCAPE '{ESCAPE}')"
    )


def search_term(pattern: Any) -> ColumnElement[bool]:
    """The WHERE term for a pattern from :func:`search_pattern` (a value or a bindparam)."""
    bound = pattern if isinstance(pattern, ColumnElement) else literal(pattern)
    return or_(
        _d.full_version.ilike(bound, escape=ESCAPE),
        _d.commit_sha.ilike(bound, escape=ESCAPE),
        _d.deployed_by.ilike(bound, escape=ESCAPE),
        _MetadataValueLike(bound),
    )
