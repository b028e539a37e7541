"""Column builders for the columns many tables define the same way.

Each call returns a new :class:`~sqlalchemy.Column` (a column belongs to one table):
the integer id every table starts with, a reference to another table's id, the CI
provenance builds and deployments both carry, and when a timed piece of work
finished and how long it took.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String

from shipmate.store.types import UTCDateTime

__all__ = ["Id", "ci_columns", "finish_columns", "id_column", "reference"]

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
