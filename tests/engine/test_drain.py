"""Drain checks against a real DBOS app, real SQLite / PostgreSQL and a loopback HTTP server.

The DBOS app (``dbos_app.py`` beside this file) runs as its own process per version,
exactly as a slot would run it.  PostgreSQL tests take a server URL from
``SHIPMATE_TEST_PG_URL``; without it they skip, and fail when ``CI=true``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shipmate.engine.drain.config import DrainConfig, make_drain_check, parse_drain_config
from shipmate.engine.drain.dbos import (
    ACTIVE_STATUSES,
    DbosDrainCheck,
    connect_postgres_readonly,
    connect_sqlite_readonly,
)
from shipmate.engine.drain.grace import GraceDrainCheck
from shipmate.engine.drain.http_count import HttpDrainCheck
from shipmate.engine.drain.waiting import DrainCheck, ScriptedDrainCheck, wait_drained
from shipmate.errors import ConfigError, DeployError, InvalidInputError
from tests.conftest import require_real_part

APP = Path(__file__).with_name("dbos_app.py")
APP_NAME = "shipmate-sample"
STARTUP_TIMEOUT = 25.0


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_json(method: str, url: str) -> Any:
    request = urllib.request.Request(url, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return json.loads(response.read())


@dataclass
class SampleApp:
    process: subprocess.Popen[bytes]
    port: int
    version: str
    log: Path
    started: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, seconds: float, step: float = 0.5) -> str:
        body = http_json("POST", self.url(f"/start?seconds={seconds}&step={step}"))
        self.started.append(body["workflow_id"])
        return str(body["workflow_id"])

    def enqueue(self, seconds: float, **options: Any) -> str:
        query = "&".join(f"{k}={v}" for k, v in options.items())
        body = http_json("POST", self.url(f"/enqueue?seconds={seconds}&{query}"))
        return str(body["workflow_id"])

    def workflow(self, workflow_id: str) -> dict[str, Any]:
        result: dict[str, Any] = http_json("GET", self.url(f"/workflows/{workflow_id}"))
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


Launch = Callable[..., SampleApp]


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Start the sample DBOS app as a process: ``launch(system_db_url, version, **env)``."""
    apps: list[SampleApp] = []

    def _launch(url: str, version: str, **extra_env: str) -> SampleApp:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("DBOS")}
        env.update(
            DBOS_SYSTEM_DATABASE_URL=url,
            DBOS__APPVERSION=version,
            PORT=str(port),
            **extra_env,
        )
        log = tmp_path / f"app-{version}-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, str(APP)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        app = SampleApp(process, port, version, log)
        apps.append(app)
        limit = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"sample app exited with {process.returncode}:\n{app.log_text()}")
            try:
                health = http_json("GET", app.url("/healthz"))
                break
            except OSError:
                if time.monotonic() > limit:
                    pytest.fail(f"sample app did not answer /healthz:\n{app.log_text()}")
                time.sleep(0.1)
        assert health["version"] == version
        return app

    yield _launch
    for app in apps:
        app.stop()


