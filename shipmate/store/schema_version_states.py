"""Tables of the draining feature: the state of every version an environment ran.

``version_states``: one row per (product, environment, full version), updated in
place as the version moves through its lifecycle (after Temporal's worker
deployment versions):

``active``
    It takes traffic in ``slot``.
``draining``
    Traffic moved away; its in-flight work (``pending``, as last counted) is being
    waited for.  ``drain_started_at`` says since when.
``drained``
    Its in-flight work reached zero (``drain_finished_at``); the slot is about to
    be stopped.
``retired``
    Its slot was stopped.  ``forced`` says the drain deadline passed with the
    policy ``force``, and ``forced_pending`` how much work was left behind.

``since`` is when the row entered its current state, ``run_id`` the run that last
moved it (the run holds the deploy configuration a later ``shipmate drain check``
uses to finish a retirement).  Rows are never deleted; a version deployed again
(or rolled back to) simply becomes ``active`` again.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text, UniqueConstraint

from shipmate.store.columns import id_column, reference, version_name_columns
from shipmate.store.schema import metadata
from shipmate.store.types import UTCDateTime

__all__ = ["VERSION_STATES", "version_states"]

#: The states a version moves through, in order.
VERSION_STATES = ("active", "draining", "drained", "retired")

version_states = Table(
    "version_states",
    metadata,
    id_column(),
    *version_name_columns(),
    Column("full_version", String(150), nullable=False),
    Column("slot", String(31), nullable=True),
    Column("state", String(20), nullable=False),
    Column("pending", Integer(), nullable=True),
    Column("since", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    reference("run_id", "runs", nullable=True),
    Column("drain_check", String(500), nullable=True),
    Column("drain_started_at", UTCDateTime(), nullable=True),
    Column("drain_finished_at", UTCDateTime(), nullable=True),
    Column("forced", Boolean(), nullable=False, default=False),
    Column("forced_pending", Integer(), nullable=True),
    Column("note", Text(), nullable=True),
    UniqueConstraint("product", "environment", "full_version"),
    Index("ix_version_states_state", "state", "id"),
)
