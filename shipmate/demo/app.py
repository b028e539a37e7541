"""A tiny HTTP app that reports its version: the sample shipmate deploys in demos and tests.

Run it as ``python -m shipmate.demo.app --port 8001`` (or with ``PORT`` set).  Routes:

* ``GET /`` and ``GET /version``: JSON ``{"version", "full_version", "slot",
  "app_version", "pid"}`` from ``SHIPMATE_VERSION``, ``SHIPMATE_FULL_VERSION``,
  ``SHIPMATE_SLOT`` and ``DBOS__APPVERSION``;
* ``GET /healthz``: 200 ``ok``, or 500 when told to be unhealthy;
* ``GET /slow?seconds=N``: answers after N seconds (to test graceful stops);
* ``GET /inflight``: JSON ``{"in_flight": N}``, the requests being handled besides
  this one (usable by an ``http`` drain check).

Knobs for tests: ``DEMOAPP_UNHEALTHY=1`` makes ``/healthz`` answer 500 from the
start; ``DEMOAPP_FAIL_AFTER=<seconds>`` makes it healthy at first and 500 after
that many seconds.  On SIGTERM (or SIGINT) the server stops accepting, finishes the
requests in flight, then exits 0.  It uses a thread per request.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from urllib.parse import parse_qs, urlsplit

__all__ = ["DemoServer", "main"]


class DemoServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() waits for requests in flight

    def __init__(self, address: tuple[str, int], *, fail_after: float | None, unhealthy: bool):
        super().__init__(address, DemoHandler)
        self.started = time.monotonic()
        self.fail_after = fail_after
        self.unhealthy = unhealthy
        self.lock = threading.Lock()
        self.in_flight = 0

    def healthy(self) -> bool:
        if self.unhealthy:
            return False
        if self.fail_after is not None:
            return time.monotonic() - self.started < self.fail_after
        return True


class DemoHandler(BaseHTTPRequestHandler):
    server: DemoServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.in_flight += 1
        try:
            self._route()
        finally:
            with self.server.lock:
                self.server.in_flight -= 1

    def _route(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/inflight":
            with self.server.lock:
                count = self.server.in_flight - 1
            self._send(200, "application/json", json.dumps({"in_flight": count}) + "\n")
        elif url.path in ("/", "/version"):
            self._send(200, "application/json", json.dumps(_identity()) + "\n")
        elif url.path == "/healthz":
            if self.server.healthy():
                self._send(200, "text/plain", "ok\n")
            else:
                self._send(500, "text/plain", "unhealthy\n")
        elif url.path == "/slow":
            parsed = _float(parse_qs(url.query).get("seconds", ["1"])[0], None)
            seconds = 1.0 if parsed is None else parsed
            time.sleep(min(max(seconds, 0.0), 60.0))
            self._send(200, "application/json", json.dumps(_identity()) + "\n")
        else:
            self._send(404, "text/plain", "not found\n")

    def _send(self, status: int, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        if os.environ.get("DEMOAPP_QUIET") != "1":
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


def _identity() -> dict[str, object]:
    return {
        "version": os.environ.get("SHIPMATE_VERSION", ""),
        "full_version": os.environ.get("SHIPMATE_FULL_VERSION", ""),
        "slot": os.environ.get("SHIPMATE_SLOT", ""),
        "app_version": os.environ.get("DBOS__APPVERSION", ""),
        "pid": os.getpid(),
    }


def _float(text: str | None, default: float | None) -> float | None:
    if text is None or not text.strip():
        return default
    try:
        return float(text)
    except ValueError:
        return default


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shipmate.demo.app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    port = args.port if args.port is not None else int(os.environ.get("PORT", "8000"))
    server = DemoServer(
        (args.host, port),
        fail_after=_float(os.environ.get("DEMOAPP_FAIL_AFTER"), None),
        unhealthy=os.environ.get("DEMOAPP_UNHEALTHY") == "1",
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return, which runs in this very
        # thread, so it must be called from another one.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"demoapp {os.environ.get('SHIPMATE_FULL_VERSION', '?')} on {args.host}:{port}", flush=True
    )
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
