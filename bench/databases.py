"""Fresh, migrated databases for benchmarks, on SQLite or a throwaway PostgreSQL.

SQLite databases are files in one temporary directory (on the same disk as the
rest of the machine, not tmpfs, so a checkpoint's fsync costs what it costs).
PostgreSQL is one server per benchmark run, started on first use with
``durable=True`` (fsync and synchronous commit on, as in production) and
stopped by :meth:`Databases.close`; each benchmark gets its own database in it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from shipmate.store.engine import make_engine
from shipmate.store.migrate import ensure_schema
from tests.support.postgres import PostgresServer

__all__ = ["Databases"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class Databases:
    """Hands out fresh databases and cleans them all up at the end of a run."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="shipmate-bench-"))
        self._postgres: PostgresServer | None = None
        self._used: set[tuple[str, str]] = set()

    def postgres(self) -> PostgresServer:
        """The run's PostgreSQL server, started on first call.

        Raises :class:`tests.support.postgres.PostgresNotAvailable` when the
        server binaries are missing.
        """
        if self._postgres is None:
            server = PostgresServer(durable=True, max_connections=100)
            try:
                server.start()
            except BaseException:
                server.stop()
                raise
            self._postgres = server
        return self._postgres

    @property
    def postgres_started(self) -> bool:
        return self._postgres is not None

    def fresh(self, backend: str, name: str) -> str:
        """The URL of a new, empty, migrated database called ``name`` on ``backend``."""
        if not _NAME.match(name):
            raise ValueError(f"database name {name!r} must match {_NAME.pattern}")
        if (backend, name) in self._used:
            raise ValueError(f"database {name!r} on {backend} was already handed out")
        self._used.add((backend, name))
        if backend == "sqlite":
            url = f"sqlite:///{self.root / (name + '.db')}"
        elif backend == "postgres":
            url = self.postgres().create_database(name)
        else:
            raise ValueError(f"unknown backend {backend!r} (use sqlite or postgres)")
        engine = make_engine(url)
        try:
            ensure_schema(engine)
        finally:
            engine.dispose()
        return url

    def scratch_dir(self, name: str) -> Path:
        """A new empty directory for files a benchmark needs (a CLI's cwd, ...)."""
        path = self.root / name
        path.mkdir()
        return path

    def close(self) -> None:
        if self._postgres is not None:
            self._postgres.stop()
            self._postgres = None
        shutil.rmtree(self.root, ignore_errors=True)
