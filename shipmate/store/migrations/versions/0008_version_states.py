"""version_states: active / draining / drained / retired per product, environment and version

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "version_states",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("product", sa.String(length=255), nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("full_version", sa.String(length=150), nullable=False),
        sa.Column("slot", sa.String(length=31), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", Id, nullable=True),
        sa.Column("drain_check", sa.String(length=500), nullable=True),
        sa.Column("drain_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("drain_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("forced_pending", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_version_states_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_version_states")),
        sa.UniqueConstraint(
            "product",
            "environment",
            "full_version",
            name=op.f("uq_version_states_product_environment_full_version"),
        ),
    )
    op.create_index("ix_version_states_state", "version_states", ["state", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_version_states_state", table_name="version_states")
    op.drop_table("version_states")
