"""Test setup: every database test runs on real SQLite and real PostgreSQL.

The ``backend`` fixture is parametrized over both; PostgreSQL is a throwaway
cluster started once per test session (per xdist worker).  Where PostgreSQL (or
any other real part) is missing the tests skip locally, but fail when ``CI`` is
set: in CI nothing that needs a real part may be skipped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from shipmate.config import Settings
from shipmate.demo.clock import FakeClock
from shipmate.services.context import Context
from shipmate.store.engine import make_engine
from shipmate.store.migrate import ensure_schema
from shipmate.store.schema import metadata
from tests.support.postgres import PostgresNotAvailable, PostgresServer

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Variables that would leak the outer CI run (or the developer's config) into tests.
_LEAKY_PREFIXES = (
    "SHIPMATE_",
    "GITHUB_",
    "GITLAB_",
    "CI_",
    "JENKINS_",
    "BUILD_",
    "CIRCLE",
    "BUILDKITE",
    "TF_BUILD",
    "SYSTEM_",
    "BITBUCKET_",
)
# ...and variables that change what the CLI prints (colours).
_LEAKY_NAMES = ("CI", "JENKINS_URL", "GIT_DIR", "NO_COLOR", "FORCE_COLOR")


def require_real_part(what: str, why: str) -> None:
    """Skip locally, fail in CI."""
    message = f"{what} is not available: {why}"
    if IN_CI:
        pytest.fail(f"{message} (CI must run every test that needs a real part)")
    pytest.skip(message)  # strict: the line above fails instead when CI is set


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(_LEAKY_PREFIXES) or name in _LEAKY_NAMES:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHIPMATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer | None]:
    try:
        server = PostgresServer().start()
    except PostgresNotAvailable:
        yield None
        return
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_template_url(pg_server: PostgresServer | None) -> str | None:
    if pg_server is None:
        return None
    url = pg_server.create_database("shipmate_test")
    engine = make_engine(url)
    ensure_schema(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    """An empty migrated PostgreSQL database, for PostgreSQL-only tests."""
    url: str | None = request.getfixturevalue("pg_template_url")
    if url is None:
        require_real_part("PostgreSQL", "initdb/pg_ctl not found (apt-get install postgresql)")
    assert url is not None
    _truncate_all(url)
    return url


@pytest.fixture
def database_url(
    backend: str,
    tmp_path: Path,
    sqlite_template: Path,
    request: pytest.FixtureRequest,
) -> str:
    """A migrated, empty database on the test's backend."""
    if backend == "sqlite":
        path = tmp_path / "shipmate.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    pg: str = request.getfixturevalue("pg_url")
    return pg


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=str(tmp_path / "data"))


@pytest.fixture
def ctx(settings: Settings, clock: FakeClock) -> Iterator[Context]:
    context = Context(settings=settings, engine=make_engine(settings.database_url), clock=clock)
    try:
        yield context
    finally:
        context.close()
