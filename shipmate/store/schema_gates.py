"""Tables of deployment gates: rules managed through the CLI/API, and approvals.

- ``gate_rules``: rules added with ``shipmate gates add`` or ``POST
  /api/v1/gates/rules``.  ``definition`` is the rule's TOML/JSON form
  (:func:`shipmate.domain.gates.config.rule_to_dict`); ``kind`` and ``mode`` are copied
  out of it for listing.  ``name_key`` is the case-folded name, unique, because
  rule names are compared case-insensitively.  Rules from ``shipmate.toml`` are
  never stored here.  Removing a rule deletes its row; the removal (with the
  definition) stays in the ``events`` log.
- ``gate_approvals``: one row per (version, environment, approver identity);
  ``approver_key`` is the trimmed, case-folded identity the unique constraint
  and the approval rule compare.  Approvals are never deleted.

Unlocks and overrides need no table of their own: an unlock aborts the started
deployment (a status transition) and both are recorded in ``events`` and on the
deployment's metadata.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, String, Table, UniqueConstraint

from shipmate.store.columns import id_column, reference
from shipmate.store.schema import metadata
from shipmate.store.types import UTCDateTime

__all__ = ["gate_approvals", "gate_rules"]

gate_rules = Table(
    "gate_rules",
    metadata,
    id_column(),
    Column("name", String(100), nullable=False, unique=True),
    Column("name_key", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("mode", String(20), nullable=False),
    Column("definition", JSON(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(255), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(255), nullable=True),
)

gate_approvals = Table(
    "gate_approvals",
    metadata,
    id_column(),
    reference("product_id", "products"),
    reference("version_id", "versions"),
    reference("environment_id", "environments"),
    Column("approver", String(255), nullable=False),
    Column("approver_key", String(255), nullable=False),
    Column("comment", String(500), nullable=True),
    Column("key_name", String(100), nullable=True),
    Column("approved_at", UTCDateTime(), nullable=False),
    UniqueConstraint("version_id", "environment_id", "approver_key"),
    Index("ix_gate_approvals_product_env", "product_id", "environment_id"),
)
