"""Targets against real processes (the sample app) and a fake docker CLI script."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from shipmate.domain.deploy.config import parse_deploy_config
from shipmate.engine import procfs
from shipmate.engine.release import Release
from shipmate.engine.targets.factory import CommandTarget, DockerTarget, build_target
from shipmate.engine.targets.process import ProcessTarget, port_in_use
from shipmate.errors import ArtifactMissingError, DeployError
from tests.engine.demoapps import DEMOAPP, demo_env, fetch_json, running_demoapp
from tests.engine.nginxctl import free_port, wait_for_port

V1 = Release.of("api", "1.0.0", 3)
V2 = Release.of("api", "2.0.0", 1)


def wait_until(condition: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def process_config(tmp_path: Path, **target: Any) -> Any:
    table = {
        "slots": {"blue": free_port(), "green": free_port()},
        "target": {"type": "process", "command": [*DEMOAPP, "--port", "{port}"], **target},
        "switch": {"type": "symlink", "link": str(tmp_path / "current"), "releases_dir": "/x"},
    }
    return parse_deploy_config(table)


@pytest.fixture
def base_env() -> dict[str, str]:
    env = demo_env()
    env["SHIPMATE_DATABASE_URL"] = "postgresql://secret@db/shipmate"  # must not leak
    return env


def make_process_target(tmp_path: Path, base_env: dict[str, str], **target: Any) -> ProcessTarget:
    config = process_config(tmp_path, **target)
    built = build_target(
        config, product="api", state_dir=str(tmp_path / "state"), base_env=base_env
    )
    assert isinstance(built, ProcessTarget)
    return built


# ------------------------------------------------------------------ process target


def test_process_start_stop_and_env(tmp_path: Path, base_env: dict[str, str]) -> None:
    target = make_process_target(tmp_path, base_env)
    port = target.context.port("green")
    try:
        target.start(V1, "green")
        wait_for_port(port)
        assert target.is_running("green")
        assert not target.is_running("blue")
        assert target.running_version("green") == "1.0.0+build.3"
        seen = fetch_json(f"http://127.0.0.1:{port}/version")
        assert seen["version"] == "1.0.0"
        assert seen["full_version"] == "1.0.0+build.3"
        assert seen["slot"] == "green"
        assert seen["app_version"] == "1.0.0+build.3"  # DBOS__APPVERSION
        record = json.loads(target.pid_file("green").read_text())
        assert record["pid"] == seen["pid"]
        assert record["start_time"] == procfs.read_stat(record["pid"]).start_time  # type: ignore[union-attr]
        assert target.pid_file("green") == tmp_path / "state" / "api" / "green" / "pid.json"
        assert "1.0.0+build.3 in green" in target.log_file("green").read_text()
    finally:
        target.stop("green")
    assert not target.is_running("green")
    assert not target.pid_file("green").exists()
    assert not port_in_use(port)
    target.stop("green")  # stopping an empty slot does nothing


def test_start_is_idempotent_and_replaces_another_version(
    tmp_path: Path, base_env: dict[str, str]
) -> None:
    target = make_process_target(tmp_path, base_env)
    port = target.context.port("blue")
    try:
        target.start(V1, "blue")
        wait_for_port(port)
        first = target.process("blue")
        target.start(V1, "blue")
        assert target.process("blue") == first
        target.start(V2, "blue")
        wait_for_port(port)
        second = target.process("blue")
        assert second is not None and first is not None
        assert second.pid != first.pid
        assert not first.alive()
        assert fetch_json(f"http://127.0.0.1:{port}/")["version"] == "2.0.0"
        assert (target.log_file("blue").with_name("app.log.1")).exists()
    finally:
        target.stop("blue")


ENV_DUMP = (
    "import json, os, sys, time; "
    "json.dump(dict(os.environ), open(sys.argv[1] + '.tmp', 'w')); "
    "os.replace(sys.argv[1] + '.tmp', sys.argv[1]); time.sleep(120)"
)


@pytest.mark.parametrize(
    ("app_version_env", "name"),
    [(None, "DBOS__APPVERSION"), ("APP_VERSION", "APP_VERSION"), (False, None)],
)
def test_env_vars_passed(
    tmp_path: Path, base_env: dict[str, str], app_version_env: Any, name: str | None
) -> None:
    dump = tmp_path / "env.json"
    table: dict[str, Any] = {
        "slots": {"blue": free_port(), "green": free_port()},
        "target": {
            "type": "process",
            "command": [sys.executable, "-c", ENV_DUMP, str(dump)],
            "env": {"GREETING": "hello {slot} {version}", "NUMBER": 7},
            "cwd": str(tmp_path),
        },
        "switch": {"type": "command", "command": "true"},
    }
    if app_version_env is not None:
        table["app_version_env"] = app_version_env
    target = build_target(
        parse_deploy_config(table), product="api", state_dir=str(tmp_path / "s"), base_env=base_env
    )
    try:
        target.start(V2, "blue")
        wait_until(dump.exists, "the env dump")
        env = json.loads(dump.read_text())
    finally:
        target.stop("blue")
    assert env["SHIPMATE_VERSION"] == "2.0.0"
    assert env["SHIPMATE_FULL_VERSION"] == "2.0.0+build.1"
    assert env["SHIPMATE_SLOT"] == "blue"
    assert env["SHIPMATE_PRODUCT"] == "api"
    assert env["PORT"] == str(table["slots"]["blue"])
    assert env["GREETING"] == "hello blue 2.0.0"
    assert env["NUMBER"] == "7"
    assert "SHIPMATE_DATABASE_URL" not in env
    assert env["PYTHONPATH"] == base_env["PYTHONPATH"]
    if name is None:
        assert "DBOS__APPVERSION" not in env
    else:
        assert env[name] == "2.0.0+build.1"


IGNORES_TERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(600)"
)


def test_stop_escalates_to_sigkill(tmp_path: Path, base_env: dict[str, str]) -> None:
    target = make_process_target(
        tmp_path, base_env, command=[sys.executable, "-c", IGNORES_TERM], stop_timeout=0.5
    )
    target.start(V1, "blue")
    wait_until(lambda: "ready" in target.log_file("blue").read_text(), "the app to ignore TERM")
    record = target.process("blue")
    assert record is not None and record.alive()
    target.stop("blue")
    assert not record.alive()
    stat = procfs.read_stat(record.pid)
    assert stat is None or stat.is_zombie


def test_stop_kills_the_whole_process_group(tmp_path: Path, base_env: dict[str, str]) -> None:
    shell = f"{' '.join(DEMOAPP)} --port $PORT & wait"
    target = make_process_target(tmp_path, base_env, command=["sh", "-c", shell])
    port = target.context.port("blue")
    target.start(V1, "blue")
    wait_for_port(port)
    child_pid = fetch_json(f"http://127.0.0.1:{port}/")["pid"]
    record = target.process("blue")
    assert record is not None and child_pid != record.pid
    target.stop("blue")
    assert not port_in_use(port)
    child = procfs.read_stat(int(str(child_pid)))
    assert child is None or child.is_zombie  # exited; init may not have reaped it yet


def test_recycled_pid_is_not_ours(tmp_path: Path, base_env: dict[str, str]) -> None:
    target = make_process_target(tmp_path, base_env)
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        stat = procfs.read_stat(stranger.pid)
        assert stat is not None
        # A pid file naming the stranger's pid, as if our app had died and the
        # kernel had handed its pid on: only the start time tells them apart.
        target.pid_file("blue").parent.mkdir(parents=True)
        target.pid_file("blue").write_text(
            json.dumps(
                {
                    "pid": stranger.pid,
                    "start_time": stat.start_time - 1,
                    "boot_id": procfs.boot_id(),
                    "full_version": "1.0.0",
                    "version": "1.0.0",
                }
            )
        )
        assert not target.is_running("blue")
        assert target.running_version("blue") is None
        target.stop("blue")
        assert stranger.poll() is None, "stop() signalled a process that is not ours"
        assert not target.pid_file("blue").exists()
    finally:
        stranger.kill()
        stranger.wait()


STARTER = textwrap.dedent(
    """
    import sys
    from shipmate.domain.deploy.config import parse_deploy_config
    from shipmate.engine.release import Release
    from shipmate.engine.targets.factory import build_target
    import json
    config = parse_deploy_config(json.loads(sys.argv[1]))
    target = build_target(config, product="api", state_dir=sys.argv[2])
    target.start(Release.of("api", "1.0.0", 3), "blue")
    """
)


def test_app_outlives_the_shipmate_process(tmp_path: Path, base_env: dict[str, str]) -> None:
    port = free_port()
    table = {
        "slots": {"blue": port, "green": free_port()},
        "target": {"type": "process", "command": [*DEMOAPP, "--port", "{port}"]},
        "switch": {"type": "command", "command": "true"},
    }
    state = str(tmp_path / "state")
    subprocess.run(
        [sys.executable, "-c", STARTER, json.dumps(table), state], env=base_env, check=True
    )
    target = build_target(parse_deploy_config(table), product="api", state_dir=state)
    try:
        wait_for_port(port)
        assert target.is_running("blue")
        assert fetch_json(f"http://127.0.0.1:{port}/version")["full_version"] == "1.0.0+build.3"
    finally:
        target.stop("blue")
    assert not port_in_use(port)


def test_port_taken_by_a_stranger_is_refused(tmp_path: Path, base_env: dict[str, str]) -> None:
    target = make_process_target(tmp_path, base_env)
    port = target.context.port("blue")
    with running_demoapp(port, version="0.0.1"):
        with pytest.raises(DeployError) as caught:
            target.start(V1, "blue")
        assert caught.value.field == "deploy.slots.blue"
        assert str(port) in caught.value.message
    assert not target.is_running("blue")


def test_process_artifact_checks(tmp_path: Path, base_env: dict[str, str]) -> None:
    releases = tmp_path / "releases"
    (releases / "1.0.0").mkdir(parents=True)
    target = make_process_target(
        tmp_path, base_env, artifact=str(releases / "{version}"), cwd=str(releases / "{version}")
    )
    target.check_artifact(V1)
    with pytest.raises(ArtifactMissingError) as caught:
        target.check_artifact(V2)
    assert caught.value.field == "deploy.target.artifact"
    assert str(releases / "2.0.0") in caught.value.message
    with pytest.raises(ArtifactMissingError) as started:
        target.start(V2, "blue")
    assert started.value.field == "deploy.target.cwd"
    missing = make_process_target(tmp_path, base_env, command="no-such-program-xyz --port {port}")
    with pytest.raises(ArtifactMissingError) as not_found:
        missing.check_artifact(V1)
    assert "no-such-program-xyz" in not_found.value.message


# ------------------------------------------------------------------ docker target (fake CLI)

FAKE_DOCKER = """#!{python}
import json, os, sys
from pathlib import Path
state = Path({state!r})
(state / "containers").mkdir(parents=True, exist_ok=True)
(state / "images").mkdir(parents=True, exist_ok=True)
args = sys.argv[1:]
with open(state / "calls.jsonl", "a") as log:
    env = {{k: v for k, v in os.environ.items() if k.startswith(("SHIPMATE_", "PORT", "DBOS"))}}
    log.write(json.dumps({{"args": args, "env": env}}) + "\\n")
