"""Migrations run from empty on both backends and match the models."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from shipmate.store.engine import make_engine
from shipmate.store.migrate import HEAD, alembic_config, ensure_schema, migration_diff


def test_head_constant_matches_alembic() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [HEAD]
    # Linear chain: every revision but the first has exactly one parent.
    revisions = list(script.walk_revisions())
    assert sum(1 for r in revisions if r.down_revision is None) == 1


def test_upgrade_from_empty_has_no_drift(backend: str, tmp_path: Path, request) -> None:  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        assert server is not None, "PostgreSQL is required"
        url = server.create_database(f"fresh_{abs(hash(str(tmp_path))) % 10**8}")
    engine = make_engine(url)
    try:
        ensure_schema(engine)
        assert migration_diff(engine) == []
        ensure_schema(engine)  # idempotent
    finally:
        engine.dispose()
