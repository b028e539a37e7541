"""A private nginx on loopback: its own config, pid, logs and temp folders in one folder.

Used by the tests, the benchmarks and the demo, never by a real deployment::

    server = NginxServer(folder)            # picks a free 127.0.0.1 port (address= another)
    server.start(upstream_port=8001)        # writes upstream.conf, starts the master
    server.get("/version")                  # -> (200, '{"version": ...}')
    server.switch_table()                   # a [deploy.switch] table aimed at it
    server.stop()

The config includes ``upstream.conf`` (upstream ``app``) and proxies every request
to it, so an nginx switch writing that file moves this server's traffic.  Stopping
signals the master from its pid file (``nginx -s`` would need a valid config, and a
test may have broken it on purpose).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from shipmate.demo.ports import free_port

__all__ = ["NginxServer", "find_nginx", "free_port", "wait_for_port"]

_SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])


def find_nginx() -> str | None:
    """The nginx binary (sbin folders included), or None."""
    return shutil.which("nginx", path=_SEARCH)


def wait_for_port(port: int, *, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    """Block until ``host:port`` accepts a connection; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {host}:{port} after {timeout}s")


class NginxServer:
    def __init__(
        self,
        folder: Path,
        *,
        upstream_name: str = "app",
        port: int | None = None,
        nginx_bin: str | None = None,
        address: str = "127.0.0.1",
    ) -> None:
        found = nginx_bin or find_nginx()
        if found is None:
            raise FileNotFoundError("nginx is not installed (apt-get install nginx-light)")
        self.nginx_bin = found
        # Absolute: nginx resolves relative paths in -c and its config against its prefix.
        self.dir = folder.resolve() / "nginx"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "nginx.conf"
        self.upstream_file = self.dir / "upstream.conf"
        self.pid_file = self.dir / "nginx.pid"
        self.error_log = self.dir / "error.log"
        self.upstream_name = upstream_name
        #: The loopback address nginx listens on (``127.0.0.2`` plays a second host).
        self.address = address
        self.port = port or free_port(address)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def write_config(self) -> None:
        temp = self.dir / "temp"
        for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (temp / name).mkdir(parents=True, exist_ok=True)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        self.conf.write_text(
            f"""daemon on;
{user}pid {self.pid_file};
error_log {self.error_log} info;
worker_processes 2;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {self.upstream_file};
    server {{
        listen {self.address}:{self.port};
        location / {{
            proxy_pass http://{self.upstream_name};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
""",
            encoding="utf-8",
        )

    def write_upstream(self, port: int) -> None:
        self.upstream_file.write_text(
            f"upstream {self.upstream_name} {{\n    server 127.0.0.1:{port};\n}}\n",
            encoding="utf-8",
        )

    def start(self, upstream_port: int | None = None) -> None:
        """Start the master; ``upstream_port`` writes an initial upstream.conf."""
        self.write_config()
        if upstream_port is not None:
            self.write_upstream(upstream_port)
        elif not self.upstream_file.exists():
            self.write_upstream(9)
        result = subprocess.run(
            [self.nginx_bin, "-c", str(self.conf)], capture_output=True, text=True, timeout=30
        )
        if result.returncode != 0:
            raise AssertionError(f"nginx did not start: {result.stderr}")
        wait_for_port(self.port, host=self.address)

    def master_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def stop(self) -> None:
        pid = self.master_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def get(self, path: str = "/", timeout: float = 5.0) -> tuple[int, str]:
        conn = http.client.HTTPConnection(self.address, self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            return response.status, response.read().decode("utf-8", errors="replace")
        finally:
            conn.close()

    def switch_table(self) -> dict[str, Any]:
        """A ``[deploy.switch]`` table that drives this server."""
        return {
            "type": "nginx",
            "upstream_file": str(self.upstream_file),
            "upstream_name": self.upstream_name,
            "nginx_bin": self.nginx_bin,
            "nginx_conf": str(self.conf),
        }


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")
