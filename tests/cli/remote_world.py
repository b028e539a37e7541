"""A database with a few deployments and a real ``shipmate serve`` on it, shared by the
tests of a module that compare remote mode with local mode (one server per module
and backend: starting one takes seconds on a loaded machine).

Import the ``world`` fixture into the test module (``from tests.cli.remote_world
import world``).  The seed writes through the local CLI, with times far in the past so
that ages print in days and two runs a moment apart print the same.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipmate.cli import main
from shipmate.config import Settings
from shipmate.services.auth.keys import create_key
from shipmate.services.context import open_context
from tests.conftest import _LEAKY_NAMES, _LEAKY_PREFIXES, require_real_part
from tests.support.server import ServerProcess

__all__ = ["SEED", "World", "world"]

#: What the world holds, written in local mode in this order.
SEED: tuple[tuple[str, ...], ...] = (
    ("version", "next", "--product", "api", "--version", "1.4.0", "--no-file"),
    ("version", "next", "--product", "api", "--version", "1.5.0", "--no-file"),
    *(
        (
            "record",
            "--product",
            product,
            "--version",
            version,
            "--env",
            env,
            "--status",
            status,
            "--no-detect",
            "--deployed-by",
            "ci",
            "--commit",
            "0123456789abcdef0123456789abcdef01234567",
            "--started-at",
            f"2026-01-0{day}T10:00:00Z",
            "--completed-at",
            f"2026-01-0{day}T10:02:30Z",
        )
        for day, product, version, env, status in (
            (1, "api", "1.4.0+build.1", "staging", "completed"),
            (2, "api", "1.4.0+build.1", "production", "completed"),
            (3, "api", "1.5.0+build.1", "staging", "completed"),
            (4, "api", "1.5.0+build.1", "production", "failed"),
            (5, "web", "2.0.0", "staging", "completed"),
        )
    ),
)


@dataclass(frozen=True)
class World:
    database_url: str
    server_url: str
    token: str
    #: An empty folder that is not a git checkout, to run commands in.
    work: Path

    def local_env(self) -> dict[str, str]:
        return {"SHIPMATE_DATABASE_URL": self.database_url}

    def remote_env(self) -> dict[str, str]:
        return {
            "SHIPMATE_URL": self.server_url,
            "SHIPMATE_TOKEN": self.token,
            "SHIPMATE_RETRY_SECONDS": "5",
        }


def _database(backend: str, request: pytest.FixtureRequest, folder: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / 'world.db'}"
    server = request.getfixturevalue("pg_server")
    if server is None:
        require_real_part("PostgreSQL", "initdb/pg_ctl not found (apt-get install postgresql)")
    name = f"world_{request.module.__name__.rsplit('.', 1)[-1]}"
    url: str = server.create_database(name)
    return url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("world")
    work = folder / "work"
    work.mkdir()
    url = _database(request.param, request, folder)
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(_LEAKY_PREFIXES) or name in _LEAKY_NAMES:
                mp.delenv(name)
        mp.setenv("SHIPMATE_DATABASE_URL", url)
        mp.setenv("SHIPMATE_DATA_DIR", str(folder / "data"))
        mp.chdir(work)
        for argv in SEED:
            assert main(list(argv)) == 0, argv
        ctx = open_context(Settings(database_url=url))
        try:
            token = create_key(ctx, "ci", "admin").token
        finally:
            ctx.close()
    with ServerProcess(url, log_path=folder / "server.log") as server:
        yield World(database_url=url, server_url=server.base_url, token=token, work=work)
