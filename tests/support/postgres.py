"""A throwaway PostgreSQL server: ``initdb`` + ``pg_ctl`` on a free port in a temp dir.

Used by the test suite and the benchmarks, so both run against a real server
without touching any cluster the machine already has.  PostgreSQL refuses to run
as root; when we are root the cluster is owned by, and run as, the ``postgres``
user (or ``nobody``) through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from shipmate.demo.ports import free_port

__all__ = ["PostgresNotAvailable", "PostgresServer", "find_pg_bin"]


class PostgresNotAvailable(RuntimeError):
    """initdb/pg_ctl are not installed."""


def find_pg_bin() -> Path | None:
    """The directory holding initdb and pg_ctl, newest major version first."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
        reverse=True,
    )
    return Path(candidates[0]).parent if candidates else None


class PostgresServer:
    """Start with :meth:`start`, get :attr:`url`, stop with :meth:`stop`.

    ``durable=False`` (tests) turns off fsync and synchronous commit; benchmarks
    pass ``durable=True`` so the figures mean something.
    """

    def __init__(self, *, durable: bool = False, max_connections: int = 200) -> None:
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise PostgresNotAvailable(
                "PostgreSQL server binaries (initdb, pg_ctl) were not found; "
                "install Debian's postgresql package"
            )
        self.bin_dir = bin_dir
        self.durable = durable
        self.max_connections = max_connections
        self.port = 0
        self.root = Path(tempfile.mkdtemp(prefix="shipmate-pg-"))
        self._runas: list[str] = []
        if os.geteuid() == 0:
            user = "postgres"
            try:
                pw = pwd.getpwnam(user)
            except KeyError:
                user, pw = "nobody", pwd.getpwnam("nobody")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._runas = ["runuser", "-u", user, "--"]

    @property
    def url(self) -> str:
        return f"postgresql://shipmate@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql://shipmate@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [*self._runas, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}\n{result.stderr}")

    def start(self) -> PostgresServer:
        data = self.root / "data"
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "shipmate",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            *([] if self.durable else ["--no-sync"]),
        )
        for _attempt in range(5):
            self.port = free_port()
            try:
                self._pg_ctl_start()
                return self
            except RuntimeError:
                continue
        log = (self.root / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PostgreSQL did not start:\n{log}")

    def _pg_ctl_start(self) -> None:
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.root}",
            f"-c max_connections={self.max_connections}",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "server.log"),
            "-o",
            " ".join([f"-p {self.port}", *options]),
            "-w",
            "-t",
            "60",
            "start",
        )

    def halt(self, mode: str = "fast") -> None:
        """Stop the cluster but keep it: :meth:`resume` starts the same data on the same
        port.  ``fast`` (a restart's shutdown) ends every client's connection and
        checkpoints; ``immediate`` is a crash."""
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "-m", mode, "-w", "stop"
        )

    def resume(self) -> None:
        """Start the cluster :meth:`halt` stopped, on the same port (it was this
        process's to use: :func:`free_port` never hands it out twice)."""
        self._pg_ctl_start()

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            self.url.replace("postgresql://", "postgresql://"), autocommit=True
        ) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def stop(self) -> None:
        data = self.root / "data"
        if data.exists():
            subprocess.run(
                [
                    *self._runas,
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-m",
                    "immediate",
                    "stop",
                ],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
