"""indexes for queries at scale (see shipmate/store/schema_indexes.py)

Revision ID: 0009
Revises: 0008

Plain ``CREATE INDEX`` inside the migration's transaction: on a large existing
PostgreSQL history it blocks writes to ``deployments`` while it builds (a few
seconds per million rows).
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_deployments_status_at": ["status", "deployed_at", "id"],
    "ix_deployments_product_version": ["product_id", "version", "status", "environment_id", "id"],
    "ix_deployments_product_status": ["product_id", "status", "finished_at", "id"],
    "ix_deployments_version_at": ["version", "deployed_at", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "deployments", columns, unique=False)


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="deployments")
