"""A real ``shipmate serve`` in a subprocess on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from shipmate.demo.ports import free_port

__all__ = ["ServerProcess", "free_port"]


class ServerProcess:
    """``with ServerProcess(url) as server: server.base_url``."""

    def __init__(
        self,
        database_url: str,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        config_file: Path | None = None,
        module: str = "shipmate",
    ) -> None:
        """``module`` is what ``python -m`` runs with ``serve --port ...``: ``shipmate``,
        or the benchmarks' server with its baselines (``bench.rawapp``)."""
        self.module = module
        self.database_url = database_url
        self.workers = workers
        self.port = free_port()
        self.env = env or {}
        self.log_path = log_path
        self.config_file = config_file
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> ServerProcess:
        """Start the server and wait until /readyz answers 200.  The deadline is generous:
        on a loaded machine several workers importing the app take a while, and a
        server that is alive is only given up on after two minutes."""
        env = {**os.environ, **self.env, "SHIPMATE_DATABASE_URL": self.database_url}
        if self.config_file is not None:
            env["SHIPMATE_CONFIG"] = str(self.config_file)
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                self.module,
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"shipmate serve exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.base_url + "/readyz", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"shipmate serve did not become ready within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
