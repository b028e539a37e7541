"""Several deploy hosts on one machine: a private nginx per loopback address, and a hammer.

Host *i* (from 1) plays ``web-<i>`` at ``127.0.0.<i+1>``: its own real nginx listens
on that address, it has its own data folder (state dir ``<data_dir>/deploy``, where the
``process`` target keeps its slots), its own project folder holding ``shipmate.toml``
and its own pair of slot ports for the sample app (``shipmate.demo.app``, which
answers ``/version``).  The apps listen on 127.0.0.1 behind their host's nginx; the
port pairs never overlap, so no host can reach another host's slots.

::

    def test_something(fleet: Fleet) -> None:
        for host in fleet:
            host.write_config()                       # shipmate.toml with deploy_table()
            assert host.cli("deploy", ...).returncode == 0
        with Hammer(fleet) as hammer:
            ...                                        # deploy again
        assert hammer.failures() == {h.name: [] for h in fleet}
        assert hammer.versions_seen()["web-1"][-1] == "2.0.0"

The ``fleet`` fixture is parametrized over the test's ``backend``: on SQLite every host
gets its own database file (local mode, one shipmate per host), on PostgreSQL all
hosts share one database (so two hosts deploying the same environment at the same
time meet the environment's run lock, as local runs always have).  Agents tests use
the hosts' folders and nginx and ignore ``database_url``.  Teardown stops every
slot and every nginx.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shipmate.config import Settings
from shipmate.demo.deploytable import demoapp_deploy_table, served_version, toml_table
from shipmate.demo.nginx import free_port
from shipmate.engine.targets.process import port_in_use
from shipmate.services.deploys.config import build_parts, load_product_deploy
from tests.engine.nginxctl import NginxServer

__all__ = ["Fleet", "FleetHost", "Hammer", "fleet", "make_fleet"]

_ROOT = str(Path(__file__).resolve().parents[2])
#: Reload closes the idle connections an old nginx worker holds; a fresh connection
#: that loses that race is nginx's own and counted apart (``Hammer.closed``).
_CLOSED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass
class FleetHost:
    """One deploy host: its address, nginx, folders and slot ports."""

    name: str
    address: str
    root: Path
    nginx: NginxServer
    database_url: str
    product: str = "api"
    blue: int = field(default_factory=free_port)
    green: int = field(default_factory=free_port)

    @property
    def nginx_url(self) -> str:
        return self.nginx.url

    @property
    def data_dir(self) -> Path:
        path = self.root / "data"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def project(self) -> Path:
        path = self.root / "project"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def config_path(self) -> Path:
        return self.project / "shipmate.toml"

    def deploy_table(self, **overrides: Any) -> dict[str, Any]:
        """The product's ``[deploy]`` table on this host (process target, nginx switch)."""
        overrides.setdefault("keep_warm", 0.5)
        return demoapp_deploy_table(
            self.nginx, blue_port=self.blue, green_port=self.green, **overrides
        )

    def write_config(self, table: Mapping[str, Any] | None = None) -> Path:
        """Write ``shipmate.toml`` with ``[products.<product>.deploy]``; returns its path."""
        text = toml_table(f"products.{self.product}.deploy", table or self.deploy_table())
        self.config_path.write_text(text, encoding="utf-8")
        return self.config_path

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a ``shipmate`` command run as this host (local mode)."""
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SHIPMATE_", "GITHUB_", "CI"))
        }
        env.update(
            {
                "SHIPMATE_DATABASE_URL": self.database_url,
                "SHIPMATE_DATA_DIR": str(self.data_dir),
                "SHIPMATE_CONFIG": str(self.config_path),
                "PYTHONPATH": _ROOT,
                "NO_COLOR": "1",
            }
        )
        env.update(extra or {})
        return env

    def popen(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        """``shipmate <args>`` as this host, in the background (stdout and stderr together)."""
        return subprocess.Popen(
            [sys.executable, "-m", "shipmate", *args],
            cwd=self.project,
            env=self.env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def cli(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shipmate", *args],
            cwd=self.project,
            env=self.env(env),
            input="",
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def served(self) -> str | None:
        """The full version this host's nginx answers with (None: no 200)."""
        return served_version(self.nginx)

    def running(self, slot: str) -> bool:
        return port_in_use(self.blue if slot == "blue" else self.green)

    def stop(self) -> None:
        """Stop both slots (whatever config is on disk) and nginx."""
        try:
            settings = Settings(
                database_url=self.database_url,
                data_dir=str(self.data_dir),
                sections={"products": {self.product: {"deploy": self.deploy_table()}}},
            )
            target = build_parts(load_product_deploy(settings, self.product)).target
            for slot in ("blue", "green"):
                target.stop(slot)
        finally:
            self.nginx.stop()


