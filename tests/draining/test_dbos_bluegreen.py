"""A real DBOS app deployed blue-green by shipmate: the ``process`` target behind a
private real nginx, the drain step reading the app's real system database (SQLite
and PostgreSQL), and ``shipmate drain check`` finishing a retirement later."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from shipmate.demo.deploytable import toml_table
from shipmate.engine.targets.process import port_in_use
from shipmate.services.context import Context, utcnow
from shipmate.services.deploys.config import build_parts, load_product_deploy
from shipmate.services.deploys.deploy import DeployRequest, RunOutcome, deploy
from shipmate.services.draining.states import list_version_states
from shipmate.services.runs.control import get_run
from shipmate.store.schema import events
from tests.conftest import require_real_part
from tests.engine.nginxctl import NginxServer, free_port

APP = Path(__file__).resolve().parents[1] / "engine" / "dbos_app.py"
ROOT = str(Path(__file__).resolve().parents[2])
V1 = "1.0.0+build.1"
V2 = "1.1.0+build.2"


def http(method: str, url: str) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(urllib.request.Request(url, method=method), timeout=10) as response:
        return json.loads(response.read())


@dataclass
class DbosStack:
    tmp: Path
    ctx: Context
    nginx: NginxServer
    url: str
    schema: str | None
    blue: int
    green: int

    def table(self, **drain: Any) -> dict[str, Any]:
        env = {"DBOS_SYSTEM_DATABASE_URL": self.url, "PYTHONPATH": ROOT}
        if self.schema:
            env["DBOS_SYSTEM_SCHEMA"] = self.schema
        check: dict[str, Any] = {
            "type": "dbos",
            "system_database_url": self.url,
            "app_name": "shipmate-sample",
            "interval": 0.2,
            "consecutive_zeros": 2,
            "deadline": 60,
            **drain,
        }
        if self.schema:
            check["schema"] = self.schema
        return {
            "keep_warm": 0,
            "public_url": self.nginx.url,
            "slots": {"blue": self.blue, "green": self.green},
            "target": {
                "type": "process",
                "command": [sys.executable, str(APP)],
                "env": env,
                "stop_timeout": 10,
            },
            "health": {
                "type": "http",
                "url": "http://127.0.0.1:{port}/healthz",
                "attempts": 300,
                "interval": 0.1,
                "timeout": 2,
            },
            "switch": self.nginx.switch_table(),
            "drain": check,
        }

    def configure(self, **drain: Any) -> None:
        table = self.table(**drain)
        self.ctx.settings = replace(
            self.ctx.settings,
            data_dir=str(self.tmp / "data"),
            sections={"products": {"api": {"deploy": table}}},
        )
        project = self.tmp / "project"
        project.mkdir(exist_ok=True)
        (project / "shipmate.toml").write_text(toml_table("products.api.deploy", table))

    def deploy(self, version: str) -> RunOutcome:
        return deploy(
            self.ctx,
            load_product_deploy(self.ctx.settings, "api"),
            DeployRequest("api", "production", version, actor="tester"),
        )

    def start(self, seconds: float) -> dict[str, Any]:
        body: dict[str, Any] = http("POST", f"{self.nginx.url}/start?seconds={seconds}&step=0.25")
        return body

    def start_held(self, flag: Path) -> dict[str, Any]:
        """A workflow that runs until ``flag`` exists (two minutes at most): it is still
        in flight whatever the deploy meanwhile takes on a loaded machine."""
        query = urllib.parse.urlencode({"seconds": 120, "step": 0.25, "until": str(flag)})
        body: dict[str, Any] = http("POST", f"{self.nginx.url}/start?{query}")
        return body

    def served(self) -> str | None:
        try:
            return str(http("GET", f"{self.nginx.url}/healthz")["version"])
        except OSError:
            return None

    def workflows(self) -> dict[str, tuple[str, str]]:
        """Ground truth: workflow id -> (status, application_version), read directly."""
        if self.schema is None:
            path = self.url.removeprefix("sqlite:///")
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
                rows = conn.execute(
                    "SELECT workflow_uuid, status, application_version FROM workflow_status"
                ).fetchall()
            conn.close()
        else:
            import psycopg

            with psycopg.connect(self.url) as pg:
                rows = pg.execute(
                    f'SELECT workflow_uuid, status, application_version FROM "{self.schema}"'
                    ".workflow_status"
                ).fetchall()
        return {str(a): (str(b), str(c)) for a, b, c in rows}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPMATE_", "CI"))}
        env.update(
            SHIPMATE_DATABASE_URL=self.ctx.settings.database_url,
            SHIPMATE_DATA_DIR=str(self.tmp / "data"),
            PYTHONPATH=ROOT,
            NO_COLOR="1",
        )
        return subprocess.run(
            [sys.executable, "-m", "shipmate", *args],
            cwd=self.tmp / "project",
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def close(self) -> None:
        try:
            target = build_parts(load_product_deploy(self.ctx.settings, "api")).target
            for slot in ("blue", "green"):
                target.stop(slot)
        finally:
            self.nginx.stop()


def _stack(ctx: Context, tmp_path: Path, url: str, schema: str | None) -> Iterator[DbosStack]:
    pytest.importorskip("dbos")
    nginx = NginxServer(tmp_path)
    nginx.start()
    ctx.clock = utcnow
    stack = DbosStack(tmp_path, ctx, nginx, url, schema, free_port(), free_port())
    stack.configure()
    try:
        yield stack
    finally:
        stack.close()


@pytest.fixture
def sqlite_stack(ctx: Context, tmp_path: Path) -> Iterator[DbosStack]:
    yield from _stack(ctx, tmp_path, f"sqlite:///{tmp_path / 'dbos.sqlite'}", None)


@pytest.fixture(params=["sqlite", "postgres"])
def dbos_stack(request: pytest.FixtureRequest, ctx: Context, tmp_path: Path) -> Iterator[DbosStack]:
    if request.param == "sqlite":
        yield from _stack(ctx, tmp_path, f"sqlite:///{tmp_path / 'dbos.sqlite'}", None)
        return
    server = request.getfixturevalue("pg_server")
    if server is None:
        require_real_part("PostgreSQL", "initdb/pg_ctl not found (apt-get install postgresql)")
    url = server.create_database(f"dbos_{uuid.uuid4().hex[:10]}")
    yield from _stack(ctx, tmp_path, url, "dbos")


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    limit = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < limit, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_v1_drains_before_it_is_retired(dbos_stack: DbosStack) -> None:
    stack = dbos_stack
    assert stack.deploy(V1).ok
    old = [stack.start(4) for _ in range(3)]
    assert {w["version"] for w in old} == {V1}

    result: list[RunOutcome] = []
    thread = threading.Thread(target=lambda: result.append(stack.deploy(V2)))
    thread.start()
    try:
        wait_until(lambda: stack.served() == V2, 60, "nginx to serve v2")
        new = [stack.start(0.2) for _ in range(2)]
    finally:
        thread.join(90)
    assert [w["version"] for w in new] == [V2, V2]
    [outcome] = result
    assert outcome.ok and outcome.run.status == "completed", outcome.run.error

    truth = stack.workflows()
    # new work landed on v2: its application_version is v2's full version
    assert {truth[w["workflow_id"]][1] for w in new} == {V2}
    # v1's slot was stopped only after its last workflow finished (a stop would leave
    # them PENDING: the app exits without waiting for running workflows)
    assert [truth[w["workflow_id"]] for w in old] == [("SUCCESS", V1)] * 3
    assert not port_in_use(stack.blue)

    run = get_run(stack.ctx, outcome.run.id)
    drain = next(s for s in run.steps if s.name == "drain")
    assert drain.result is not None and drain.result["data"]["drained"] is True
    assert drain.result["data"]["drain_seconds"] > 0
    found = {s.full_version: s for s in list_version_states(stack.ctx, "api", "production")}
    assert (found[V2].state, found[V2].slot) == ("active", "green")
    assert (found[V1].state, found[V1].slot) == ("retired", "blue")
    seconds = found[V1].drain_seconds
    assert seconds is not None and seconds > 0
    with stack.ctx.read() as conn:
        drained = conn.execute(
            select(events.c.data).where(events.c.type == "version.drained")
        ).all()
    assert [d.data["full_version"] for d in drained] == [V1]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_keep_leaves_v1_running_until_drain_check(sqlite_stack: DbosStack) -> None:
    stack = sqlite_stack
    stack.configure(deadline=0.5, on_deadline="keep")
    assert stack.deploy(V1).ok
    flag = stack.tmp / "v1-work-done"
    old = [stack.start_held(flag) for _ in range(2)]
    outcome = stack.deploy(V2)
    assert outcome.ok and outcome.run.status == "completed_draining"
    assert port_in_use(stack.blue)  # v1 keeps running: its work is not done
    [v1] = [s for s in list_version_states(stack.ctx, "api") if s.full_version == V1]
    assert v1.state == "draining" and v1.pending is not None and v1.pending >= 1

    shown = stack.cli("versions", "--product", "api", "--env", "production")
    assert shown.returncode == 0, shown.stderr
    line = next(x for x in shown.stdout.splitlines() if V1 in x)
    assert "draining" in line and "blue" in line

    flag.touch()
    wait_until(
        lambda: all(stack.workflows()[w["workflow_id"]][0] == "SUCCESS" for w in old),
        30,
        "v1's workflows to finish",
    )
    checked = stack.cli("drain", "check", "--product", "api", "--env", "production")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"api {V1} in production: retired" in checked.stdout
    assert not port_in_use(stack.blue)
    assert port_in_use(stack.green)
    states = {s.full_version: s.state for s in list_version_states(stack.ctx, "api")}
    assert states == {V2: "active", V1: "retired"}
    again = stack.cli("drain", "check", "--json")
    assert again.returncode == 0 and json.loads(again.stdout) == {"items": []}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_mistyped_app_name_stops_the_run_before_v1_is_retired(dbos_stack: DbosStack) -> None:
    stack = dbos_stack
    stack.configure(app_name="shipmate-sampel")  # the app is "shipmate-sample"
    assert stack.deploy(V1).ok  # nothing to drain yet
    flag = stack.tmp / "v1-work-done"
    old = [stack.start_held(flag) for _ in range(2)]
    outcome = stack.deploy(V2)
    # Every reading is 0 (no workflow is that app's): before, v1 was called drained
    # and stopped with its workflows still running.
    assert not outcome.ok
    assert outcome.run.error_code == "config_error", outcome.run.error
    assert outcome.run.error is not None and "'shipmate-sample'" in outcome.run.error
    assert "not called drained" in outcome.run.error
    run = get_run(stack.ctx, outcome.run.id)
    assert [s.name for s in run.steps if s.status == "failed"] == ["drain"]
    assert all(s.status != "completed" for s in run.steps if s.name == "retire")
    assert port_in_use(stack.blue)  # v1 still runs, and finishes its work
    assert stack.served() == V2
    states = {s.full_version: s.state for s in list_version_states(stack.ctx, "api")}
    assert states == {V2: "active", V1: "draining"}
    flag.touch()
    wait_until(
        lambda: all(stack.workflows()[w["workflow_id"]][0] == "SUCCESS" for w in old),
        30,
        "v1's workflows to finish in the slot that was not stopped",
    )
