"""``shipmate deploy``, ``rollback`` and ``runs`` as commands, against real nginx and apps.

Commands run as subprocesses (``python -m shipmate``): the confirmation prompt
needs a real stdin, and the durability tests kill the process with SIGKILL at a
step boundary (``SHIPMATE_TEST_CRASH``) and resume it.
"""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.domain.requests import HistoryFilter
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.queries import history, show_deployment
from shipmate.services.releases.actions import ActionSpec, add_action
from shipmate.services.runs.control import get_run, list_runs
from shipmate.store.schema_runs import runs as runs_table
from tests.engine.nginxctl import NginxServer
from tests.runs.stack import Stack

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """These tests run on SQLite; the durability test runs on PostgreSQL too."""
    name: str = request.param
    return name


@pytest.fixture
def stack(real_ctx: Context, tmp_path: Path) -> Iterator[Stack]:
    nginx = NginxServer(tmp_path)
    nginx.start()
    result = Stack(tmp_path, nginx, real_ctx)
    result.write_config()
    try:
        yield result
    finally:
        result.close()


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (result.stdout, result.stderr)


def _deploy(
    stack: Stack, version: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return stack.cli(
        "deploy", "--product", "api", "--env", "production", "--version", version, *extra, env=env
    )


def test_deploy_prints_plain_progress_and_dry_run_changes_nothing(stack: Stack) -> None:
    result = _deploy(stack, "1.0.0")
    _ok(result)
    out = result.stdout
    assert "Deploying api 1.0.0 in production (run 1)" in out
    assert "[4] start 1.0.0 in slot blue ..." in out
    assert "[6] switch traffic to slot blue (1.0.0): ok" in out
    assert "deployed api 1.0.0 in production" in out
    stack.wait_served("1.0.0")

    dry = _deploy(stack, "2.0.0", "--dry-run")
    _ok(dry)
    text = dry.stdout
    assert "Would deploy api 2.0.0 to production" in text
    assert "traffic now: 1.0.0 in blue" in text
    assert "2.0.0 goes to slot green" in text
    assert "switch back to 1.0.0 in blue" in text
    assert not stack.running("green")
    assert len(list_runs(stack.ctx)) == 1


def test_bad_config_is_reported_with_its_key(stack: Stack) -> None:
    table = stack.table()
    table["health"] = {**table["health"], "interval": "soon"}
    stack.write_config(table)
    result = _deploy(stack, "1.0.0")
    assert result.returncode == 2
    assert "[products.api.deploy.health.interval]" in result.stderr
    missing = stack.cli("deploy", "--product", "web", "--env", "production", "--version", "1")
    assert missing.returncode == 2
    assert "no deploy configuration for web" in missing.stderr


def test_rollback_prompts_refuses_and_rolls_back(stack: Stack) -> None:
    nothing = stack.cli("rollback", "--product", "api", "--env", "production", "--yes")
    assert nothing.returncode == 1
    assert "nothing to roll back" in nothing.stderr

    for version in ("1.0.0", "2.0.0", "3.0.0"):
        _ok(_deploy(stack, version))
    stack.wait_served("3.0.0")

    refused = stack.cli("rollback", "--product", "api", "--env", "production")
    assert refused.returncode == 2
    assert "not a terminal" in refused.stderr and "--yes" in refused.stderr
    assert "← current" in refused.stdout and "← rollback target" in refused.stdout
    lines = refused.stdout.splitlines()
    assert any("3.0.0" in line and "← current" in line for line in lines)
    assert any("2.0.0" in line and "← rollback target" in line for line in lines)
    stack.wait_served("3.0.0")

    back = stack.cli("rollback", "--product", "api", "--env", "production", "--yes")
    _ok(back)
    stack.wait_served("2.0.0")
    two = stack.cli("rollback", "--product", "api", "--env", "production", "--to", "3.0.0", "-y")
    _ok(two)  # any earlier completed version, even one rolled back since
    stack.wait_served("3.0.0")
    steps = stack.cli("rollback", "--product", "api", "--env", "production", "--steps", "2", "-y")
    _ok(steps)
    stack.wait_served("1.0.0")
    records = stack.records()
    assert records == [
        ("1.0.0", "completed", "deploy"),
        ("2.0.0", "completed", "deploy"),
        ("3.0.0", "rolled_back", "deploy"),
        ("2.0.0", "rolled_back", "rollback"),
        ("3.0.0", "rolled_back", "rollback"),
        ("1.0.0", "completed", "rollback"),
    ]
    page = history(stack.ctx, HistoryFilter(product="api", kind="rollback"), limit=10)
    reverts = {}
    for d in page.items:
        assert d.reverts_id is not None
        reverts[d.full_version] = show_deployment(stack.ctx, d.reverts_id).full_version
    assert reverts == {"1.0.0": "3.0.0", "3.0.0": "2.0.0", "2.0.0": "3.0.0"}


def test_rollback_refused_when_the_artifact_is_gone(stack: Stack) -> None:
    releases = stack.tmp / "releases"
    for version in ("1.0.0", "2.0.0"):
        (releases / version).mkdir(parents=True)
    stack.write_config(stack.table(artifact=str(releases) + "/{version}"))
    _ok(_deploy(stack, "1.0.0"))
    _ok(_deploy(stack, "2.0.0"))
    (releases / "1.0.0").rmdir()
    result = stack.cli("rollback", "--product", "api", "--env", "production", "--yes")
    assert result.returncode == 1
    assert "cannot roll back to 1.0.0" in result.stderr and "does not exist" in result.stderr
    stack.wait_served("2.0.0")
    assert len(list_runs(stack.ctx)) == 2  # refused before any run began


def _upstream_identity(stack: Stack) -> tuple[int, int, str]:
    stat = stack.nginx.upstream_file.stat()
    return stat.st_ino, stat.st_mtime_ns, stack.nginx.upstream_file.read_text()


@pytest.mark.parametrize(
    ("backend", "moment"),
    [("sqlite", "after"), ("sqlite", "during"), ("postgres", "after")],
    indirect=["backend"],
)
def test_a_run_killed_at_the_switch_resumes_and_finishes_exactly_once(
    stack: Stack, moment: str
) -> None:
    _ok(_deploy(stack, "1.0.0"))
    killed = _deploy(stack, "2.0.0", env={"SHIPMATE_TEST_CRASH": f"{moment}:switch"})
    assert killed.returncode == -9
    stack.wait_served("2.0.0")  # the switch happened before the kill
    upstream = _upstream_identity(stack)

    listed = stack.cli("runs", "list", "--status", "interrupted", "--json")
    _ok(listed)
    [interrupted] = json.loads(listed.stdout)["items"]
    assert interrupted["state"] == "interrupted" and interrupted["full_version"] == "2.0.0"
    busy = _deploy(stack, "3.0.0")
    assert busy.returncode == 1
    assert "shipmate runs resume" in busy.stderr

    resumed = stack.cli("runs", "resume")
    _ok(resumed)
    assert "done before, not repeated" in resumed.stdout
    stack.wait_served("2.0.0")
    run = get_run(stack.ctx, int(interrupted["id"]))
    assert run.status == "completed" and run.attempts == 2
    switch = next(s for s in run.steps if s.name == "switch")
    if moment == "after":
        assert switch.attempts == 1
        assert _upstream_identity(stack) == upstream  # no second switch
    else:
        assert switch.attempts == 2  # it had acted but was not journaled: re-applied
        assert _upstream_identity(stack)[2] == upstream[2]
    assert stack.records() == [("1.0.0", "completed", "deploy"), ("2.0.0", "completed", "deploy")]
    assert run.deployment_id is not None
    dep = show_deployment(stack.ctx, run.deployment_id)
    assert [e.to_status for e in dep.events] == ["started", "completed"]
    assert not stack.running("blue")  # the resumed run retired the old slot

    shown = stack.cli("runs", "show", str(run.id))
    _ok(shown)
    assert "driven:      2 times (resumed)" in shown.stdout
    assert "traffic now goes to 2.0.0 in slot green" in shown.stdout


def test_a_rollback_supersedes_a_run_keeping_its_old_slot_warm(stack: Stack) -> None:
    _ok(_deploy(stack, "1.0.0"))
    stack.write_config(stack.table(keep_warm=60))
    slow = stack.popen("deploy", "--product", "api", "--env", "production", "--version", "2.0.0")
    try:
        deadline = time.monotonic() + 30
        while True:
            runs = list_runs(stack.ctx, status="running")
            steps = get_run(stack.ctx, runs[0].id).steps if runs else ()
            if any(s.name == "keep_warm" for s in steps):
                break
            assert slow.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        stack.wait_served("2.0.0")
        assert stack.running("blue")  # 1.0.0 is still warm
        stack.write_config(stack.table(keep_warm=0.5))
        started = time.monotonic()
        back = stack.cli("rollback", "--product", "api", "--env", "production", "--yes")
        _ok(back)
        assert "switch traffic back to slot blue, where it still runs" in back.stdout
        stack.wait_served("1.0.0")
        # superseded: 2.0.0 is not serving, so the deploy exits rolled_back (4), not 0
        assert slow.wait(timeout=max(5.0, 30 - (time.monotonic() - started))) == 4
        said = slow.stdout.read() if slow.stdout else ""
        assert "was superseded while it kept its old slot warm" in said
        assert "2.0.0 is not serving" in said
    finally:
        if slow.poll() is None:
            slow.kill()
        slow.wait()
    deploy_run, rollback_run = sorted(list_runs(stack.ctx)[:2], key=lambda r: r.id)
    assert deploy_run.status == "superseded"
    assert "superseded by run" in (deploy_run.error or "")
    names = [s.name for s in get_run(stack.ctx, rollback_run.id).steps]
    assert "start" not in names and "health" not in names  # a switch back, nothing else
    assert names[:4] == ["record_started", "inspect", "switch", "post_switch_health"]
    assert stack.records() == [
        ("1.0.0", "completed", "deploy"),
        ("2.0.0", "rolled_back", "deploy"),
        ("1.0.0", "completed", "rollback"),
    ]


def test_serve_never_resumes_an_interrupted_run_it_only_marks_it(stack: Stack) -> None:
    _ok(_deploy(stack, "1.0.0"))
    created = stack.tmp / "action-ran"
    add_action(stack.ctx, "api", ActionSpec("2.0.0", "up", "shell", f"touch {created}", "mark"))
    killed = _deploy(stack, "2.0.0", env={"SHIPMATE_TEST_CRASH": "after:inspect"})
    assert killed.returncode == -9
    [run] = list_runs(stack.ctx, status="interrupted")
    token = create_key(stack.ctx, "reader", "read").token

    app = create_app(stack.settings(), server=ServerSettings())
    with TestClient(app) as client:
        deadline = time.monotonic() + 30
        while get_run(stack.ctx, run.id).attention is None:
            assert time.monotonic() < deadline, "the server did not mark the run"
            time.sleep(0.05)
        body = client.get(
            f"/api/v1/runs/{run.id}", headers={"Authorization": f"Bearer {token}"}
        ).json()
    assert body["state"] == "interrupted" and body["host"] == socket.gethostname()
    assert f"shipmate runs resume {run.id}" in body["attention"]
    # The server ran nothing of the run: not its release action, not the app's start.
    assert not created.exists()
    after = get_run(stack.ctx, run.id)
    assert after.status == "running" and after.attempts == 1
    assert [s.name for s in after.steps] == ["record_started", "inspect"]
    assert not stack.running("green")
    shown = stack.cli("runs", "show", str(run.id))
    assert "attention:   interrupted: process" in shown.stdout

    resumed = stack.cli("runs", "resume")  # the host's own CLI finishes it
    _ok(resumed)
    assert created.exists()
    final = get_run(stack.ctx, run.id)
    assert final.status == "completed" and final.attempts == 2 and final.attention is None
    stack.wait_served("2.0.0")
    assert stack.records() == [("1.0.0", "completed", "deploy"), ("2.0.0", "completed", "deploy")]


def test_runs_of_another_host_are_not_resumed_here(stack: Stack) -> None:
    _ok(_deploy(stack, "1.0.0"))
    killed = _deploy(stack, "2.0.0", env={"SHIPMATE_TEST_CRASH": "after:inspect"})
    assert killed.returncode == -9
    [run] = list_runs(stack.ctx, status="interrupted")
    with stack.ctx.write() as conn:  # as if it had been started on another host
        conn.execute(
            update(runs_table)
            .where(runs_table.c.id == run.id)
            .values(params={**run.params, "host": "web-7"})
        )
    one = stack.cli("runs", "resume", str(run.id))
    assert one.returncode == 1
    assert f"run {run.id} drives processes and nginx on web-7" in one.stderr
    every = stack.cli("runs", "resume")
    assert every.returncode == 0
    assert f"run {run.id} belongs to host web-7: resume it there" in every.stderr
    again = get_run(stack.ctx, run.id)
    assert again.status == "running" and again.attempts == 1
    assert not stack.running("green")


def test_runs_list_and_show(stack: Stack) -> None:
    _ok(_deploy(stack, "1.0.0"))
    listed = stack.cli("runs", "list")
    _ok(listed)
    assert listed.stdout.splitlines()[0].split() == [
        "ID",
        "KIND",
        "PRODUCT",
        "ENV",
        "VERSION",
        "STATUS",
        "STARTED",
        "TOOK",
        "BY",
    ]
    assert listed.stdout.splitlines()[1].split()[:6] == [
        "1",
        "deploy",
        "api",
        "production",
        "1.0.0",
        "completed",
    ]
    shown = stack.cli("runs", "show", "1", "--json")
    _ok(shown)
    body = json.loads(shown.stdout)
    assert body["status"] == "completed"
    assert [s["name"] for s in body["steps"]][:3] == ["record_started", "inspect", "check_artifact"]
    assert "slot blue: nothing running" in body["steps"][1]["output"]
    missing = stack.cli("runs", "show", "99")
    assert missing.returncode == 1 and "run 99 does not exist" in missing.stderr


def _read_until(fd: int, marker: bytes, timeout: float = 30.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        assert time.monotonic() < deadline, seen.decode(errors="replace")
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_rollback_asks_on_a_terminal(stack: Stack) -> None:
    for version in ("1.0.0", "2.0.0"):
        _ok(_deploy(stack, version))
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipmate", "rollback", "--product", "api", "--env", "production"],
        cwd=stack.project,
        env=stack.cli_env({"TERM": "xterm"}),
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    try:
        asked = _read_until(master, b"[y/N]")
        assert b"Roll back api in production from 2.0.0 to 1.0.0?" in asked
        os.write(master, b"y\n")
        shown = _read_until(master, b"rolled back to api 1.0.0")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert b"\r\x1b[K" in shown  # the step list rewrites its current line
    stack.wait_served("1.0.0")


def test_a_yes_given_after_the_current_version_changed_rolls_nothing_back(stack: Stack) -> None:
    for version in ("1.0.0", "2.0.0"):
        _ok(_deploy(stack, version))
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipmate", "rollback", "--product", "api", "--env", "production"],
        cwd=stack.project,
        env=stack.cli_env({"TERM": "xterm"}),
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    try:
        asked = _read_until(master, b"[y/N]")
        assert b"Roll back api in production from 2.0.0 to 1.0.0?" in asked
        _ok(_deploy(stack, "3.0.0"))  # while the prompt waits, 3.0.0 becomes current
        os.write(master, b"y\n")
        said = _read_until(master, b"nothing was rolled back")
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    text = said.decode(errors="replace")
    assert "changed while the rollback waited" in text
    assert "(2.0.0) when the rollback to 1.0.0 was shown" in text and "(3.0.0, deploy by" in text
    stack.wait_served("3.0.0")
    assert stack.records() == [(v, "completed", "deploy") for v in ("1.0.0", "2.0.0", "3.0.0")]
    assert [r.kind for r in list_runs(stack.ctx)] == ["deploy"] * 3


def test_the_rollback_confirmation_shows_stored_controls_escaped(stack: Stack) -> None:
    hostile = "mallory\x1b[2J\x1b]8;;http://evil\x07x\rfake"
    _ok(_deploy(stack, "1.0.0", "--deployed-by", hostile))
    _ok(_deploy(stack, "2.0.0", "--deployed-by", hostile))
    shown = stack.cli("rollback", "--product", "api", "--env", "production")
    assert shown.returncode == 2  # not a terminal: it shows the plan and asks for --yes
    output = shown.stdout + shown.stderr
    assert "Roll back from 2.0.0 to 1.0.0" in output
    assert "mallory\\x1b[2J\\x1b]8;;http://evil\\x07x\\rfake" in shown.stdout
    for raw in ("\x1b", "\x07", "\r"):
        assert raw not in output
    stack.wait_served("2.0.0")
