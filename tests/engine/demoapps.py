"""Starting the sample app (``python -m shipmate.demo.app``) as a real process in tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.engine.nginxctl import wait_for_port

__all__ = ["DEMOAPP", "fetch_json", "running_demoapp", "start_demoapp", "stop_process"]

#: The command that runs the sample app with this interpreter.
DEMOAPP = (sys.executable, "-m", "shipmate.demo.app")
_ROOT = str(Path(__file__).resolve().parents[2])


def demo_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment, with the checkout importable and the app's request log quiet."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_ROOT, env.get("PYTHONPATH")]))
    env["DEMOAPP_QUIET"] = "1"
    env.update(extra or {})
    return env


def start_demoapp(
    port: int, *, version: str, slot: str = "blue", env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [*DEMOAPP, "--port", str(port)],
        env=demo_env(
            {
                "SHIPMATE_VERSION": version,
                "SHIPMATE_FULL_VERSION": version,
                "SHIPMATE_SLOT": slot,
                **(env or {}),
            }
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
    except AssertionError:
        stop_process(proc)
        raise
    return proc


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def running_demoapp(
    port: int, *, version: str, slot: str = "blue", env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_demoapp(port, version=version, slot=slot, env=env)
    try:
        yield proc
    finally:
        stop_process(proc)


def fetch_json(url: str, timeout: float = 5.0) -> dict[str, object]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as response:
        data: dict[str, object] = json.loads(response.read())
        return data
