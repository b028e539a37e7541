"""Switches: a real private nginx in front of two sample apps; symlinks under concurrent readers."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shipmate.domain.deploy.config import parse_deploy_config
from shipmate.engine.release import Release
from shipmate.engine.switches import nginxworkers
from shipmate.engine.switches.factory import (
    CommandSwitch,
    SymlinkSwitch,
    build_switch,
)
from shipmate.engine.switches.nginx import NginxSwitch
from shipmate.errors import SwitchError
from tests.engine.demoapps import fetch_json, start_demoapp, stop_process
from tests.engine.nginxctl import NginxServer, free_port

V1 = Release.of("api", "1.0.0", 1)
V2 = Release.of("api", "2.0.0", 1)


@dataclass
class Stack:
    nginx: NginxServer
    blue: int
    green: int
    tmp: Path
    apps: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def switch(self, **switch: Any) -> NginxSwitch:
        table = {
            "slots": {"blue": self.blue, "green": self.green},
            "target": {"type": "process", "command": "unused"},
            "switch": {**self.nginx.switch_table(), **switch},
            "public_url": self.nginx.url,
        }
        built = build_switch(parse_deploy_config(table), product="api", state_dir=str(self.tmp))
        assert isinstance(built, NginxSwitch)
        return built

    def served(self) -> str:
        status, body = self.nginx.get("/version")
        assert status == 200, body
        return str(json.loads(body)["full_version"])

    def wait_served(self, full_version: str, timeout: float = 15.0) -> None:
        """Until nginx's new workers (after a reload) answer with ``full_version``."""
        # Old workers may still answer for a moment after `nginx -s reload` returns:
        # wait for ten answers in a row from the new version.
        deadline = time.monotonic() + timeout
        in_a_row = 0
        while in_a_row < 10:
            assert time.monotonic() < deadline, f"nginx never steadily served {full_version}"
            if self.served() == full_version:
                in_a_row += 1
            else:
                in_a_row = 0
                time.sleep(0.02)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    nginx = NginxServer(tmp_path)
    blue, green = free_port(), free_port()
    apps = [
        start_demoapp(blue, version=V1.full_version, slot="blue"),
        start_demoapp(green, version=V2.full_version, slot="green"),
    ]
    try:
        nginx.start(upstream_port=blue)
        yield Stack(nginx, blue, green, tmp_path, apps)
    finally:
        nginx.stop()
        for app in apps:
            stop_process(app)


# ------------------------------------------------------------------ nginx


def test_switch_blue_to_green_and_back(stack: Stack) -> None:
    switch = stack.switch()
    assert stack.served() == V1.full_version
    hand_written = switch.current()
    assert hand_written is not None and hand_written.slot is None  # no shipmate marker

    result = switch.switch_to(V2, "green", stack.green)
    assert result.previous == hand_written
    assert result.current.slot == "green" and result.current.port == stack.green
    assert "syntax is ok" in result.detail
    stack.wait_served(V2.full_version)
    now = switch.current()
    assert now is not None
    assert (now.slot, now.version, now.full_version) == ("green", "2.0.0", "2.0.0+build.1")
    text = stack.nginx.upstream_file.read_text()
    assert text.startswith("# shipmate: ")
    assert f"server 127.0.0.1:{stack.green};" in text
    assert not [p for p in stack.nginx.upstream_file.parent.iterdir() if ".tmp-" in p.name]

    back = switch.restore(hand_written)
    assert back.current.content == hand_written.content
    stack.wait_served(V1.full_version)
    assert stack.nginx.upstream_file.read_text() == hand_written.content


def test_wait_settled_returns_once_the_previous_workers_are_gone(stack: Stack) -> None:
    switch = stack.switch()
    assert nginxworkers.pid_file_of(stack.nginx.nginx_bin, str(stack.nginx.conf)) == (
        stack.nginx.pid_file
    )
    assert switch.master_pid() == stack.nginx.master_pid()
    before = {w.pid for w in nginxworkers.workers(stack.nginx.master_pid() or 0)}
    assert before and all(
        not w.shutting_down for w in nginxworkers.workers(stack.nginx.master_pid() or 0)
    )
    # A slow request in flight on an old worker keeps that worker, and so blue, in use.
    answered: list[int] = []
    slow = threading.Thread(target=lambda: answered.append(stack.nginx.get("/slow?seconds=1")[0]))
    slow.start()
    deadline = time.monotonic() + 15
    while fetch_json(f"http://127.0.0.1:{stack.blue}/inflight")["in_flight"] == 0:
        assert time.monotonic() < deadline, "the slow request never reached blue"
        time.sleep(0.01)
    switch.switch_to(V2, "green", stack.green)
    note = switch.wait_settled(timeout=30)
    still = {w.pid for w in nginxworkers.workers(stack.nginx.master_pid() or 0)}
    assert not (before & still), "a worker of the previous configuration is still running"
    assert "nginx's previous workers have exited (" in note
    stack.apps[0].kill()  # blue dies at once: nothing may still be waiting for it
    slow.join(timeout=15)
    assert answered == [200]
    assert switch.wait_settled(timeout=30) == ""  # nothing left to wait for
    stack.wait_served(V2.full_version)


