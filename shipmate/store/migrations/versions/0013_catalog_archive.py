"""products.archived_at and environments.archived_at: archived names leave the matrix

Revision ID: 0013
Revises: 0012

Nothing is archived at first (the columns start NULL).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("products", "environments"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in ("products", "environments"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("archived_at")
