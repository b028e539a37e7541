"""Clients that keep sending requests to nginx while a test deploys or rolls back.

``Load(port, fresh=2, keepalive=2)`` runs threads that ask ``/version`` until
stopped: *fresh* clients open a new connection for every request, *keep-alive*
clients reuse one connection until nginx closes it.  Every answer that is not 200
is a failure.  A connection nginx closes before answering (an old worker going away
on reload closes the connections it holds idle: nginx's own race, which a client
handles by sending again) is counted in ``closed``; any other error is a failure.
"""

from __future__ import annotations

import http.client
import threading

__all__ = ["Load"]

_CLOSED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class Load:
    def __init__(self, port: int, *, fresh: int = 2, keepalive: int = 2, limit: int = 20000):
        self.port = port
        self.limit = limit
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = {"fresh": 0, "keepalive": 0}
        self.failures: list[str] = []
        self.closed = 0
        self.versions: list[str] = []
        self.threads = [threading.Thread(target=self._fresh) for _ in range(fresh)]
        self.threads += [threading.Thread(target=self._keepalive) for _ in range(keepalive)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    @property
    def total(self) -> int:
        return sum(self.ok.values()) + len(self.failures)

    def _answer(self, kind: str, status: int, body: str) -> None:
        with self.lock:
            if status != 200:
                self.failures.append(f"{kind}: HTTP {status}: {body[:100]}")
                return
            self.ok[kind] += 1
            version = body.split('"full_version": "', 1)[1].split('"', 1)[0]
            if not self.versions or self.versions[-1] != version:
                self.versions.append(version)

    def _fresh(self) -> None:
        for _ in range(self.limit):
            if self.stop.is_set():
                return
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                conn.request("GET", "/version", headers={"Connection": "close"})
                response = conn.getresponse()
                self._answer("fresh", response.status, response.read().decode())
            except _CLOSED:
                with self.lock:
                    self.closed += 1
            except (OSError, http.client.HTTPException) as exc:
                with self.lock:
                    self.failures.append(f"fresh: {type(exc).__name__}: {exc}")
            finally:
                conn.close()

    def _keepalive(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for _ in range(self.limit):
                if self.stop.is_set():
                    return
                try:
                    conn.request("GET", "/version")
                    response = conn.getresponse()
                    self._answer("keepalive", response.status, response.read().decode())
                    if response.will_close:
                        conn.close()
                except _CLOSED:
                    conn.close()
                    with self.lock:
                        self.closed += 1
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    with self.lock:
                        self.failures.append(f"keepalive: {type(exc).__name__}: {exc}")
        finally:
            conn.close()
