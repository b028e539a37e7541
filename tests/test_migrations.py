"""Migrations run from empty on both backends and match the models."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import insert, select

from shipmate.store.engine import make_engine
from shipmate.store.migrate import HEAD, alembic_config, ensure_schema, migration_diff, upgrade
from shipmate.store.schema import builds, products, versions

CREATED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
STARTED = datetime(2026, 1, 5, 9, 1, tzinfo=UTC)
DONE = datetime(2026, 1, 5, 9, 7, tzinfo=UTC)


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


def test_builds_recorded_before_updated_at_take_their_latest_time(
    backend: str, tmp_path: Path, request
) -> None:  # type: ignore[no-untyped-def]
    """0012 adds builds.updated_at; a build already there takes its latest known time."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        assert server is not None, "PostgreSQL is required"
        url = server.create_database(f"old_{abs(hash(str(tmp_path))) % 10**8}")
    engine = make_engine(url)
    try:
        upgrade(engine, "0011")
        with engine.begin() as conn:
            conn.execute(insert(products).values(id=1, name="api", created_at=CREATED))
            conn.execute(
                insert(versions).values(
                    id=1, product_id=1, version="1.0.0", is_semver=True, created_at=CREATED
                )
            )
            for number, started, done in ((1, None, None), (2, STARTED, None), (3, STARTED, DONE)):
                conn.execute(
                    insert(builds).values(
                        product_id=1,
                        version_id=1,
                        build_number=number,
                        full_version=f"1.0.0+build.{number}",
                        status="pending",
                        extra={},
                        created_at=CREATED,
                        started_at=started,
                        completed_at=done,
                    )
                )
        ensure_schema(engine)
        assert migration_diff(engine) == []
        with engine.connect() as conn:
            rows = conn.execute(
                select(builds.c.build_number, builds.c.updated_at).order_by(builds.c.build_number)
            ).all()
        assert [(n, at) for n, at in rows] == [(1, CREATED), (2, STARTED), (3, DONE)]
    finally:
        engine.dispose()
