"""The database schema as use cases: its revision, upgrading it, checking it.

Adapters ask here instead of reaching into ``shipmate.store``: ``shipmate db``
upgrades and checks, ``/readyz`` compares the revision with the one this code
expects.
"""

from __future__ import annotations

from sqlalchemy import Connection

from shipmate.config import Settings
from shipmate.store.engine import make_engine
from shipmate.store.migrate import HEAD, current_revision, migration_diff, upgrade
from shipmate.store.namecheck import OffendingName, names_outside_charset

__all__ = [
    "SCHEMA_HEAD",
    "OffendingName",
    "check_schema",
    "schema_revision",
    "stored_revision",
    "upgrade_schema",
]

#: The revision this code expects the database to be at.
SCHEMA_HEAD = HEAD


def schema_revision(conn: Connection) -> str | None:
    """The revision the database is at, on an open connection (None: empty)."""
    return current_revision(conn)


def stored_revision(settings: Settings) -> str | None:
    engine = make_engine(settings.effective_database_url)
    try:
        with engine.connect() as conn:
            return current_revision(conn)
    finally:
        engine.dispose()


def upgrade_schema(settings: Settings) -> str:
    """Apply every migration not applied yet; the revision the database is at now."""
    engine = make_engine(settings.effective_database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return HEAD


def check_schema(settings: Settings) -> tuple[list[str], list[OffendingName]]:
    """How the database differs from the models, and the stored names outside the charset."""
    engine = make_engine(settings.effective_database_url)
    try:
        diff = [str(d) for d in migration_diff(engine)]
        with engine.connect() as conn:
            names = list(names_outside_charset(conn))
    finally:
        engine.dispose()
    return diff, names
