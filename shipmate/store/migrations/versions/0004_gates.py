"""gates tables: rules managed through the CLI/API, and approvals

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "gate_rules",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_rules")),
        sa.UniqueConstraint("name", name=op.f("uq_gate_rules_name")),
        sa.UniqueConstraint("name_key", name=op.f("uq_gate_rules_name_key")),
    )
    op.create_table(
        "gate_approvals",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("product_id", Id, nullable=False),
        sa.Column("version_id", Id, nullable=False),
        sa.Column("environment_id", Id, nullable=False),
        sa.Column("approver", sa.String(length=255), nullable=False),
        sa.Column("approver_key", sa.String(length=255), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=True),
        sa.Column("key_name", sa.String(length=100), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_gate_approvals_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["versions.id"], name=op.f("fk_gate_approvals_version_id_versions")
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_gate_approvals_environment_id_environments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_approvals")),
        sa.UniqueConstraint(
            "version_id",
            "environment_id",
            "approver_key",
            name=op.f("uq_gate_approvals_version_id_environment_id_approver_key"),
        ),
    )
    op.create_index(
        "ix_gate_approvals_product_env",
        "gate_approvals",
        ["product_id", "environment_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_gate_approvals_product_env", table_name="gate_approvals")
    op.drop_table("gate_approvals")
    op.drop_table("gate_rules")
