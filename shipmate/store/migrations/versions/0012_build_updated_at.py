"""builds.updated_at: a build's last change, for recognising a repeated finish

Revision ID: 0012
Revises: 0011

Existing builds take their latest known time (completed, else started, else
created).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("builds") as batch_op:
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE builds SET updated_at = COALESCE(completed_at, started_at, created_at)")
    with op.batch_alter_table("builds") as batch_op:
        batch_op.alter_column(
            "updated_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("builds") as batch_op:
        batch_op.drop_column("updated_at")
