"""An SQLite database that cannot be used is 503 ``store_error``, never 500.

Two failures that hold even for root (who passes every permission check): the
write lock held by another process past the busy timeout, and the database's
path turned into something SQLite cannot open.  Each outage logs one line when it
begins and one when it ends, however many requests it refused.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.config import Settings
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.store import engine as engine_module
from shipmate.store.engine import make_engine
from tests.api.conftest import auth

REFUSED = 4


@pytest.fixture
def sqlite_ctx(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Context]:
    # A short busy timeout, so that a held lock refuses a write quickly (the default
    # waits 30 s, as a server should).
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "db" / "shipmate.db"
    path.parent.mkdir()
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    ctx = Context(settings=Settings(database_url=url), engine=make_engine(url))
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def outage_client(sqlite_ctx: Context) -> Iterator[TestClient]:
    app = create_app(sqlite_ctx.settings, ctx=sqlite_ctx, server=ServerSettings())
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def record(client: TestClient, token: str, n: int) -> Response:
    return client.post(
        "/api/v1/deployments",
        json={"product": "api", "environment": "dev", "version": f"1.0.{n}", "status": "started"},
        headers=auth(token),
    )


def assert_unavailable(answer: Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"].isdigit()
    assert "database is unavailable" in answer.text
    if answer.headers["content-type"].startswith("application/json"):
        assert answer.json()["error"]["code"] == "store_error"


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "shipmate.store" and r.getMessage().startswith("database ")
    ]


def test_a_write_lock_held_past_the_busy_timeout_refuses_writes_with_503(
    outage_client: TestClient, sqlite_ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    token = create_key(sqlite_ctx, "ci", "write").token
    first = record(outage_client, token, 0)
    assert first.status_code == 201
    dep = first.json()["id"]
    database = sqlite_ctx.engine.url.database
    assert database is not None
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # e.g. a backup tool or a stuck script
    with caplog.at_level(logging.WARNING, logger="shipmate.store"):
        try:
            for n in range(1, REFUSED + 1):
                assert_unavailable(record(outage_client, token, n))
                assert_unavailable(
                    outage_client.post(
                        f"/api/v1/deployments/{dep}/events",
                        json={"status": "success"},
                        headers=auth(token),
                    )
                )
                versioner = outage_client.post(
                    "/versioner/deployment-events/",
                    json={
                        "product_name": "api",
                        "version": "2.0.0",
                        "environment_name": "production",
                        "status": "started",
                    },
                    headers=auth(token),
                )
                assert versioner.status_code == 503 and "Retry-After" in versioner.headers
                # WAL: reads go on while a writer holds the lock, and do not count as
                # the outage's end in the log.
                assert outage_client.get("/api/v1/deployments", headers=auth(token)).is_success
                assert outage_client.get("/history", headers=auth(token)).is_success
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert record(outage_client, token, 99).status_code == 201
        assert record(outage_client, token, 100).status_code == 201
    assert outage_lines(caplog) == [
        "database unreachable: database is locked",
        "database reachable again",
    ]
    with sqlite_ctx.read() as conn:
        versions = conn.exec_driver_sql(
            "SELECT v.version FROM deployments d JOIN versions v ON v.id = d.version_id"
        ).scalars()
        assert sorted(versions) == ["1.0.0", "1.0.100", "1.0.99"]  # refused writes wrote nothing


def test_a_database_path_sqlite_cannot_open_is_503_on_every_route(
    outage_client: TestClient, sqlite_ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    token = create_key(sqlite_ctx, "ci", "write").token
    assert record(outage_client, token, 0).status_code == 201
    database = Path(str(sqlite_ctx.engine.url.database))
    sqlite_ctx.engine.dispose()  # as a worker starting, or a pool recycling, would
    moved = database.parent.with_name("moved")
    database.parent.rename(moved)
    database.mkdir(parents=True)  # the database's path is now a directory
    with caplog.at_level(logging.WARNING, logger="shipmate.store"):
        try:
            for _ in range(REFUSED):
                assert_unavailable(outage_client.get("/api/v1/deployments", headers=auth(token)))
                assert_unavailable(record(outage_client, token, 1))
                page = outage_client.get("/history", headers=auth(token))
                assert_unavailable(page)
                assert page.headers["content-type"].startswith("text/html")
                assert_unavailable(outage_client.get("/history?format=json", headers=auth(token)))
                bloqr = outage_client.get("/api/deployments?product=api", headers=auth(token))
                assert bloqr.status_code == 503 and bloqr.json()["code"] == "store_error"
                ready = outage_client.get("/readyz")
                assert_unavailable(ready)
                assert ready.json()["status"] == "unavailable"
                assert str(database) not in ready.text
            assert outage_client.get("/healthz").status_code == 200  # liveness: no database
        finally:
            shutil.rmtree(database.parent)
            moved.rename(database.parent)
        assert outage_client.get("/api/v1/deployments", headers=auth(token)).status_code == 200
        assert record(outage_client, token, 2).status_code == 201
    lines = outage_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("database unreachable: unable to open database file"), lines
    assert lines[1] == "database reachable again"
