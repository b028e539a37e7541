"""A small real DBOS application, used to test drain checks and blue-green deploys.

Run it as its own process (``python tests/engine/dbos_app.py``); it is configured only
through the environment:

``DBOS_SYSTEM_DATABASE_URL`` (required)
    The DBOS system database, a SQLAlchemy URL: ``sqlite:////abs/path.sqlite`` or
    ``postgresql://user:pw@host:port/db``.  DBOS itself does not read this variable
    (only its CLI does), so the app passes it in the config.
``DBOS__APPVERSION``
    The application version every workflow started here is tagged with.  DBOS 3.x
    reads this variable itself at ``DBOS(config=...)``; the app also passes it as
    ``application_version`` so the behaviour does not depend on that.  Unset means
    DBOS's default (a hash of the workflow source), which a blue-green deploy must
    never rely on.
``DBOS__VMID``
    The executor ID.  Defaults to ``sample-<version>-<port>``: two processes launched
    on one system database with the same executor ID recover each other's work and
    run steps twice (dbos.md, E4), so every process gets its own.
``DBOS_SYSTEM_SCHEMA``
    PostgreSQL schema of the system tables (default ``dbos``).
``SAMPLE_APP_NAME``
    DBOS application name (default ``shipmate-sample``).
``SAMPLE_SQLITE_WAL``
    ``1`` switches a SQLite system database to WAL before DBOS launches.
``HOST`` / ``PORT``
    Where to listen (default ``127.0.0.1``; ``PORT`` is required).

HTTP interface:

``GET /healthz``
    ``200 {"status": "ok", "version": ..., "executor_id": ...}``.
``POST /start?seconds=N[&step=S][&until=PATH]``
    Starts one workflow whose durable steps sleep N seconds in total, in steps of at
    most S seconds (default 0.5), and answers ``202 {"workflow_id": ..., "version": ...}``
    once its status row is written.  With ``until``, the workflow instead keeps taking
    steps of S seconds until the file PATH exists (N seconds at most): a test decides
    when the work ends, instead of betting that N seconds outlast what it does meanwhile.
``POST /enqueue?seconds=N[&step=S][&delay=D][&app_version=V]``
    Enqueues the same workflow on the queue ``sample`` instead: ``delay`` makes it
    DELAYED for D seconds first; ``app_version`` pins it to another version, which
    only a process of that version dequeues (dbos.md, E3), so it stays ENQUEUED here.
    Answers like ``/start``.
``GET /workflows/<id>``
    ``200 {"workflow_id": ..., "status": ..., "version": ...}`` or 404.

SIGTERM or SIGINT stops the server, destroys DBOS (waiting up to
``SAMPLE_COMPLETION_TIMEOUT`` seconds, default 0, for running workflows) and exits;
workflows still running are left PENDING in the system database, as after a crash.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dbos import DBOS, DBOSConfig, SetEnqueueOptions

log = logging.getLogger("sample")

QUEUE = "sample"


@DBOS.step()
def nap(seconds: float) -> float:
    """One durable step: sleep, then checkpoint."""
    time.sleep(seconds)
    return seconds


@DBOS.step()
def released(path: str) -> bool:
    """One durable step: whether the test has created ``path`` yet."""
    return os.path.exists(path)


@DBOS.workflow()
def sleepy(seconds: float, step_seconds: float, until: str = "") -> int:
    """Sleep ``seconds`` in total, in checkpointed steps of at most ``step_seconds``;
    with ``until``, until that file exists (``seconds`` at most)."""
    steps = max(1, math.ceil(seconds / step_seconds))
    for index in range(steps):
        if until and released(until):
            return index
        nap(min(step_seconds, seconds - index * step_seconds))
    return steps


def _json(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _number(query: dict[str, list[str]], name: str, default: float | None) -> float:
    values = query.get(name)
    if not values:
        if default is None:
            raise ValueError(f"{name} is required")
        return default
    value = float(values[0])
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative number")
    return value


class Handler(BaseHTTPRequestHandler):
    server_version = "dbos-sample/1"

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/healthz":
            _json(
                self,
                200,
                {
                    "status": "ok",
                    "version": DBOS.application_version,
                    "executor_id": DBOS.executor_id,
                },
            )
            return
        if path.startswith("/workflows/"):
            workflow_id = path.removeprefix("/workflows/")
            status = DBOS.get_workflow_status(workflow_id)
            if status is None:
                _json(self, 404, {"error": f"no workflow {workflow_id}"})
                return
            _json(
                self,
                200,
                {
                    "workflow_id": workflow_id,
                    "status": status.status,
                    "version": status.app_version,
                },
            )
            return
        _json(self, 404, {"error": "not found"})

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        if parts.path not in ("/start", "/enqueue"):
            _json(self, 404, {"error": "not found"})
            return
        query = parse_qs(parts.query)
        try:
            seconds = _number(query, "seconds", None)
            step = _number(query, "step", 0.5)
            delay = _number(query, "delay", 0.0)
            if step <= 0:
                raise ValueError("step must be positive")
        except ValueError as exc:
            _json(self, 400, {"error": str(exc)})
            return
        if parts.path == "/start":
            until = query.get("until", [""])[0]
            handle = DBOS.start_workflow(sleepy, seconds, step, until)
        else:
            options = SetEnqueueOptions(
                app_version=query.get("app_version", [None])[0],
                delay_seconds=delay or None,
            )
            with options:
                handle = DBOS.enqueue_workflow(QUEUE, sleepy, seconds, step)
        _json(
            self,
            202,
            {"workflow_id": handle.workflow_id, "version": DBOS.application_version},
        )


def _enable_wal(url: str) -> None:
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise SystemExit("SAMPLE_SQLITE_WAL=1 needs a sqlite:/// system database URL")
    with sqlite3.connect(url.removeprefix(prefix)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
    connection.close()


def main() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    url = os.environ.get("DBOS_SYSTEM_DATABASE_URL")
    if not url:
        raise SystemExit("DBOS_SYSTEM_DATABASE_URL is required")
    port = int(os.environ["PORT"])
    host = os.environ.get("HOST", "127.0.0.1")
    version = os.environ.get("DBOS__APPVERSION") or None
    if os.environ.get("SAMPLE_SQLITE_WAL") == "1":
        _enable_wal(url)

    config: DBOSConfig = {
        "name": os.environ.get("SAMPLE_APP_NAME", "shipmate-sample"),
        "system_database_url": url,
        "application_version": version,
        "executor_id": os.environ.get("DBOS__VMID") or f"sample-{version}-{port}",
        "notification_listener_polling_interval_sec": 0.1,
    }
    schema = os.environ.get("DBOS_SYSTEM_SCHEMA")
    if schema:
        config["dbos_system_schema"] = schema
    DBOS(config=config)
    DBOS.launch()
    DBOS.register_queue(QUEUE, polling_interval_sec=0.2)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    serving = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    serving.start()
    log.info(
        "listening on http://%s:%d version=%s executor=%s",
        host,
        server.server_address[1],
        DBOS.application_version,
        DBOS.executor_id,
    )
    stop.wait()
    log.info("stopping")
    server.shutdown()
    server.server_close()
    completion = int(os.environ.get("SAMPLE_COMPLETION_TIMEOUT", "0"))
    DBOS.destroy(workflow_completion_timeout_sec=completion)
    logging.shutdown()
    # Steps still sleeping run in non-daemon threads; leave them behind as a crash would.
    os._exit(0)


if __name__ == "__main__":
    main()