def test_switch_to_the_current_slot_again_is_harmless(stack: Stack) -> None:
    switch = stack.switch()
    switch.switch_to(V2, "green")
    again = switch.switch_to(V2, "green")
    assert again.previous is not None and again.previous.slot == "green"
    stack.wait_served(V2.full_version)


def test_wrong_port_for_slot_is_refused(stack: Stack) -> None:
    with pytest.raises(SwitchError):
        stack.switch().switch_to(V2, "green", stack.blue)


def test_zero_failed_requests_through_five_switches(stack: Stack) -> None:
    switch = stack.switch()
    stop = threading.Event()
    failures: list[str] = []
    seen: dict[str, int] = {}
    count = 0
    lock = threading.Lock()

    def hammer() -> None:
        nonlocal count
        give_up = time.monotonic() + 120
        while not stop.is_set() and count < 50_000 and time.monotonic() < give_up:
            conn = http.client.HTTPConnection("127.0.0.1", stack.nginx.port, timeout=10)
            try:
                conn.request("GET", "/version", headers={"Connection": "close"})
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    failures.append(f"HTTP {response.status}: {body[:100]!r}")
                else:
                    version = json.loads(body)["full_version"]
                    with lock:
                        seen[version] = seen.get(version, 0) + 1
            except (OSError, http.client.HTTPException, ValueError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
            finally:
                conn.close()
            with lock:
                count += 1

    clients = [threading.Thread(target=hammer) for _ in range(4)]
    for client in clients:
        client.start()
    try:
        for release, slot in [(V2, "green"), (V1, "blue")] * 2 + [(V2, "green")]:
            switch.switch_to(release, slot)
            stack.wait_served(release.full_version)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=60)
    assert not any(client.is_alive() for client in clients)
    assert count > 0
    assert failures == []
    assert set(seen) == {V1.full_version, V2.full_version}


def test_broken_template_keeps_the_previous_file_and_traffic(stack: Stack) -> None:
    good = stack.switch()
    good.switch_to(V2, "green")
    stack.wait_served(V2.full_version)
    before = stack.nginx.upstream_file.read_text()

    broken = stack.switch(template="upstream {upstream_name} {\n    servr 127.0.0.1:{port};\n}\n")
    with pytest.raises(SwitchError) as caught:
        broken.switch_to(V1, "blue")
    error = caught.value
    assert 'unknown directive "servr"' in error.message  # nginx's own words
    assert 'unknown directive "servr"' in error.details["stderr"]
    assert "previous file is back" in error.message
    assert error.field == "deploy.switch.template"
    assert stack.nginx.upstream_file.read_text() == before
    assert not [p for p in stack.nginx.upstream_file.parent.iterdir() if ".tmp-" in p.name]
    for _ in range(20):
        assert stack.served() == V2.full_version
    current = good.current()
    assert current is not None and current.slot == "green"


def test_failed_reload_puts_the_file_back(stack: Stack) -> None:
    switch = stack.switch()
    before = stack.nginx.upstream_file.read_text()
    stack.nginx.stop()
    stack.nginx.pid_file.unlink(missing_ok=True)
    with pytest.raises(SwitchError) as caught:
        switch.switch_to(V2, "green")
    assert caught.value.field == "deploy.switch.reload_command"
    assert "nginx.pid" in caught.value.message  # nginx says which pid file it could not open
    assert stack.nginx.upstream_file.read_text() == before


# ------------------------------------------------------------------ symlink


def symlink_switch(tmp_path: Path) -> SymlinkSwitch:
    table = {
        "target": {"type": "process", "command": "unused"},
        "switch": {
            "type": "symlink",
            "link": "{state_dir}/app/current",
            "releases_dir": "{state_dir}/app/releases",
        },
    }
    built = build_switch(parse_deploy_config(table), product="api", state_dir=str(tmp_path))
    assert isinstance(built, SymlinkSwitch)
    return built


