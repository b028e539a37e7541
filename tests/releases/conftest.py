"""Fixtures of the releases tests: a real application database on each backend.

``app_db`` follows the ``backend`` parameter of the ``ctx`` fixture: with shipmate
on SQLite the application database is a SQLite file; with shipmate on PostgreSQL
it is a fresh PostgreSQL database on the same throwaway server.  So every scenario
runs against both kinds of application database.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.conftest import require_real_part


@dataclass(frozen=True)
class AppDb:
    """An application database the actions migrate."""

    dialect: str
    url: str

    def tables(self) -> set[str]:
        if self.dialect == "sqlite":
            path = self.url.removeprefix("sqlite:///")
            if not Path(path).exists():
                return set()
            with sqlite3.connect(path) as conn:
                rows = conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                ).fetchall()
            return {r[0] for r in rows}
        with psycopg.connect(self.url) as conn:
            rows = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        return {r[0] for r in rows}

    def execute(self, sql: str) -> None:
        if self.dialect == "sqlite":
            with sqlite3.connect(self.url.removeprefix("sqlite:///")) as conn:
                conn.execute(sql)
            return
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql)


def make_app_db(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> AppDb:
    if dialect == "sqlite":
        return AppDb("sqlite", f"sqlite:///{tmp_path / f'app-{uuid.uuid4().hex[:6]}.db'}")
    server = request.getfixturevalue("pg_server")
    if server is None:
        require_real_part("PostgreSQL", "initdb/pg_ctl not found (apt-get install postgresql)")
    return AppDb("postgresql", server.create_database(f"app_{uuid.uuid4().hex[:12]}"))


@pytest.fixture
def app_db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> AppDb:
    return make_app_db("sqlite" if backend == "sqlite" else "postgresql", tmp_path, request)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_app_db(request: pytest.FixtureRequest, tmp_path: Path) -> AppDb:
    """An application database of each kind, without a shipmate database."""
    return make_app_db(request.param, tmp_path, request)