@dataclass
class Fleet:
    hosts: list[FleetHost]

    def __iter__(self) -> Iterator[FleetHost]:
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def __getitem__(self, name: str | int) -> FleetHost:
        if isinstance(name, int):
            return self.hosts[name]
        return next(h for h in self.hosts if h.name == name)

    def close(self) -> None:
        errors: list[BaseException] = []
        for host in self.hosts:
            try:
                host.stop()
            except Exception as exc:  # stop the others anyway
                errors.append(exc)
        if errors:
            raise errors[0]


def make_fleet(root: Path, database_urls: Iterable[str], *, product: str = "api") -> Fleet:
    """One started host per database URL (pass the same URL N times to share one)."""
    hosts: list[FleetHost] = []
    fleet_ = Fleet(hosts)
    try:
        for index, url in enumerate(database_urls, start=1):
            address = f"127.0.0.{index + 1}"
            folder = root / f"web-{index}"
            nginx = NginxServer(folder, address=address)
            nginx.start()
            hosts.append(FleetHost(f"web-{index}", address, folder, nginx, url, product))
    except BaseException:
        fleet_.close()
        raise
    return fleet_


@pytest.fixture
def fleet(
    backend: str,
    tmp_path: Path,
    sqlite_template: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Fleet]:
    """Three hosts (``web-1``..``web-3`` on 127.0.0.2..4); see the module docstring."""
    count = 3
    if backend == "sqlite":
        urls = []
        for index in range(1, count + 1):
            path = tmp_path / f"web-{index}.db"
            shutil.copyfile(sqlite_template, path)
            urls.append(f"sqlite:///{path}")
    else:
        urls = [request.getfixturevalue("pg_url")] * count
    result = make_fleet(tmp_path / "fleet", urls)
    try:
        yield result
    finally:
        result.close()


class Hammer:
    """Threads asking each host's nginx ``/version`` on a fresh connection, until the block ends.

    Per host: ``failures()`` (every answer that is not a 200 with a version, every
    error other than nginx closing a connection on reload), ``versions_seen()`` (the
    versions that answered, in order, each change once), ``answers()`` (how many
    times each version answered) and ``closed`` (connections closed unanswered).
    """

    def __init__(self, hosts: Iterable[FleetHost], *, threads_per_host: int = 2) -> None:
        self.hosts = list(hosts)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._failures: dict[str, list[str]] = {h.name: [] for h in self.hosts}
        self._seen: dict[str, list[str]] = {h.name: [] for h in self.hosts}
        self._answers: dict[str, Counter[str]] = {h.name: Counter() for h in self.hosts}
        self.closed: dict[str, int] = {h.name: 0 for h in self.hosts}
        self._threads = [
            threading.Thread(target=self._hammer, args=(h,), daemon=True)
            for h in self.hosts
            for _ in range(threads_per_host)
        ]

    def __enter__(self) -> Hammer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def failures(self) -> dict[str, list[str]]:
        with self._lock:
            return {name: list(items) for name, items in self._failures.items()}

    def versions_seen(self) -> dict[str, list[str]]:
        with self._lock:
            return {name: list(items) for name, items in self._seen.items()}

    def answers(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {name: dict(counts) for name, counts in self._answers.items()}

    def _hammer(self, host: FleetHost) -> None:
        while not self._stop.is_set():
            conn = http.client.HTTPConnection(host.address, host.nginx.port, timeout=10)
            try:
                conn.request("GET", "/version", headers={"Connection": "close"})
                response = conn.getresponse()
                self._answer(host.name, response.status, response.read().decode())
            except _CLOSED:
                with self._lock:
                    self.closed[host.name] += 1
            except (OSError, http.client.HTTPException) as exc:
                self._fail(host.name, f"{type(exc).__name__}: {exc}")
            finally:
                conn.close()

    def _fail(self, name: str, what: str) -> None:
        with self._lock:
            self._failures[name].append(what)

    def _answer(self, name: str, status: int, body: str) -> None:
        if status != 200:
            self._fail(name, f"HTTP {status}: {body[:100]}")
            return
        try:
            version = str(json.loads(body)["full_version"])
        except (ValueError, KeyError, TypeError):
            self._fail(name, f"HTTP 200 without a version: {body[:100]}")
            return
        with self._lock:
            self._answers[name][version] += 1
            seen = self._seen[name]
            if not seen or seen[-1] != version:
                seen.append(version)
