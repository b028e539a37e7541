"""A drain check that sees nothing is not a drain: zero needs the app and version on record.

Real DBOS system databases (the sample app of tests/engine/dbos_app.py, on SQLite and
PostgreSQL): a mistyped ``app_name`` and another application's system database both
read zero pending workflows; the check refuses to call that drained, naming the app
names and versions it does see.  The right app and version still drain.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shipmate.engine.drain.config import make_drain_check
from shipmate.engine.drain.dbos import DbosDrainCheck
from shipmate.engine.drain.evidence import ConfirmedDbosDrainCheck
from shipmate.engine.drain.waiting import wait_drained
from shipmate.errors import ConfigError
from tests.engine.test_drain import (  # noqa: F401  (fixtures)
    APP_NAME,
    OLD_ROWS,
    OLD_WORKFLOW_STATUS,
    Launch,
    dbos_pg_url,
    launch,
    make_sqlite,
    pg_schema,
    wait_for,
)

V1 = "1.0.0+build.1"


@pytest.fixture(params=["sqlite", "postgres"])
def system_db(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A fresh DBOS system database: its URL, the app's extra environment, check options."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dbos.sqlite'}", {}
    url = request.getfixturevalue("dbos_pg_url")
    schema = request.getfixturevalue("pg_schema")
    return url, {"DBOS_SYSTEM_SCHEMA": schema}


def check_for(url: str, env: dict[str, str], **options: str) -> ConfirmedDbosDrainCheck:
    table = {"type": "dbos", "system_database_url": url, **options}
    if "DBOS_SYSTEM_SCHEMA" in env:
        table["schema"] = env["DBOS_SYSTEM_SCHEMA"]
    check = make_drain_check(table)
    assert isinstance(check, ConfirmedDbosDrainCheck)
    return check


def run_done(start: Launch, url: str, env: dict[str, str], version: str, **more: str) -> None:
    """Launch ``version``, run one short workflow to its end, and stop the app."""
    app = start(url, version, **env, **more)
    workflow = app.start(0.1, step=0.1)
    wait_for(lambda: app.workflow(workflow)["status"] == "SUCCESS", 30, "the workflow to end")
    app.stop()


@pytest.mark.slow
def test_a_mistyped_app_name_is_not_a_drain(
    system_db: tuple[str, dict[str, str]],
    launch: Launch,  # noqa: F811  (the fixture)
) -> None:
    url, env = system_db
    run_done(launch, url, env, V1)
    mistyped = check_for(url, env, app_name="shipmate-sampel")
    # The raw count: zero, exactly what retired versions mid-work before.
    assert DbosDrainCheck.pending(mistyped, V1) == 0
    with pytest.raises(ConfigError) as refused:
        wait_drained(mistyped, V1, consecutive_zeros=2, interval=0.05, deadline=30)
    assert refused.value.field == "app_name"
    assert "'shipmate-sampel'" in refused.value.message
    assert f"'{APP_NAME}'" in refused.value.message  # the app it does see
    assert "not called drained" in refused.value.message
    assert refused.value.details["apps"] == [APP_NAME]
    assert V1 in refused.value.details["versions"]

    right = check_for(url, env, app_name=APP_NAME)
    result = wait_drained(right, V1, consecutive_zeros=2, interval=0.05, deadline=30)
    assert result.drained is True


@pytest.mark.slow
def test_another_apps_system_database_is_not_a_drain(
    system_db: tuple[str, dict[str, str]],
    launch: Launch,  # noqa: F811  (the fixture)
) -> None:
    url, env = system_db  # billing's system database, not ours
    run_done(launch, url, env, "7.7.0", SAMPLE_APP_NAME="billing")
    ours = check_for(url, env, app_name=APP_NAME)
    with pytest.raises(ConfigError) as by_name:
        wait_drained(ours, V1, consecutive_zeros=1, interval=0.05, deadline=30)
    assert by_name.value.field == "app_name"
    assert "'billing'" in by_name.value.message and "'7.7.0'" in by_name.value.message

    unnamed = check_for(url, env)  # no app_name: only the version can tell
    with pytest.raises(ConfigError) as by_version:
        wait_drained(unnamed, V1, consecutive_zeros=1, interval=0.05, deadline=30)
    assert by_version.value.field == "system_database_url"
    assert f"version '{V1}'" in by_version.value.message
    assert "'7.7.0'" in by_version.value.message and "'billing'" in by_version.value.message


@pytest.mark.slow
def test_a_version_that_never_ran_a_workflow_is_known_by_its_registration(
    system_db: tuple[str, dict[str, str]],
    launch: Launch,  # noqa: F811  (the fixture)
) -> None:
    url, env = system_db
    launch(url, V1, **env).stop()  # launched (so registered in application_versions), idle
    check = check_for(url, env, app_name=APP_NAME)
    assert check.evidence(V1).version_known is True
    assert wait_drained(check, V1, consecutive_zeros=2, interval=0.05, deadline=30).drained


def test_an_old_schema_without_names_or_registry_checks_the_version(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    rows = [*OLD_ROWS, ("g", "SUCCESS", "v0")]
    make_sqlite(
        db,
        OLD_WORKFLOW_STATUS,
        rows,
        "INSERT INTO workflow_status (workflow_uuid, status, application_version, "
        "created_at, updated_at) VALUES (?, ?, ?, 0, 0)",
    )
    check = check_for(f"sqlite:///{db}", {}, app_name="whatever")  # no column to check it by
    assert check.pending("v0") == 0  # ran, ended: drained
    with pytest.raises(ConfigError, match=r"version 'v9'.*'v0', 'v1', 'v2'") as info:
        check.pending("v9")
    assert info.value.details["apps"] == []


def test_evidence_found_once_is_remembered(tmp_path: Path) -> None:
    db = tmp_path / "named.sqlite"
    make_sqlite(
        db,
        "CREATE TABLE workflow_status (workflow_uuid TEXT PRIMARY KEY, status TEXT, "
        "application_version TEXT, application_name TEXT)",
        [("a", "SUCCESS", "v1", "shop")],
        "INSERT INTO workflow_status VALUES (?, ?, ?, ?)",
    )
    check = check_for(f"sqlite:///{db}", {}, app_name="shop")
    assert check.pending("v1") == 0
    with sqlite3.connect(db) as connection:  # DBOS garbage-collects ended workflows
        connection.execute("DELETE FROM workflow_status")
    connection.close()
    assert check.pending("v1") == 0
    with pytest.raises(ConfigError, match="never recorded a workflow or version of app 'shop'"):
        check_for(f"sqlite:///{db}", {}, app_name="shop").pending("v1")