def test_symlink_switch_and_restore(tmp_path: Path) -> None:
    releases = tmp_path / "app" / "releases"
    (releases / "1.0.0").mkdir(parents=True)
    (releases / "2.0.0").mkdir()
    switch = symlink_switch(tmp_path)
    link = tmp_path / "app" / "current"
    assert switch.current() is None

    first = switch.switch_to(V1, "blue")
    assert first.previous is None
    assert os.readlink(link) == str(releases / "1.0.0")
    second = switch.switch_to(V2, "green")
    assert second.previous is not None and second.previous.version == "1.0.0"
    assert os.readlink(link) == str(releases / "2.0.0")
    current = switch.current()
    assert current is not None and (current.slot, current.full_version) == (
        "green",
        "2.0.0+build.1",
    )

    switch.restore(second.previous)
    assert os.readlink(link) == str(releases / "1.0.0")
    restored = switch.current()
    assert restored is not None and restored.version == "1.0.0"

    with pytest.raises(SwitchError) as caught:
        switch.switch_to(Release.of("api", "3.0.0"), "green")
    assert caught.value.field == "deploy.switch.target_template"
    assert os.readlink(link) == str(releases / "1.0.0")
    assert sorted(p.name for p in link.parent.iterdir()) == ["current", "releases"]


def test_symlink_refuses_a_real_folder(tmp_path: Path) -> None:
    (tmp_path / "app" / "releases" / "1.0.0").mkdir(parents=True)
    (tmp_path / "app" / "current").mkdir()
    switch = symlink_switch(tmp_path)
    with pytest.raises(SwitchError) as caught:
        switch.switch_to(V1, "blue")
    assert caught.value.field == "deploy.switch.link"
    assert (tmp_path / "app" / "current").is_dir()


def test_symlink_switch_is_atomic_under_concurrent_readers(tmp_path: Path) -> None:
    releases = tmp_path / "app" / "releases"
    for name in ("1.0.0", "2.0.0"):
        (releases / name).mkdir(parents=True)
        (releases / name / "VERSION").write_text(name)
    switch = symlink_switch(tmp_path)
    link = tmp_path / "app" / "current"
    switch.switch_to(V1, "blue")
    stop = threading.Event()
    missing: list[str] = []
    reads = 0
    seen: set[str] = set()

    def reader() -> None:
        nonlocal reads
        while not stop.is_set() or reads < 5000:
            try:
                seen.add((link / "VERSION").read_text())
            except OSError as exc:
                missing.append(f"{type(exc).__name__}: {exc}")
            reads += 1
            if reads >= 200_000:
                break

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(400):
            switch.switch_to(V2 if i % 2 == 0 else V1, "green" if i % 2 == 0 else "blue")
    finally:
        stop.set()
        thread.join(timeout=60)
    assert reads >= 5000
    assert missing == []
    assert seen == {"1.0.0", "2.0.0"}
    assert sorted(p.name for p in link.parent.iterdir()) == ["current", "releases"]


# ------------------------------------------------------------------ command


def test_command_switch(tmp_path: Path) -> None:
    routed = tmp_path / "routed"
    table = {
        "target": {"type": "process", "command": "unused"},
        "switch": {
            "type": "command",
            "command": [
                "sh",
                "-c",
                'echo "$1" > "$2"',
                "-",
                "{slot}:{port}:{full_version}",
                str(routed),
            ],
        },
    }
    switch = build_switch(parse_deploy_config(table), product="api", state_dir=str(tmp_path))
    assert isinstance(switch, CommandSwitch)
    assert switch.current() is None
    switch.switch_to(V1, "blue")
    result = switch.switch_to(V2, "green")
    assert routed.read_text().strip() == "green:8002:2.0.0+build.1"
    assert result.previous is not None
    switch.restore(result.previous)
    assert routed.read_text().strip() == "blue:8001:1.0.0+build.1"
    current = switch.current()
    assert current is not None and current.slot == "blue"


def test_command_switch_failure_carries_the_output(tmp_path: Path) -> None:
    table = {
        "target": {"type": "process", "command": "unused"},
        "switch": {"type": "command", "command": ["sh", "-c", "echo 'lb said no' >&2; exit 1"]},
    }
    switch = build_switch(parse_deploy_config(table), product="api", state_dir=str(tmp_path))
    with pytest.raises(SwitchError) as caught:
        switch.switch_to(V1, "blue")
    assert "lb said no" in caught.value.message
    assert switch.current() is None
