"""Column builders for the columns many tables define the same way.

Each call returns a new :class:`~sqlalchemy.Column` (a column belongs to one table):
the integer id every table starts with, a reference to another table's id, the CI
provenance builds and deployments both carry, when a row was created and last
changed, the names of a deployed version kept as text, when a timed piece of work
finished and how long it took, and what an executed step or action printed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Text

from shipmate.store.types import UTCDateTime

__all__ = [
    "Id",
    "ci_columns",
    "finish_columns",
    "id_column",
    "outcome_columns",
    "reference",
    "version_name_columns",
    "written_columns",
]

# BigInteger ids on PostgreSQL, INTEGER (rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


def id_column() -> Column[Any]:
    """The table's own ``id``: an autoincrementing primary key."""
    return Column("id", Id, primary_key=True, autoincrement=True)


def reference(
    name: str, table: str, *, nullable: bool = False, primary_key: bool = False
) -> Column[Any]:
    """A column ``name`` holding the id of a row of ``table`` (part of the key with
    ``primary_key``)."""
    if primary_key:
        return Column(name, Id, ForeignKey(f"{table}.id"), primary_key=True)
    return Column(name, Id, ForeignKey(f"{table}.id"), nullable=nullable)


def ci_columns() -> tuple[Column[Any], ...]:
    """Which CI platform and run reported a build or deployment, and from what system."""
    return (
        Column("ci_platform", String(50), nullable=True),
        Column("ci_run_id", String(255), nullable=True),
        Column("ci_run_url", String(500), nullable=True),
        Column("source_system", String(50), nullable=True),
    )


def finish_columns() -> tuple[Column[Any], ...]:
    """When a timed piece of work finished (None while it runs) and how long it took."""
    return (
        Column("finished_at", UTCDateTime(), nullable=True),
        Column("duration_ms", BigInteger(), nullable=True),
    )


def written_columns() -> tuple[Column[Any], ...]:
    """When the row was created and when it last changed."""
    return (
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
    )


def version_name_columns() -> tuple[Column[Any], ...]:
    """Which product's version in which environment, by name (for tables that keep the
    names as they were, not ids)."""
    return (
        Column("product", String(255), nullable=False),
        Column("environment", String(100), nullable=False),
        Column("version", String(100), nullable=False),
    )


def outcome_columns() -> tuple[Column[Any], ...]:
    """What an executed step or action printed and why it failed, when it started and
    when it finished (:func:`finish_columns`)."""
    return (
        Column("output", Text(), nullable=True),
        Column("error", Text(), nullable=True),
        Column("started_at", UTCDateTime(), nullable=False),
        *finish_columns(),
    )