def container(name):
    return state / "containers" / name
if args[:2] == ["image", "inspect"]:
    if (state / "images" / args[2].replace("/", "_")).exists():
        print("[{{}}]"); sys.exit(0)
    print("Error: No such image: " + args[2], file=sys.stderr); sys.exit(1)
if args[0] == "pull":
    if args[1] in (state / "registry").read_text().split():
        (state / "images" / args[1].replace("/", "_")).touch(); sys.exit(0)
    print("Error response from daemon: manifest unknown", file=sys.stderr); sys.exit(1)
if args[0] == "run":
    name = args[args.index("--name") + 1]
    labels = dict(a.split("=", 1) for a in args if a.startswith("shipmate."))
    container(name).write_text(json.dumps({{"running": True, "labels": labels}}))
    print("c0ffee"); sys.exit(0)
if args[0] == "inspect":
    name = args[-1]
    if not container(name).exists():
        print("Error: No such object: " + name, file=sys.stderr); sys.exit(1)
    data = json.loads(container(name).read_text())
    if "State.Running" in args[2]:
        print("true" if data["running"] else "false")
    else:
        print(data["labels"].get("shipmate.full_version", "<no value>"))
    sys.exit(0)
if args[0] == "stop":
    name = args[-1]
    if container(name).exists():
        data = json.loads(container(name).read_text()); data["running"] = False
        container(name).write_text(json.dumps(data)); sys.exit(0)
    print("Error: No such container: " + name, file=sys.stderr); sys.exit(1)
