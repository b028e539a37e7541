"""Alembic environment: always run from code on a connection shipmate hands in."""

from __future__ import annotations

from alembic import context

from shipmate.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - shipmate never runs alembic without one
    raise RuntimeError("shipmate migrations run from code: use `shipmate db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    transaction_per_migration=False,
)
context.run_migrations()