def sqlite_rows(path: Path) -> list[tuple[str, str, str]]:
    """Ground truth: (workflow id, status, version) of every workflow, read directly."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as connection:
        rows = connection.execute(
            "SELECT workflow_uuid, status, application_version FROM workflow_status"
        ).fetchall()
    connection.close()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    limit = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > limit:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@dataclass
class Progress:
    readings: list[tuple[int | None, float, DeployError | None]] = field(default_factory=list)

    def __call__(self, pending: int | None, elapsed: float, error: DeployError | None) -> None:
        self.readings.append((pending, elapsed, error))

    @property
    def counts(self) -> list[int | None]:
        return [p for p, _, _ in self.readings]

    @property
    def errors(self) -> list[DeployError]:
        return [e for _, _, e in self.readings if e is not None]


# --------------------------------------------------------------------------- dbos on SQLite


@pytest.mark.slow
def test_sqlite_counts_each_version_separately_and_deadline_reports_count(
    tmp_path: Path, launch: Launch
) -> None:
    db = tmp_path / "dbos.sqlite"
    url = f"sqlite:///{db}"
    v1 = launch(url, "1.0.0+build.1")
    # Long workflows: they stay PENDING for the whole test, so counts are exact.
    for _ in range(3):
        v1.start(60)
    v2 = launch(url, "1.1.0+build.2")
    new_ids = [v2.start(60), v2.start(60)]

    check = DbosDrainCheck(url, app_name=APP_NAME)
    assert check.pending("1.0.0+build.1") == 3
    assert check.pending("1.1.0+build.2") == 2
    assert check.pending_by_status("1.1.0+build.2") == {"PENDING": 2}
    assert check.pending("0.9.0") == 0
    # New work landed on v2, tagged with its full version.
    assert {v2.workflow(i)["version"] for i in new_ids} == {"1.1.0+build.2"}
    assert check.columns is not None and "application_name" in check.columns
    # Rows are claimed by the sample app: another app's name counts none of them.
    assert DbosDrainCheck(url, app_name="another-app").pending("1.0.0+build.1") == 0
    # Without an app name every row of the version counts.
    assert DbosDrainCheck(url).pending("1.0.0+build.1") == 3

    progress = Progress()
    result = wait_drained(check, "1.0.0+build.1", interval=0.2, deadline=1.0, on_progress=progress)
    assert result.drained is False
    assert result.last_pending == 3
    assert result.readings == len(progress.readings) >= 2
    assert result.elapsed_seconds >= 1.0
    assert set(progress.counts) == {3}


@pytest.mark.slow
def test_sqlite_counts_enqueued_and_delayed_workflows(tmp_path: Path, launch: Launch) -> None:
    db = tmp_path / "dbos.sqlite"
    url = f"sqlite:///{db}"
    v2 = launch(url, "v2")
    # Pinned to v1: only a v1 executor dequeues it, so it waits ENQUEUED (dbos.md E3).
    pinned = v2.enqueue(1, app_version="v1")
    delayed = v2.enqueue(1, delay=60)
    wait_for(lambda: v2.workflow(pinned)["status"] == "ENQUEUED", 10, "the pinned enqueue")
    wait_for(lambda: v2.workflow(delayed)["status"] == "DELAYED", 10, "the delayed enqueue")

    check = DbosDrainCheck(url)
    assert check.pending_by_status("v1") == {"ENQUEUED": 1}
    assert check.pending_by_status("v2") == {"DELAYED": 1}
    assert check.pending("v1") == 1
    assert set(ACTIVE_STATUSES) == {"PENDING", "ENQUEUED", "DELAYED"}


@pytest.mark.slow
@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_sqlite_drains_while_app_keeps_writing(
    tmp_path: Path, launch: Launch, journal: str
) -> None:
    db = tmp_path / "dbos.sqlite"
    url = f"sqlite:///{db}"
    extra = {"SAMPLE_SQLITE_WAL": "1"} if journal == "wal" else {}
    v1 = launch(url, "v1", **extra)
    # Many short steps: the app writes a checkpoint every 0.1 s per workflow.
    ids = [v1.start(4, step=0.1) for _ in range(6)]
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as probe:
        mode = probe.execute("PRAGMA journal_mode").fetchone()[0]
    probe.close()
    assert mode == journal

    check = DbosDrainCheck(url, app_name=APP_NAME)
    assert check.pending("v1") > 0

    # A second reader hammers the file in a tight loop while wait_drained polls.
    stop = threading.Event()
    hammer_errors: list[BaseException] = []
    hammer_reads = 0

    def hammer() -> None:
        nonlocal hammer_reads
        other = DbosDrainCheck(url, app_name=APP_NAME)
        while not stop.is_set():
            try:
                other.pending("v1")
                hammer_reads += 1
            except BaseException as exc:
                hammer_errors.append(exc)

    thread = threading.Thread(target=hammer)
    thread.start()
    progress = Progress()
    try:
        result = wait_drained(
            check, "v1", consecutive_zeros=3, interval=0.05, deadline=25, on_progress=progress
        )
    finally:
        stop.set()
        thread.join(timeout=10)

    assert result.drained is True
    assert result.last_pending == 0
    assert progress.counts[0] is not None and progress.counts[0] > 0
    assert progress.counts[-3:] == [0, 0, 0]
    assert progress.errors == []
    assert hammer_errors == []
    assert hammer_reads > 0
    # Every workflow completed, and the app never saw a locked database.
    statuses = {wid: status for wid, status, _ in sqlite_rows(db)}
    assert [statuses[i] for i in ids] == ["SUCCESS"] * 6
    log = v1.log_text()
    assert "database is locked" not in log
    assert "Traceback" not in log


@pytest.mark.slow
@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_sqlite_reader_never_writes(tmp_path: Path, launch: Launch, journal: str) -> None:
    db = tmp_path / "dbos.sqlite"
    url = f"sqlite:///{db}"
    v1 = launch(url, "v1", **({"SAMPLE_SQLITE_WAL": "1"} if journal == "wal" else {}))
    done = v1.start(0.2, step=0.1)
    stranded = v1.start(60)
    wait_for(lambda: v1.workflow(done)["status"] == "SUCCESS", 15, "the short workflow")
    v1.stop()
    assert stranded in {wid for wid, status, _ in sqlite_rows(db) if status == "PENDING"}

    def side_files() -> dict[str, int]:
        return {p.name: p.stat().st_size for p in tmp_path.iterdir() if "sqlite-" in p.name}

    before_side = side_files()
    before_hash = hashlib.sha256(db.read_bytes()).hexdigest()
    before_mtime = db.stat().st_mtime_ns
    check = DbosDrainCheck(url, app_name=APP_NAME)
    for _ in range(20):
        assert check.pending("v1") == 1
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before_hash
    assert db.stat().st_mtime_ns == before_mtime
    if journal == "delete":
        assert side_files() == before_side == {}  # no -journal left behind
    else:
        # SQLite itself opens the -wal/-shm side files of a WAL database, even for a
        # read-only connection; nothing is ever appended to the log.
        assert side_files().get("dbos.sqlite-wal", 0) == 0

    # The same kind of connection the check opens refuses writes.
    connection = connect_sqlite_readonly(db)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            connection.execute("DELETE FROM workflow_status")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            connection.execute("CREATE TABLE intruder (x)")
        # Not only query_only: the file itself is open read-only (mode=ro).
        connection.execute("PRAGMA query_only = OFF")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            connection.execute("DELETE FROM workflow_status")
    finally:
        connection.close()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before_hash
    assert check.pending("v1") == 1


# --------------------------------------------------------------------------- dbos, crafted schemas

#: ``workflow_status`` as dbos 2.29 created it: no application_name column.
OLD_WORKFLOW_STATUS = """
CREATE TABLE workflow_status (
    workflow_uuid TEXT PRIMARY KEY,
    status TEXT,
    name TEXT,
    authenticated_user TEXT,
    assumed_role TEXT,
    authenticated_roles TEXT,
    output TEXT,
    error TEXT,
    executor_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    application_version TEXT,
    application_id TEXT,
    class_name TEXT,
    config_name TEXT,
    recovery_attempts BIGINT DEFAULT 0,
    queue_name TEXT,
    workflow_timeout_ms BIGINT,
    workflow_deadline_epoch_ms BIGINT,
    started_at_epoch_ms BIGINT,
    deduplication_id TEXT,
    inputs TEXT,
    priority INTEGER NOT NULL DEFAULT 0
)
"""

OLD_ROWS = [
    ("a", "PENDING", "v1"),
    ("b", "ENQUEUED", "v1"),
    ("c", "SUCCESS", "v1"),
    ("d", "ERROR", "v1"),
    ("e", "PENDING", "v2"),
    ("f", "CANCELLED", "v1"),
]


def make_sqlite(path: Path, ddl: str, rows: list[tuple[Any, ...]], insert: str) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute(ddl)
        if rows:
            connection.executemany(insert, rows)
    connection.close()


def test_sqlite_reader_handles_a_table_without_application_name(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    make_sqlite(
        db,
        OLD_WORKFLOW_STATUS,
        OLD_ROWS,
        "INSERT INTO workflow_status (workflow_uuid, status, application_version, "
        "created_at, updated_at) VALUES (?, ?, ?, 0, 0)",
    )
    check = DbosDrainCheck(f"sqlite:///{db}", app_name="whatever")
    assert check.pending_by_status("v1") == {"PENDING": 1, "ENQUEUED": 1}
    assert check.pending("v2") == 1
    assert check.columns is not None and "application_name" not in check.columns


def test_sqlite_reader_filters_on_application_name_when_present(tmp_path: Path) -> None:
    db = tmp_path / "named.sqlite"
    make_sqlite(
        db,
        "CREATE TABLE workflow_status (workflow_uuid TEXT PRIMARY KEY, status TEXT, "
        "application_version TEXT, application_name TEXT)",
        [
            ("a", "PENDING", "v1", "shop"),
            ("b", "DELAYED", "v1", None),
            ("c", "PENDING", "v1", "billing"),
            ("d", "SUCCESS", "v1", "shop"),
        ],
        "INSERT INTO workflow_status VALUES (?, ?, ?, ?)",
    )
    url = f"sqlite:///{db}"
    assert DbosDrainCheck(url, app_name="shop").pending_by_status("v1") == {
        "PENDING": 1,
        "DELAYED": 1,
    }
    assert DbosDrainCheck(url, app_name="billing").pending("v1") == 2
    assert DbosDrainCheck(url).pending("v1") == 3


def test_sqlite_columns_are_detected_once_per_check(tmp_path: Path) -> None:
    db = tmp_path / "grow.sqlite"
    make_sqlite(
        db,
        "CREATE TABLE workflow_status (workflow_uuid TEXT, status TEXT, application_version TEXT)",
        [("a", "PENDING", "v1")],
        "INSERT INTO workflow_status VALUES (?, ?, ?)",
    )
    check = DbosDrainCheck(f"sqlite:///{db}", app_name="shop")
    assert check.pending("v1") == 1
    with sqlite3.connect(db) as connection:  # the app upgrades DBOS underneath
        connection.execute("ALTER TABLE workflow_status ADD COLUMN application_name TEXT")
        connection.execute("INSERT INTO workflow_status VALUES ('b', 'PENDING', 'v1', 'other')")
    connection.close()
    assert check.columns == frozenset({"workflow_uuid", "status", "application_version"})
    assert check.pending("v1") == 2  # cached shape: no name filter yet
    assert DbosDrainCheck(f"sqlite:///{db}", app_name="shop").pending("v1") == 1


def test_sqlite_read_errors_are_deploy_errors(tmp_path: Path) -> None:
    missing = DbosDrainCheck(f"sqlite:///{tmp_path / 'nope.sqlite'}")
    with pytest.raises(DeployError, match=r"nope\.sqlite does not exist") as info:
        missing.pending("v1")
    assert info.value.field == "system_database_url"
    assert not (tmp_path / "nope.sqlite").exists()

    other = tmp_path / "other.sqlite"
    make_sqlite(other, "CREATE TABLE t (x)", [], "INSERT INTO t VALUES (?)")
    with pytest.raises(DeployError, match="has no table workflow_status"):
        DbosDrainCheck(f"sqlite:///{other}").pending("v1")

    odd = tmp_path / "odd.sqlite"
    make_sqlite(odd, "CREATE TABLE workflow_status (status TEXT)", [], "SELECT ?")
    with pytest.raises(DeployError, match=r"lacks column.*application_version"):
        DbosDrainCheck(f"sqlite:///{odd}").pending("v1")

    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DeployError, match="cannot be read"):
        DbosDrainCheck(f"sqlite:///{garbage}").pending("v1")

    with pytest.raises(InvalidInputError) as bad_version:
        DbosDrainCheck(f"sqlite:///{other}").pending("")
    assert bad_version.value.field == "version"


def test_sqlite_reader_gives_up_on_a_locked_file_within_its_timeout(tmp_path: Path) -> None:
    db = tmp_path / "locked.sqlite"
    make_sqlite(
        db,
        "CREATE TABLE workflow_status (status TEXT, application_version TEXT)",
        [("PENDING", "v1")],
        "INSERT INTO workflow_status VALUES (?, ?)",
    )
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        with pytest.raises(DeployError, match="locked"):
            DbosDrainCheck(f"sqlite:///{db}", statement_timeout_ms=200).pending("v1")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert DbosDrainCheck(f"sqlite:///{db}").pending("v1") == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "non-empty"),
        ("mysql://host/db", "sqlite:/// or postgresql://"),
        ("/var/lib/app.sqlite", "sqlite:/// or postgresql://"),
        ("sqlite:///relative/app.sqlite", "absolute SQLite path"),
        ("sqlite://host/app.sqlite", "no host"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite://", "no host"),
    ],
)
def test_dbos_check_refuses_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        DbosDrainCheck(url)
    assert info.value.field == "system_database_url"


def test_dbos_check_refuses_bad_options(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"schema": ""}, "schema"),
        ({"app_name": ""}, "app_name"),
        ({"statement_timeout_ms": 0}, "statement_timeout_ms"),
        ({"statement_timeout_ms": True}, "statement_timeout_ms"),
    ]
    for kwargs, name in cases:
        with pytest.raises(ConfigError) as info:
            DbosDrainCheck(url, **kwargs)
        assert info.value.field == name


def test_dbos_describe_hides_passwords(tmp_path: Path) -> None:
    pg = DbosDrainCheck(
        "postgresql+psycopg://app:s3cret@db.internal:5432/app", schema="dbos_x", app_name="shop"
    )
    text = pg.describe()
    assert "s3cret" not in text
    assert "app:***@db.internal:5432" in text
    assert "dbos_x" in text and "shop" in text
    lite = DbosDrainCheck(f"sqlite:///{tmp_path / 'a.sqlite'}")
    assert str(tmp_path / "a.sqlite") in lite.describe()


# --------------------------------------------------------------------------- PostgreSQL


# Read at import: the suite's autouse fixture clears SHIPMATE_* and CI for each test.
PG_URL_FROM_ENV = os.environ.get("SHIPMATE_TEST_PG_URL") or None
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def dbos_pg_url(request: pytest.FixtureRequest) -> str:
    """A PostgreSQL server for DBOS system databases.

    ``SHIPMATE_TEST_PG_URL`` when set; otherwise the suite's throwaway server
    (``pg_server`` in ``tests/conftest.py``), its ``postgres`` database.  Each test
    works in its own schema (:func:`pg_schema`).  Missing: skip, or fail in CI.
    """
    if PG_URL_FROM_ENV:
        return PG_URL_FROM_ENV
    server: Any = None
    try:
        server = request.getfixturevalue("pg_server")
    except pytest.FixtureLookupError:
        server = None
    if server is not None:
        return str(server.url_for("postgres"))
    require_real_part("PostgreSQL", "SHIPMATE_TEST_PG_URL is not set and initdb was not found")
    raise AssertionError("unreachable")


@pytest.fixture
def pg_schema(dbos_pg_url: str) -> Iterator[str]:
    """A schema name unique to the test, dropped afterwards (after the apps stop)."""
    import psycopg
    from psycopg import sql

    name = f"shipmate_drain_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(dbos_pg_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.mark.slow
def test_postgres_counts_and_drains_a_real_dbos_app(
    dbos_pg_url: str, pg_schema: str, launch: Launch
) -> None:
    v1 = launch(dbos_pg_url, "v1", DBOS_SYSTEM_SCHEMA=pg_schema)
    ids = [v1.start(3, step=0.2) for _ in range(3)]
    check = DbosDrainCheck(dbos_pg_url, schema=pg_schema, app_name=APP_NAME)
    assert check.pending("v1") > 0

    v2 = launch(dbos_pg_url, "v2", DBOS_SYSTEM_SCHEMA=pg_schema)
    long_ids = [v2.start(60), v2.start(60)]
    assert check.pending("v2") == 2
    assert {v2.workflow(i)["version"] for i in long_ids} == {"v2"}
    assert check.columns is not None and "application_name" in check.columns

    progress = Progress()
    result = wait_drained(
        check, "v1", consecutive_zeros=3, interval=0.1, deadline=25, on_progress=progress
    )
    assert result.drained is True
    assert progress.counts[-3:] == [0, 0, 0]
    assert progress.errors == []
    assert [v1.workflow(i)["status"] for i in ids] == ["SUCCESS"] * 3
    assert check.pending("v2") == 2  # v1's drain did not touch v2's count
    assert DbosDrainCheck(dbos_pg_url, schema=pg_schema, app_name="another").pending("v2") == 0
    # The default schema "dbos" is not where this app's tables are.
    with pytest.raises(DeployError, match="no table workflow_status"):
        DbosDrainCheck(dbos_pg_url, schema="shipmate_no_such_schema").pending("v2")

    late = wait_drained(check, "v2", interval=0.2, deadline=0.6)
    assert (late.drained, late.last_pending) == (False, 2)


def test_postgres_old_schema_quoting_and_read_only(dbos_pg_url: str, pg_schema: str) -> None:
    import psycopg
    from psycopg import sql

    weird = f'{pg_schema} "Old" Schema'
    with psycopg.connect(dbos_pg_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(weird)))
        admin.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(weird)))
        admin.execute(OLD_WORKFLOW_STATUS)
        admin.cursor().executemany(
            "INSERT INTO workflow_status (workflow_uuid, status, application_version, "
            "created_at, updated_at) VALUES (%s, %s, %s, 0, 0)",
            OLD_ROWS,
        )
    try:
        check = DbosDrainCheck(dbos_pg_url, schema=weird, app_name="whatever")
        assert check.pending_by_status("v1") == {"PENDING": 1, "ENQUEUED": 1}
        assert check.pending("v2") == 1
        assert check.columns is not None and "application_name" not in check.columns

        connection = connect_postgres_readonly(dbos_pg_url, timeout_ms=1500)
        try:
            assert connection.execute("SHOW statement_timeout").fetchone() == ("1500ms",)
            assert connection.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
            table = sql.Identifier(weird, "workflow_status")
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                connection.execute(
                    sql.SQL("DELETE FROM {}").format(table),
                )
        finally:
            connection.close()
        assert check.pending("v1") == 2

        # A writer holding the table: the reading stops at its statement timeout.
        with psycopg.connect(dbos_pg_url) as locker:
            locker.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(table))
            slow = DbosDrainCheck(dbos_pg_url, schema=weird, statement_timeout_ms=300)
            with pytest.raises(DeployError, match="longer than 300 ms"):
                slow.pending("v1")
            locker.rollback()
    finally:
        with psycopg.connect(dbos_pg_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(weird)))


def test_postgres_unreachable_is_a_deploy_error() -> None:
    port = free_port()  # nothing listens there
    check = DbosDrainCheck(f"postgresql://nobody:pw@127.0.0.1:{port}/db", statement_timeout_ms=500)
    with pytest.raises(DeployError, match="cannot be reached") as info:
        check.pending("v1")
    assert "pw@" not in str(info.value)


# --------------------------------------------------------------------------- http


class CountServer:
    """A loopback server answering every GET with a configurable status and body."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b"0"
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.paths.append(self.path)
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def count_server() -> Iterator[CountServer]:
    server = CountServer()
    yield server
    server.close()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"3", 3),
        (b" 0\n", 0),
        (b'{"pending": 2}', 2),
        (b'{"in_flight": 7, "other": 1}', 7),
        (b"12", 12),
    ],
)
def test_http_check_reads_counts(count_server: CountServer, body: bytes, expected: int) -> None:
    count_server.body = body
    check = HttpDrainCheck(f"http://127.0.0.1:{count_server.port}/drain?version={{version}}")
    assert check.pending("1.4.0+build.7") == expected
    assert count_server.paths == ["/drain?version=1.4.0%2Bbuild.7"]


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (200, b"many", "neither an integer nor JSON"),
        (200, b'{"count": 1}', 'no "pending" or "in_flight"'),
        (200, b'{"pending": "2"}', "not an integer"),
        (200, b'{"pending": true}', "not an integer"),
        (200, b"1.5", "not an integer"),
        (200, b"-1", "negative"),
        (500, b"3", "HTTP 500"),
        (404, b"", "HTTP 404"),
    ],
)
def test_http_check_bad_answers_are_deploy_errors(
    count_server: CountServer, status: int, body: bytes, message: str
) -> None:
    count_server.status = status
    count_server.body = body
    check = HttpDrainCheck(f"http://127.0.0.1:{count_server.port}/inflight")
    with pytest.raises(DeployError, match=message) as info:
        check.pending("v1")
    assert info.value.field == "url"


