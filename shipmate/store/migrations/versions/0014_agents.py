"""hosts, runs.host and runs.parent_id, api_keys.host: deploy agents

Revision ID: 0014
Revises: 0013

Every existing run is a local one (``host`` NULL) and no key is an agent key.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("agent_version", sa.String(50), nullable=True),
        sa.Column("key_name", sa.String(100), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.JSON(), nullable=True),
    )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("host", sa.String(255), nullable=True))
        batch.add_column(sa.Column("parent_id", _ID, nullable=True))
        batch.create_index("ix_runs_host_status", ["host", "status", "id"])
        batch.create_index("ix_runs_parent", ["parent_id"])
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("host", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("host")
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_parent")
        batch.drop_index("ix_runs_host_status")
        batch.drop_column("parent_id")
        batch.drop_column("host")
    op.drop_table("hosts")
