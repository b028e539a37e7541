"""Tables of the agents feature: the deploy hosts that run ``shipmate agent``.

``hosts``: one row per host name an agent has announced itself as.  ``labels``
(a JSON object of strings) lets an environment pick its hosts by selector;
``agent_version`` is the shipmate version the agent runs; ``last_seen_at`` is
renewed by every call the agent makes (claim polls included), so a host whose
agent stopped calling is visibly stale.  ``key_name`` is the agent key it last
used; ``state`` what it last reported of each product's slots on the host (what
runs in each slot, where its switch sends traffic).  Rows are never deleted by the server (a retired host is archived with
``archived_at``), so history that names a host keeps its meaning.

Agent runs live in ``runs`` like every other run: ``runs.host`` names the host
that must execute it (NULL for a run driven on the host that created it, the
local mode), and ``runs.parent_id`` ties the per-host runs of one rollout across
several hosts to the run that coordinates them.  ``api_keys.host`` binds an
``agent`` key to one host name.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, String, Table

from shipmate.store.columns import id_column
from shipmate.store.schema import metadata
from shipmate.store.types import UTCDateTime

__all__ = ["hosts"]

hosts = Table(
    "hosts",
    metadata,
    id_column(),
    Column("name", String(255), nullable=False, unique=True),
    Column("labels", JSON(), nullable=False),
    Column("agent_version", String(50), nullable=True),
    Column("key_name", String(100), nullable=True),
    Column("registered_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("archived_at", UTCDateTime(), nullable=True),
    # What the agent last reported of its slots, per product and environment (JSON).
    Column("state", JSON(), nullable=True),
)
