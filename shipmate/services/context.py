"""The context every service takes: settings, the database and the clock."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from shipmate.config import Settings
from shipmate.errors import DatabaseUnavailableError
from shipmate.store.engine import WRITE, make_engine
from shipmate.store.migrate import ensure_schema
from shipmate.store.name_guard import POLICY_OPTION, CatalogPolicy

__all__ = ["Context", "log_failed_pass", "open_context", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """Built once by an adapter and passed to every service call."""

    settings: Settings
    engine: Engine
    clock: Callable[[], datetime] = field(default=utcnow)
    #: Immutable facts (ids of products and versions) learnt from committed writes.
    cache: dict[Any, Any] = field(default_factory=dict)
    _after_commit: dict[int, list[Callable[[], None]]] = field(default_factory=dict, repr=False)

    def now(self) -> datetime:
        return self.clock()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed on success, rolled back on any error."""
        # A database that cannot be reached (or a connection lost mid-write) raises
        # DatabaseUnavailableError from the engine itself: see shipmate.store.outage.
        callbacks: list[Callable[[], None]] = []
        options = {**WRITE, POLICY_OPTION: self.catalog_policy()}
        with self.engine.connect().execution_options(**options) as conn:
            self._after_commit[id(conn)] = callbacks
            try:
                with conn.begin():
                    yield conn
            finally:
                self._after_commit.pop(id(conn), None)
        for callback in callbacks:
            callback()

    def catalog_policy(self) -> CatalogPolicy:
        """The ``[catalog]`` settings every write applies to new names (read once)."""
        policy: CatalogPolicy | None = self.cache.get(CatalogPolicy)
        if policy is None:
            from shipmate.services.catalog.policy import read_catalog_policy

            policy = self.cache[CatalogPolicy] = read_catalog_policy(self.settings)
        return policy

    def after_commit(self, conn: Connection, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the write transaction on ``conn`` has committed."""
        self._after_commit[id(conn)].append(callback)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        self.engine.dispose()


def open_context(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> Context:
    """Connect to the configured database and bring its schema up to date."""
    engine = make_engine(settings.effective_database_url)
    ensure_schema(engine)
    return Context(settings=settings, engine=engine, clock=clock)


def log_failed_pass(logger: logging.Logger, message: str) -> None:
    """For a background loop's ``except Exception``: log the traceback, unless the
    database is unavailable (its engine logged that once, when the outage began; the
    loop simply tries again on its next pass)."""
    if isinstance(sys.exc_info()[1], DatabaseUnavailableError):
        return
    logger.exception(message)