def test_http_check_unreachable_is_a_deploy_error() -> None:
    check = HttpDrainCheck(f"http://127.0.0.1:{free_port()}/inflight", timeout=2)
    with pytest.raises(DeployError, match="cannot be read"):
        check.pending("v1")


def test_http_check_with_wait_drained(count_server: CountServer) -> None:
    count_server.body = b'{"pending": 0}'
    check = HttpDrainCheck(f"http://127.0.0.1:{count_server.port}/inflight")
    result = wait_drained(check, "v1", consecutive_zeros=2, interval=0.01, deadline=10)
    assert (result.drained, result.readings) == (True, 2)


@pytest.mark.parametrize("url", ["", "ftp://host/x", "127.0.0.1:8000/x", "http:///x"])
def test_http_check_refuses_bad_urls(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        HttpDrainCheck(url)
    assert info.value.field == "url"


# --------------------------------------------------------------------------- grace


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_grace_check_counts_down_per_version() -> None:
    clock = FakeClock()
    check = GraceDrainCheck(30, monotonic=clock.monotonic)
    assert check.pending("v1") == 1
    clock.now += 29.5
    assert check.pending("v1") == 1
    assert check.pending("v2") == 1  # v2's period starts now
    clock.now += 0.5
    assert check.pending("v1") == 0
    assert check.pending("v2") == 1
    clock.now += 30
    assert check.pending("v2") == 0
    assert "30 s" in check.describe()
    assert GraceDrainCheck(0, monotonic=clock.monotonic).pending("v1") == 0


def test_grace_check_with_wait_drained() -> None:
    clock = FakeClock()
    check = GraceDrainCheck(10, monotonic=clock.monotonic)
    result = wait_drained(
        check,
        "v1",
        consecutive_zeros=1,
        interval=2,
        deadline=60,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    assert result == type(result)(True, 0, 10.0, 6)


@pytest.mark.parametrize("seconds", [-1, float("nan"), "10", True])
def test_grace_check_refuses_bad_seconds(seconds: Any) -> None:
    with pytest.raises(ConfigError) as info:
        GraceDrainCheck(seconds)
    assert info.value.field == "seconds"


# --------------------------------------------------------------------------- wait_drained


def run_wait(
    readings: list[int | DeployError], **kwargs: Any
) -> tuple[Any, Progress, FakeClock, ScriptedDrainCheck]:
    clock = FakeClock()
    check = ScriptedDrainCheck(readings)
    progress = Progress()
    result = wait_drained(
        check, "v1", on_progress=progress, sleep=clock.sleep, monotonic=clock.monotonic, **kwargs
    )
    return result, progress, clock, check


def test_wait_needs_consecutive_zeros() -> None:
    result, progress, _, check = run_wait([2, 1, 0, 0, 1, 0, 0, 0], interval=2, deadline=100)
    assert result.drained is True
    assert result.readings == 8
    assert result.elapsed_seconds == 14.0
    assert progress.counts == [2, 1, 0, 0, 1, 0, 0, 0]
    assert [e for _, e, _ in progress.readings] == [0, 2, 4, 6, 8, 10, 12, 14]
    assert check.calls == ["v1"] * 8


def test_wait_deadline_returns_last_count() -> None:
    result, _, clock, _ = run_wait([5, 4, 4], interval=2, deadline=7)
    assert result.drained is False
    assert result.last_pending == 4
    assert result.elapsed_seconds == 7.0
    # Readings at 0, 2, 4, 6 and a last one exactly at the deadline.
    assert result.readings == 5
    assert clock.sleeps == [2, 2, 2, 1]


def test_wait_deadline_with_zeros_short_of_the_streak_is_not_drained() -> None:
    result, _, _, _ = run_wait([3, 0, 0], consecutive_zeros=3, interval=1, deadline=2)
    assert (result.drained, result.last_pending, result.readings) == (False, 0, 3)


def test_wait_transient_errors_count_as_nonzero_and_are_reported() -> None:
    boom = DeployError("database is locked", field="system_database_url")
    result, progress, _, _ = run_wait([0, 0, boom, 0, 0, 0], interval=1, deadline=100)
    assert result.drained is True
    assert result.readings == 6
    assert progress.readings[2] == (None, 2.0, boom)
    assert progress.errors == [boom]


def test_wait_errors_persisting_to_the_deadline_are_raised() -> None:
    boom = DeployError("cannot be reached")
    with pytest.raises(DeployError, match="cannot be reached") as info:
        run_wait([3, boom], interval=1, deadline=3)
    assert info.value.details["last_pending"] == 3
    assert info.value.details["readings"] == 4


def test_wait_error_before_deadline_then_count_returns_count() -> None:
    boom = DeployError("flaky")
    result, progress, _, _ = run_wait([boom, boom, 2], interval=1, deadline=2)
    assert (result.drained, result.last_pending, result.readings) == (False, 2, 3)
    assert len(progress.errors) == 2


def test_wait_zero_deadline_reads_once() -> None:
    result, _, clock, _ = run_wait([1], deadline=0)
    assert (result.drained, result.readings, clock.sleeps) == (False, 1, [])
    result, _, _, _ = run_wait([0], deadline=0, consecutive_zeros=1)
    assert result.drained is True


def test_wait_other_exceptions_are_not_swallowed() -> None:
    class Broken:
        def pending(self, version: str) -> int:
            raise RuntimeError("bug")

        def describe(self) -> str:
            return "broken"

    assert isinstance(Broken(), DrainCheck)
    with pytest.raises(RuntimeError):
        wait_drained(Broken(), "v1", deadline=0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"consecutive_zeros": 0}, "consecutive_zeros"),
        ({"consecutive_zeros": 1.5}, "consecutive_zeros"),
        ({"interval": -1}, "interval"),
        ({"deadline": "1h"}, "deadline"),
        ({"deadline": float("inf")}, "deadline"),
    ],
)
def test_wait_refuses_bad_arguments(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        wait_drained(ScriptedDrainCheck([0]), "v1", **kwargs)
    assert info.value.field == name


# --------------------------------------------------------------------------- config


def test_parse_dbos_config_substitutes_environment() -> None:
    env = {"APP_DBOS_URL": "postgresql://app:pw@db:5432/app"}
    config = parse_drain_config(
        {
            "type": "dbos",
            "system_database_url": "${APP_DBOS_URL}",
            "schema": "dbos_shop",
            "app_name": "shop",
            "statement_timeout_ms": 2000,
            "consecutive_zeros": 5,
            "interval": 2,
            "deadline": 600,
            "on_deadline": "force",
        },
        env=env,
    )
    assert config == DrainConfig(
        type="dbos",
        consecutive_zeros=5,
        interval=2.0,
        deadline=600.0,
        on_deadline="force",
        system_database_url="postgresql://app:pw@db:5432/app",
        schema="dbos_shop",
        app_name="shop",
        statement_timeout_ms=2000,
    )
    check = make_drain_check(config)
    assert isinstance(check, DbosDrainCheck)
    assert (check.schema, check.app_name, check.statement_timeout_ms) == ("dbos_shop", "shop", 2000)
    assert check.dialect == "postgresql"


def test_parse_defaults_per_type(tmp_path: Path) -> None:
    dbos = parse_drain_config({"type": "dbos", "system_database_url": f"sqlite:///{tmp_path}/a"})
    assert (dbos.consecutive_zeros, dbos.interval, dbos.deadline, dbos.on_deadline) == (
        3,
        2.0,
        3600.0,
        "keep",
    )
    assert (dbos.schema, dbos.app_name, dbos.statement_timeout_ms) == ("dbos", None, 5000)
    grace = parse_drain_config({"type": "grace", "seconds": 30})
    assert (grace.seconds, grace.consecutive_zeros) == (30.0, 1)
    http = parse_drain_config({"type": "http", "url": "http://127.0.0.1:8001/inflight"})
    assert (http.url, http.timeout, http.consecutive_zeros) == (
        "http://127.0.0.1:8001/inflight",
        5.0,
        3,
    )


def test_make_drain_check_from_a_table(tmp_path: Path) -> None:
    assert isinstance(make_drain_check({"type": "grace", "seconds": 1}), GraceDrainCheck)
    http = make_drain_check({"type": "http", "url": "http://127.0.0.1:1/n", "timeout": 1})
    assert isinstance(http, HttpDrainCheck) and http.timeout == 1.0
    lite = make_drain_check(
        {"type": "dbos", "system_database_url": "sqlite:///${D}/x.sqlite"}, env={"D": str(tmp_path)}
    )
    assert isinstance(lite, DbosDrainCheck) and lite.dialect == "sqlite"


@pytest.mark.parametrize(
    ("table", "field_name", "message"),
    [
        ({}, "drain.type", "must be one of dbos, http, grace"),
        ({"type": "sleep"}, "drain.type", "not 'sleep'"),
        ({"type": "grace", "seconds": 1, "sconds": 2}, "drain.sconds", "not a setting"),
        ({"type": "grace", "seconds": 1, "url": "http://x"}, "drain.url", "grace drain check"),
        ({"type": "grace"}, "drain.seconds", "is required"),
        ({"type": "http"}, "drain.url", "is required"),
        ({"type": "dbos"}, "drain.system_database_url", "is required"),
        ({"type": "grace", "seconds": "30"}, "drain.seconds", "non-negative number"),
        ({"type": "grace", "seconds": 1, "interval": 0}, "drain.interval", "positive number"),
        ({"type": "grace", "seconds": 1, "interval": "2"}, "drain.interval", "positive number"),
        ({"type": "grace", "seconds": 1, "deadline": -5}, "drain.deadline", "non-negative"),
        ({"type": "grace", "seconds": 1, "deadline": True}, "drain.deadline", "non-negative"),
        (
            {"type": "grace", "seconds": 1, "consecutive_zeros": 0},
            "drain.consecutive_zeros",
            "positive integer",
        ),
        (
            {"type": "grace", "seconds": 1, "consecutive_zeros": 2.0},
            "drain.consecutive_zeros",
            "positive integer",
        ),
        (
            {"type": "grace", "seconds": 1, "on_deadline": "wait"},
            "drain.on_deadline",
            "keep or force",
        ),
        (
            {"type": "dbos", "system_database_url": "${NOT_SET_ANYWHERE}"},
            "drain.system_database_url",
            r"\$\{NOT_SET_ANYWHERE\}, which is not set",
        ),
        (
            {"type": "dbos", "system_database_url": 5},
            "drain.system_database_url",
            "non-empty string",
        ),
        (
            {"type": "dbos", "system_database_url": "redis://x"},
            "drain.system_database_url",
            "sqlite:/// or postgresql://",
        ),
        (
            {"type": "dbos", "system_database_url": "sqlite:///x", "statement_timeout_ms": 1.5},
            "drain.statement_timeout_ms",
            "positive integer",
        ),
        ({"type": "http", "url": "gopher://x"}, "drain.url", "http:// or https://"),
        ({"type": "http", "url": "http://x", "timeout": 0}, "drain.timeout", "positive"),
    ],
)
def test_parse_refuses_bad_tables(table: dict[str, Any], field_name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_drain_config(table, env={})
    assert info.value.field == field_name
    assert field_name in info.value.message


def test_parse_refuses_a_non_table() -> None:
    with pytest.raises(ConfigError, match="must be a table"):
        parse_drain_config(["dbos"], env={})  # type: ignore[arg-type]


def test_parse_names_keys_under_a_custom_prefix() -> None:
    with pytest.raises(ConfigError) as info:
        parse_drain_config({"type": "grace", "seconds": -1}, where="products.shop.drain")
    assert info.value.field == "products.shop.drain.seconds"
