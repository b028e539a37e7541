"""releases: release actions, predecessors, schema positions, action executions

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "release_actions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("product_id", Id, nullable=False),
        sa.Column("version_id", Id, nullable=False),
        sa.Column("phase", sa.String(length=4), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("database_ref", sa.String(length=255), nullable=True),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_release_actions_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["versions.id"], name=op.f("fk_release_actions_version_id_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release_actions")),
        sa.UniqueConstraint(
            "version_id",
            "phase",
            "sort_order",
            name=op.f("uq_release_actions_version_id_phase_sort_order"),
        ),
    )
    op.create_index(
        "ix_release_actions_product_id",
        "release_actions",
        ["product_id", "version_id"],
        unique=False,
    )
    op.create_table(
        "release_predecessors",
        sa.Column("version_id", Id, nullable=False),
        sa.Column("product_id", Id, nullable=False),
        sa.Column("predecessor", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_release_predecessors_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["versions.id"],
            name=op.f("fk_release_predecessors_version_id_versions"),
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_release_predecessors")),
    )
    op.create_index(
        "ix_release_predecessors_product_id",
        "release_predecessors",
        ["product_id"],
        unique=False,
    )
    op.create_table(
        "release_positions",
        sa.Column("product_id", Id, nullable=False),
        sa.Column("environment_id", Id, nullable=False),
        sa.Column("version_id", Id, nullable=True),
        sa.Column("run_id", Id, nullable=True),
        sa.Column("deployment_id", Id, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lock_owner", sa.String(length=255), nullable=True),
        sa.Column("lock_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_release_positions_deployment_id_deployments"),
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_release_positions_environment_id_environments"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_release_positions_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["versions.id"], name=op.f("fk_release_positions_version_id_versions")
        ),
        sa.PrimaryKeyConstraint("product_id", "environment_id", name=op.f("pk_release_positions")),
    )
    op.create_table(
        "release_action_runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("product_id", Id, nullable=False),
        sa.Column("environment_id", Id, nullable=False),
        sa.Column("action_id", Id, nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("phase", sa.String(length=4), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("run_id", Id, nullable=True),
        sa.Column("deployment_id", Id, nullable=True),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("step_total", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["release_actions.id"],
            name=op.f("fk_release_action_runs_action_id_release_actions"),
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_release_action_runs_deployment_id_deployments"),
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_release_action_runs_environment_id_environments"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_release_action_runs_product_id_products"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release_action_runs")),
    )
    op.create_index(
        "ix_release_action_runs_place",
        "release_action_runs",
        ["product_id", "environment_id", "id"],
        unique=False,
    )
    op.create_index(
        "ix_release_action_runs_version",
        "release_action_runs",
        ["product_id", "version"],
        unique=False,
    )
    op.create_index(
        "ix_release_action_runs_run_id", "release_action_runs", ["run_id", "id"], unique=False
    )
    op.create_index(
        "ix_release_action_runs_action_id", "release_action_runs", ["action_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_release_action_runs_action_id", table_name="release_action_runs")
    op.drop_index("ix_release_action_runs_run_id", table_name="release_action_runs")
    op.drop_index("ix_release_action_runs_version", table_name="release_action_runs")
    op.drop_index("ix_release_action_runs_place", table_name="release_action_runs")
    op.drop_table("release_action_runs")
    op.drop_table("release_positions")
    op.drop_index("ix_release_predecessors_product_id", table_name="release_predecessors")
    op.drop_table("release_predecessors")
    op.drop_index("ix_release_actions_product_id", table_name="release_actions")
    op.drop_table("release_actions")
