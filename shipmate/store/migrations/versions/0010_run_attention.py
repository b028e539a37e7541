"""runs.attention: a running run nobody drives, noticed by the server

Revision ID: 0010
Revises: 0009

``shipmate serve`` no longer resumes interrupted runs (it would run their deploy
steps and release actions on the server's host); it marks them instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("attention", sa.Text(), nullable=True))
    op.add_column("runs", sa.Column("attention_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("attention_at")
        batch.drop_column("attention")
