"""Schema migrations: Alembic, shipped in the package, applied from code.

``ensure_schema`` is what every command calls: one query reads the recorded
revision and compares it with :data:`HEAD`; only when they differ is Alembic
imported and run, under a lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
PostgreSQL) so that many processes starting on an empty database migrate it once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from shipmate.errors import StoreError
from shipmate.store.engine import WRITE

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD", "current_revision", "ensure_schema", "migration_diff", "upgrade"]

_LOCK_KEY = 0x5349504D  # "SIPM": the advisory lock id shipmate migrates under
_MIGRATIONS = Path(__file__).parent / "migrations"


def _head_from_files() -> str:
    """Revision ids are the 4-digit prefixes of the files in versions/; the chain is
    linear, so the largest is the head (a test checks this against Alembic's view)."""
    names = sorted(p.name[:4] for p in (_MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return names[-1]


#: The newest migration, read without importing Alembic.
HEAD = _head_from_files()


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def current_revision(conn: Connection) -> str | None:
    """The revision recorded in the database, or None for an empty database."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row[0])


def _at_head(conn: Connection) -> bool:
    """One query: is the recorded revision :data:`HEAD`?  False when the table is
    missing (an empty database): SQLite says "no such table", PostgreSQL 42P01."""
    try:
        with conn.begin():  # committed: the database was reached
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    except (OperationalError, ProgrammingError) as exc:
        if "no such table" in str(exc.orig) or getattr(exc.orig, "sqlstate", None) == "42P01":
            return False
        raise
    return row is not None and str(row[0]) == HEAD


def ensure_schema(engine: Engine) -> None:
    """Bring the database to :data:`HEAD` if it is not there already."""
    try:
        with engine.connect() as conn:
            if _at_head(conn):
                return
    except OperationalError as exc:
        raise StoreError(f"cannot open the database: {exc.orig}") from None
    upgrade(engine)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run pending migrations under a lock; safe to call from many processes at once."""
    from alembic import command

    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        else:
            # BEGIN IMMEDIATE was issued: touch the file so the lock is real.
            conn.execute(text("PRAGMA user_version"))
        if current_revision(conn) == HEAD and revision == "head":
            return
        command.upgrade(alembic_config(conn), revision)


def migration_diff(engine: Engine) -> list[object]:
    """Differences between the migrated database and the models (empty when in sync)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from shipmate.store.schema import metadata

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))
