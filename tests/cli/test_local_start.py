"""A local command on a migrated database opens one connection and checks the schema
revision with one query (``SELECT version_num FROM alembic_version``), on SQLite and
PostgreSQL; Alembic stays unimported (see test_remote_without_database.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

Run = Callable[..., tuple[int, str, str]]

#: Words of the statements that look at the schema rather than the records.
_SCHEMA_WORDS = ("alembic_version", "table_info", "pg_catalog", "information_schema")


class Seen:
    def __init__(self) -> None:
        self.connects = 0
        self.statements: list[str] = []

    def on_connect(self, *_: Any) -> None:
        self.connects += 1

    def on_execute(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(" ".join(statement.split()))

    def schema_statements(self) -> list[str]:
        return [s for s in self.statements if any(w in s for w in _SCHEMA_WORDS)]


_RECORD = (
    "record",
    "--product",
    "api",
    "--version",
    "1.0.0",
    "--env",
    "prod",
    "--status",
    "completed",
    "--no-detect",
)


@pytest.fixture
def seen() -> Iterator[Seen]:
    watcher = Seen()
    event.listen(Pool, "connect", watcher.on_connect)
    event.listen(Engine, "before_cursor_execute", watcher.on_execute)
    try:
        yield watcher
    finally:
        event.remove(Engine, "before_cursor_execute", watcher.on_execute)
        event.remove(Pool, "connect", watcher.on_connect)


@pytest.mark.parametrize(
    "argv",
    [
        ("version", "next", "--product", "api", "--version", "1.0.0", "--no-file"),
        _RECORD,
        ("history",),
        ("current",),
        ("show", "1"),
        ("stats",),
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_a_local_command_opens_one_connection_and_asks_for_the_revision_once(
    cli: Run, seen: Seen, argv: tuple[str, ...]
) -> None:
    assert cli(*_RECORD[:4], "0.9.0", *_RECORD[5:])[0] == 0
    seen.connects, seen.statements = 0, []
    code, _, err = cli(*argv)
    assert code == 0, err
    assert seen.connects == 1
    assert seen.schema_statements() == ["SELECT version_num FROM alembic_version"]
