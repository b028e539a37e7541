"""Tables of the runs feature: the journal of deploy and rollback runs shipmate drives itself.

``runs``: one row per run (a ``shipmate deploy`` or ``shipmate rollback``).

* ``lock_key`` is ``"<product>\\n<environment>"`` while the run is ``running`` and
  NULL once it has finished.  It is UNIQUE, and NULLs never collide, so the
  database itself guarantees one running run per product and environment, across
  processes and across servers sharing a PostgreSQL database.
* ``owner`` / ``lease_until`` say which process drives the run and until when its
  lease holds; the owner renews it while it works.  Another process on the run's
  host may take the run over (``shipmate runs resume``) only when the owner is
  known dead (same host, pid gone) or its lease has run out.  Every journal write
  of the owner checks it still owns the run, so a process that lost its lease
  stops before its next step.
* ``params`` holds everything needed to drive the run again after a crash: the
  release, the deploy configuration as it was when the run began, the state
  folder, the actor and CI metadata, and the host it drives.
* ``host``: the host whose agent must execute the run (``shipmate agent``); NULL
  for a run driven by the process that created it (local mode).  ``parent_id``:
  the run that coordinates a rollout across several hosts, on each per-host run.
* ``attention`` / ``attention_at``: set by ``shipmate serve`` when it notices a
  running run whose owner is gone (the server never resumes it: only a process on
  the run's host does); cleared when a process takes the run over.

``run_steps``: one row per step of a run, in order (``seq``).  A step row is
written (status ``running``) before the step acts, and updated (``completed`` or
``failed``, with its output and its JSON ``result``) after.  Resuming re-drives the
run's flow and feeds it the recorded results of finished steps instead of running
them again; a step found ``running`` was interrupted and runs again (every step is
idempotent).  Rows are never deleted.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text, UniqueConstraint

from shipmate.store.columns import (
    Id,
    id_column,
    outcome_columns,
    reference,
    version_name_columns,
    written_columns,
)
from shipmate.store.schema import metadata
from shipmate.store.types import UTCDateTime

__all__ = ["run_steps", "runs"]

runs = Table(
    "runs",
    metadata,
    id_column(),
    Column("kind", String(20), nullable=False),
    *version_name_columns(),
    Column("build_number", Integer(), nullable=True),
    Column("full_version", String(150), nullable=False),
    Column("status", String(20), nullable=False),
    Column("lock_key", String(400), nullable=True, unique=True),
    Column("owner", String(255), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("attempts", Integer(), nullable=False),
    Column("actor", String(255), nullable=True),
    reference("deployment_id", "deployments", nullable=True),
    reference("reverts_id", "deployments", nullable=True),
    reference("rollback_deployment_id", "deployments", nullable=True),
    Column("params", JSON(), nullable=False),
    Column("error", Text(), nullable=True),
    Column("error_code", String(50), nullable=True),
    *written_columns(),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("attention", Text(), nullable=True),
    Column("attention_at", UTCDateTime(), nullable=True),
    # The host that must execute the run (an agent's); NULL: driven where it was created.
    Column("host", String(255), nullable=True),
    # A per-host run of a rollout across several hosts names the run coordinating it.
    Column("parent_id", Id, nullable=True),
    Index("ix_runs_product_environment", "product", "environment", "id"),
    Index("ix_runs_status", "status", "id"),
    Index("ix_runs_host_status", "host", "status", "id"),
    Index("ix_runs_parent", "parent_id"),
)

run_steps = Table(
    "run_steps",
    metadata,
    id_column(),
    reference("run_id", "runs"),
    Column("seq", Integer(), nullable=False),
    Column("name", String(50), nullable=False),
    Column("title", String(500), nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("args", JSON(), nullable=False),
    Column("result", JSON(), nullable=True),
    *outcome_columns(),
    UniqueConstraint("run_id", "seq"),
)
