"""Health checks against real loopback servers, and the retry loop with a fake clock."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shipmate.domain.deploy.config import parse_deploy_config
from shipmate.engine.fakes import FakeHealthCheck
from shipmate.engine.health import (
    CommandHealthCheck,
    HttpHealthCheck,
    TcpHealthCheck,
    build_health_check,
    wait_for_health,
)
from shipmate.engine.release import DeployContext, Release
from shipmate.errors import HealthCheckError
from tests.engine.demoapps import running_demoapp
from tests.engine.nginxctl import free_port


class Scripted(BaseHTTPRequestHandler):
    """Answers with the server's ``status``/``body``, after ``delay`` seconds."""

    server: Any

    def do_GET(self) -> None:
        # Note the path before answering: the client may check it the moment it has the reply.
        self.server.paths.append(self.path)
        if self.server.delay:
            time.sleep(self.server.delay)
        data = self.server.body.encode()
        self.send_response(self.server.status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server:
    def __init__(self, status: int = 200, body: str = "ok", delay: float = 0.0) -> None:
        httpd: Any = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
        self.httpd = httpd
        self.httpd.status, self.httpd.body, self.httpd.delay = status, body, delay
        self.httpd.paths = []
        self.httpd.daemon_threads = True
        self.port: int = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.close()


# ------------------------------------------------------------------ http


def test_http_passes_on_expected_status_and_body(server: Server) -> None:
    server.httpd.body = "status: ok, version 1.2.0+build.4"
    check = HttpHealthCheck(
        f"http://127.0.0.1:{server.port}/healthz?deep=1", body_contains="1.2.0+build.4"
    )
    ok, detail = check.check_once()
    assert ok, detail
    assert detail == f"HTTP 200 from http://127.0.0.1:{server.port}/healthz?deep=1"
    assert server.httpd.paths == ["/healthz?deep=1"]


def test_http_wrong_status_reports_status_and_body(server: Server) -> None:
    server.httpd.status, server.httpd.body = 503, "database   down\n"
    ok, detail = HttpHealthCheck(f"http://127.0.0.1:{server.port}/").check_once()
    assert not ok
    assert "HTTP 503 (expected 200)" in detail
    assert detail.endswith(": database down")
    ok, _ = HttpHealthCheck(f"http://127.0.0.1:{server.port}/", expected_status=503).check_once()
    assert ok


def test_http_body_mismatch(server: Server) -> None:
    ok, detail = HttpHealthCheck(
        f"http://127.0.0.1:{server.port}/", body_contains="2.0.0"
    ).check_once()
    assert not ok
    assert "lacks '2.0.0'" in detail


def test_http_connection_refused() -> None:
    port = free_port()
    ok, detail = HttpHealthCheck(f"http://127.0.0.1:{port}/").check_once()
    assert not ok
    assert detail == f"connection refused by 127.0.0.1:{port}"


def test_http_per_try_timeout() -> None:
    slow = Server(delay=2.0)
    try:
        ok, detail = HttpHealthCheck(f"http://127.0.0.1:{slow.port}/", timeout=0.2).check_once()
    finally:
        slow.close()
    assert not ok
    assert "within 0.2s" in detail


def test_http_ignores_proxy_settings(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    ok, detail = HttpHealthCheck(f"http://127.0.0.1:{server.port}/").check_once()
    assert ok, detail


def test_demoapp_fail_after_and_unhealthy() -> None:
    port = free_port()
    with running_demoapp(port, version="1.0.0", env={"DEMOAPP_FAIL_AFTER": "1"}):
        check = HttpHealthCheck(f"http://127.0.0.1:{port}/healthz")
        assert check.check_once()[0]
        deadline = time.monotonic() + 20
        while check.check_once()[0]:
            assert time.monotonic() < deadline, "DEMOAPP_FAIL_AFTER never took effect"
            time.sleep(0.1)
        assert "HTTP 500" in check.check_once()[1]
    port = free_port()
    with running_demoapp(port, version="1.0.0", env={"DEMOAPP_UNHEALTHY": "1"}):
        ok, detail = HttpHealthCheck(f"http://127.0.0.1:{port}/healthz").check_once()
        assert not ok and "HTTP 500" in detail


# ------------------------------------------------------------------ tcp and command


def test_tcp() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        ok, detail = TcpHealthCheck("127.0.0.1", port).check_once()
        assert ok, detail
    ok, detail = TcpHealthCheck("127.0.0.1", port, timeout=0.5).check_once()
    assert not ok
    assert f"127.0.0.1:{port}" in detail


def test_command(tmp_path: Path) -> None:
    assert CommandHealthCheck(["sh", "-c", "echo fine"]).check_once() == (True, "fine")
    ok, detail = CommandHealthCheck(["sh", "-c", "echo boom >&2; exit 4"]).check_once()
    assert not ok
    assert "status 4" in detail and "boom" in detail
    ok, detail = CommandHealthCheck(["sleep", "5"], timeout=0.3).check_once()
    assert not ok and "did not finish in time" in detail
    ok, detail = CommandHealthCheck(["no-such-tool-xyz"]).check_once()
    assert not ok and "command not found" in detail


# ------------------------------------------------------------------ waiting


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_until_healthy_counts_attempts() -> None:
    clock = Clock()
    seen: list[tuple[int, bool]] = []
    result = FakeHealthCheck([False, False, True]).wait_healthy(
        attempts=20,
        interval=3,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        progress=lambda n, ok, _d: seen.append((n, ok)),
    )
    assert result.ok and result.attempts == 3
    assert result.elapsed == 6.0
    assert clock.sleeps == [3, 3]
    assert seen == [(1, False), (2, False), (3, True)]


def test_never_healthy_raises_with_last_detail() -> None:
    clock = Clock()
    check = FakeHealthCheck([(False, "HTTP 502 first"), (False, "HTTP 500 last")])
    with pytest.raises(HealthCheckError) as caught:
        check.wait_healthy(attempts=4, interval=3, sleep=clock.sleep, monotonic=clock.monotonic)
    error = caught.value
    assert error.details["attempts"] == 4
    assert error.details["detail"] == "HTTP 500 last"
    assert "after 4 attempts" in error.message and "HTTP 500 last" in error.message
    assert clock.sleeps == [3, 3, 3]  # no pause after the last try


def test_deadline_cuts_the_attempts() -> None:
    clock = Clock()
    with pytest.raises(HealthCheckError) as caught:
        FakeHealthCheck([False]).wait_healthy(
            attempts=10, interval=3, deadline=7, sleep=clock.sleep, monotonic=clock.monotonic
        )
    assert caught.value.details["attempts"] == 3  # tries at 0, 3 and 6 s
    assert clock.sleeps == [3, 3, 1]  # the last pause ends at the deadline


def test_give_up_ends_the_wait_early() -> None:
    clock = Clock()
    with pytest.raises(HealthCheckError) as caught:
        FakeHealthCheck([False]).wait_healthy(
            attempts=20,
            interval=3,
            sleep=clock.sleep,
            monotonic=clock.monotonic,
            give_up=lambda: "the process exited with status 1",
        )
    assert caught.value.details["attempts"] == 1
    assert "the process exited" in caught.value.message
    assert clock.sleeps == []


def test_wait_for_a_server_that_comes_up_late() -> None:
    port = free_port()
    pauses: list[float] = []
    holder: dict[str, Any] = {}

    def sleep(seconds: float) -> None:  # the server appears during the second pause
        pauses.append(seconds)
        if len(pauses) == 2:
            httpd: Any = ThreadingHTTPServer(("127.0.0.1", port), Scripted)
            httpd.status, httpd.body, httpd.delay, httpd.paths = 200, "ok", 0.0, []
            httpd.daemon_threads = True
            threading.Thread(target=httpd.serve_forever, daemon=True).start()
            holder["httpd"] = httpd

    try:
        result = HttpHealthCheck(f"http://127.0.0.1:{port}/").wait_healthy(
            attempts=5, interval=0.01, sleep=sleep
        )
    finally:
        if "httpd" in holder:
            holder["httpd"].shutdown()
            holder["httpd"].server_close()
    assert result.ok
    assert result.attempts == 3
    assert pauses == [0.01, 0.01]


def test_build_health_check_from_config_against_demoapp(tmp_path: Path) -> None:
    port = free_port()
    config = parse_deploy_config(
        {
            "slots": {"blue": port, "green": free_port()},
            "target": {"type": "process", "command": "x"},
            "health": {
                "url": "http://127.0.0.1:{port}/version",
                "body_contains": '"full_version": "{full_version}"',
                "attempts": 3,
                "interval": 0.1,
            },
            "switch": {"type": "command", "command": "true"},
        }
    )
    context = DeployContext.from_config(config, product="api", state_dir=str(tmp_path))
    release = Release.of("api", "1.0.0", 2)
    check = build_health_check(config.health, context, slot="blue", release=release)
    assert isinstance(check, HttpHealthCheck)
    assert check.url == f"http://127.0.0.1:{port}/version"
    with running_demoapp(port, version="1.0.0+build.2"):
        result = wait_for_health(config.health, check)
        assert result.ok and result.attempts == 1
        wrong = build_health_check(
            config.health, context, slot="blue", release=Release.of("api", "9.9.9")
        )
        with pytest.raises(HealthCheckError) as caught:
            wait_for_health(config.health, wrong, sleep=lambda _s: None)
        assert "9.9.9" in caught.value.message
        assert caught.value.details["attempts"] == 3
