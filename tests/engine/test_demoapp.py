"""The sample app: identity from the environment, health knobs, graceful SIGTERM."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time

from tests.engine.demoapps import fetch_json, start_demoapp, stop_process
from tests.engine.nginxctl import free_port


def test_reports_identity_and_health() -> None:
    port = free_port()
    proc = start_demoapp(
        port,
        version="1.4.0",
        slot="green",
        env={"SHIPMATE_FULL_VERSION": "1.4.0+build.7", "DBOS__APPVERSION": "1.4.0+build.7"},
    )
    try:
        for path in ("/", "/version"):
            data = fetch_json(f"http://127.0.0.1:{port}{path}")
            assert data["version"] == "1.4.0"
            assert data["full_version"] == "1.4.0+build.7"
            assert data["slot"] == "green"
            assert data["app_version"] == "1.4.0+build.7"
            assert data["pid"] == proc.pid
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"ok\n")
        conn.close()
    finally:
        stop_process(proc)
    assert proc.returncode == 0


def test_port_from_env() -> None:
    port = free_port()
    import subprocess

    from tests.engine.demoapps import DEMOAPP, demo_env
    from tests.engine.nginxctl import wait_for_port

    proc = subprocess.Popen([*DEMOAPP], env=demo_env({"PORT": str(port), "SHIPMATE_VERSION": "9"}))
    try:
        wait_for_port(port)
        assert fetch_json(f"http://127.0.0.1:{port}/")["version"] == "9"
    finally:
        stop_process(proc)


def test_sigterm_finishes_requests_in_flight() -> None:
    port = free_port()
    proc = start_demoapp(port, version="1.0.0")
    result: dict[str, object] = {}

    def slow_request() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", "/slow?seconds=1.5")
            response = conn.getresponse()
            result["status"] = response.status
            result["body"] = json.loads(response.read())
        except OSError as exc:
            result["error"] = repr(exc)
        finally:
            conn.close()

    client = threading.Thread(target=slow_request)
    client.start()
    deadline = time.monotonic() + 20
    while fetch_json(f"http://127.0.0.1:{port}/inflight")["in_flight"] != 1:
        assert time.monotonic() < deadline, "the slow request never arrived"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    client.join(timeout=30)
    assert proc.wait(timeout=30) == 0
    assert result.get("status") == 200, result
    assert result["body"]["version"] == "1.0.0"  # type: ignore[index]