if args[0] == "rm":
    name = args[-1]
    if container(name).exists():
        container(name).unlink()
    sys.exit(0)
sys.exit(2)
"""


@pytest.fixture
def fake_docker(tmp_path: Path) -> tuple[Path, Path]:
    state = tmp_path / "docker-state"
    state.mkdir()
    (state / "registry").write_text("ghcr.io/acme/api:3.0.0\n")
    script = tmp_path / "docker"
    script.write_text(FAKE_DOCKER.format(python=sys.executable, state=str(state)))
    script.chmod(0o755)
    return script, state


def docker_calls(state: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]


def make_docker_target(tmp_path: Path, script: Path, product: str = "api", **extra: Any) -> Any:
    table = {
        "slots": {"blue": 18001, "green": 18002},
        "target": {
            "type": "docker",
            "image": "ghcr.io/acme/api:{version}",
            "docker_bin": str(script),
            "run_args": ["--memory", "256m"],
            "args": ["serve", "--port", "{port}"],
            "env": {"LOG_LEVEL": "info"},
            **extra,
        },
        "switch": {"type": "command", "command": "true"},
    }
    return build_target(parse_deploy_config(table), product=product, state_dir=str(tmp_path / "s"))


def test_docker_artifact_check_and_pull(tmp_path: Path, fake_docker: tuple[Path, Path]) -> None:
    script, state = fake_docker
    target = make_docker_target(tmp_path, script)
    assert isinstance(target, DockerTarget)
    with pytest.raises(ArtifactMissingError) as caught:
        target.check_artifact(V1)
    assert "No such image: ghcr.io/acme/api:1.0.0" in caught.value.message
    assert caught.value.field == "deploy.target.image"
    pulling = make_docker_target(tmp_path, script, pull_command="{docker_bin} pull {image}")
    pulling.check_artifact(Release.of("api", "3.0.0"))
    with pytest.raises(ArtifactMissingError) as gone:
        pulling.check_artifact(V1)
    assert "manifest unknown" in gone.value.message
    assert [c["args"][:2] for c in docker_calls(state)][-2:] == [
        ["image", "inspect"],
        ["pull", "ghcr.io/acme/api:1.0.0"],
    ]


def test_docker_start_stop(tmp_path: Path, fake_docker: tuple[Path, Path]) -> None:
    script, state = fake_docker
    target = make_docker_target(tmp_path, script, product="acme/api")
    release = Release.of("acme/api", "1.0.0", 3)
    target.start(release, "green")
    assert target.is_running("green")
    assert not target.is_running("blue")
    assert target.running_version("green") == "1.0.0+build.3"
    run = next(c for c in docker_calls(state) if c["args"][0] == "run")
    args = run["args"]
    assert args[args.index("--name") + 1] == "acme-api-green"
    assert args[args.index("--publish") + 1] == "127.0.0.1:18002:18002"
    assert "shipmate.full_version=1.0.0+build.3" in args
    env_names = [args[i + 1] for i, a in enumerate(args) if a == "--env"]
    assert set(env_names) >= {
        "SHIPMATE_VERSION",
        "SHIPMATE_FULL_VERSION",
        "SHIPMATE_SLOT",
        "PORT",
        "DBOS__APPVERSION",
        "LOG_LEVEL",
    }
    assert args[args.index("ghcr.io/acme/api:1.0.0") :] == [
        "ghcr.io/acme/api:1.0.0",
        "serve",
        "--port",
        "18002",
    ]
    assert args[args.index("--memory") + 1] == "256m"
    assert run["env"]["SHIPMATE_FULL_VERSION"] == "1.0.0+build.3"
    assert run["env"]["DBOS__APPVERSION"] == "1.0.0+build.3"
    assert run["env"]["PORT"] == "18002"

    runs_before = sum(c["args"][0] == "run" for c in docker_calls(state))
    target.start(release, "green")  # already running that version: nothing to do
    assert sum(c["args"][0] == "run" for c in docker_calls(state)) == runs_before

    target.stop("green")
    assert not target.is_running("green")
    assert target.running_version("green") is None
    tail = [c["args"][0] for c in docker_calls(state)][-4:]
    assert tail[:2] == ["stop", "rm"]
    stop = [c["args"] for c in docker_calls(state) if c["args"][0] == "stop"][-1]
    assert stop == ["stop", "--time", "10", "acme-api-green"]
    target.stop("green")  # empty slot: no error


def test_docker_run_failure_reports_dockers_words(tmp_path: Path) -> None:
    script = tmp_path / "docker"
    script.write_text(
        "#!/bin/sh\necho 'docker: Error response from daemon: port is already allocated.' >&2\nexit 125\n"
    )
    script.chmod(0o755)
    target = make_docker_target(tmp_path, script)
    with pytest.raises(DeployError) as caught:
        target.start(V1, "blue")
    assert "port is already allocated" in caught.value.message
    assert caught.value.field == "deploy.target.run_command"


# ------------------------------------------------------------------ command target


def test_command_target(tmp_path: Path) -> None:
    state = tmp_path / "s"
    (state / "releases" / "1.0.0").mkdir(parents=True)
    table = {
        "target": {
            "type": "command",
            "start": [
                "sh",
                "-c",
                'echo "$SHIPMATE_FULL_VERSION $PORT $DBOS__APPVERSION" > "$1"',
                "-",
                "{state_dir}/{slot}.run",
            ],
            "stop": "rm -f {state_dir}/{slot}.run",
            "status": "test -f {state_dir}/{slot}.run",
            "artifact_check": "test -d {state_dir}/releases/{version}",
        },
        "switch": {"type": "command", "command": "true"},
    }
    target = build_target(parse_deploy_config(table), product="api", state_dir=str(state))
    assert isinstance(target, CommandTarget)
    target.check_artifact(V1)
    with pytest.raises(ArtifactMissingError) as caught:
        target.check_artifact(V2)
    assert "test -d" in caught.value.message
    target.start(V1, "blue")
    assert (state / "blue.run").read_text().split() == ["1.0.0+build.3", "8001", "1.0.0+build.3"]
    assert target.is_running("blue")
    assert target.running_version("blue") == "1.0.0+build.3"
    assert target.running_version("green") is None
    target.stop("blue")
    assert not target.is_running("blue")
    assert target.running_version("blue") is None


def test_command_target_start_failure(tmp_path: Path) -> None:
    table = {
        "target": {
            "type": "command",
            "start": ["sh", "-c", "echo unit api@$0 failed >&2; exit 3", "{slot}"],
            "stop": "true",
            "status": "false",
        },
        "switch": {"type": "command", "command": "true"},
    }
    target = build_target(parse_deploy_config(table), product="api", state_dir=str(tmp_path))
    with pytest.raises(DeployError) as caught:
        target.start(V1, "green")
    assert "unit api@green failed" in caught.value.message
    assert "status 3" in caught.value.message
    assert not (tmp_path / "api" / "green" / "release.json").exists()
