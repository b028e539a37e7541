"""Tables of the releases feature: release actions, predecessors, schema positions, executions.

``release_actions``: the ``up`` and ``down`` actions of one version of a product,
one row per slot ``(version, phase, sort_order)``.  ``body`` is the shell command
or script, or the SQL script, as it was registered, so a rollback has the down
actions of a version even when its files are no longer on disk.  ``checksum`` is
:func:`shipmate.domain.releases.planning.action_checksum` of kind, body and database_ref.
A version's actions may be replaced only while the version was never deployed
and none of its actions ever ran anywhere; after that they are immutable.

``release_predecessors``: the explicit predecessor of a version, as a version
*string*: it may name a version that does not exist (a gap), which the lineage
reports instead of the database refusing it.

``release_positions``: per (product, environment), the schema position: the last
version whose actions completed (``version_id`` NULL: none yet), when and by which
run.  ``lock_owner`` / ``lock_until`` are the lease of whoever is running actions
there right now (``shipmate release apply`` or a deploy run's action step), so two
processes never run the actions of one environment at once, on SQLite and on a
PostgreSQL shared by several servers.  A lease that ran out may be taken over.

``release_action_runs``: one row per execution of one action in one environment
(append-only; a row is written ``running`` before the action starts and updated
``ok`` or ``failed`` with its exit code, bounded output and error after).  It keeps
its own copy of the action's version, phase, order, name and checksum, and the run
id when a deploy run executed it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Index, Integer, String, Table, Text, UniqueConstraint

from shipmate.store.columns import Id, id_column, outcome_columns, reference, written_columns
from shipmate.store.schema import metadata
from shipmate.store.types import UTCDateTime

__all__ = [
    "release_action_runs",
    "release_actions",
    "release_positions",
    "release_predecessors",
]


def _action_slot_columns() -> tuple[Column[Any], ...]:
    """Which action of a version: its phase (``up``, ``down``), its place in the phase,
    its kind and name; an action run keeps its own copy."""
    return (
        Column("phase", String(4), nullable=False),
        Column("sort_order", Integer(), nullable=False),
        Column("kind", String(10), nullable=False),
        Column("name", String(255), nullable=False),
    )


release_actions = Table(
    "release_actions",
    metadata,
    id_column(),
    reference("product_id", "products"),
    reference("version_id", "versions"),
    *_action_slot_columns(),
    Column("body", Text(), nullable=False),
    Column("database_ref", String(255), nullable=True),
    Column("checksum", String(64), nullable=False),
    # Where it came from: "cli", "api" or "sync".
    Column("source", String(20), nullable=False),
    *written_columns(),
    UniqueConstraint("version_id", "phase", "sort_order"),
    Index("ix_release_actions_product_id", "product_id", "version_id"),
)

release_predecessors = Table(
    "release_predecessors",
    metadata,
    reference("version_id", "versions", primary_key=True),
    reference("product_id", "products"),
    Column("predecessor", String(100), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_release_predecessors_product_id", "product_id"),
)

release_positions = Table(
    "release_positions",
    metadata,
    reference("product_id", "products", primary_key=True),
    reference("environment_id", "environments", primary_key=True),
    reference("version_id", "versions", nullable=True),
    Column("run_id", Id, nullable=True),
    reference("deployment_id", "deployments", nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("lock_owner", String(255), nullable=True),
    Column("lock_until", UTCDateTime(), nullable=True),
)

release_action_runs = Table(
    "release_action_runs",
    metadata,
    id_column(),
    reference("product_id", "products"),
    reference("environment_id", "environments"),
    reference("action_id", "release_actions"),
    Column("version", String(100), nullable=False),
    *_action_slot_columns(),
    Column("checksum", String(64), nullable=False),
    Column("run_id", Id, nullable=True),
    reference("deployment_id", "deployments", nullable=True),
    Column("step_index", Integer(), nullable=False),
    Column("step_total", Integer(), nullable=False),
    Column("status", String(20), nullable=False),
    Column("exit_code", Integer(), nullable=True),
    *outcome_columns(),
    Index("ix_release_action_runs_place", "product_id", "environment_id", "id"),
    Index("ix_release_action_runs_version", "product_id", "version"),
    Index("ix_release_action_runs_run_id", "run_id", "id"),
    Index("ix_release_action_runs_action_id", "action_id"),
)
