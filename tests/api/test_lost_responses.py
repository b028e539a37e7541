"""A finish event whose response is lost, retried the way the Versioner CLI retries.

A real ``shipmate serve`` behind a small real TCP proxy: the proxy forwards a
request, reads shipmate's whole answer (so the write is committed) and closes
the client's connection without answering.  The client is the Versioner CLI's
retry loop (internal/api/client.go): the same JSON body again after a network
error, at most four attempts, 1/2/4 s apart, no idempotency key.
"""

from __future__ import annotations

import http.client
import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from shipmate.config import Settings
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.store.engine import make_engine
from tests.support.server import ServerProcess

BACKOFF = (1.0, 2.0, 4.0)  # the Versioner CLI's


def _read_message(stream: BinaryIO) -> bytes:
    """One HTTP/1.1 message (head and Content-Length body) from ``stream``."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = stream.readline()
        if not line:
            raise ConnectionError("peer closed mid-message")
        head += line
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return head + stream.read(length)


@dataclass
class LossyProxy:
    """Forwards to ``upstream``; drops the answers of the next ``drop`` requests."""

    upstream: int
    drop: int = 0
    dropped: list[bytes] = field(default_factory=list)
    forwarded: int = 0
    port: int = 0  # bound by serve(): the kernel picks it and it stays ours

    def handle(self, client: socket.socket) -> None:
        stream = client.makefile("rb")
        request = _read_message(stream)
        with socket.create_connection(("127.0.0.1", self.upstream), timeout=30) as up:
            up.sendall(request)
            answer = _read_message(up.makefile("rb"))  # the write is committed now
        self.forwarded += 1
        if self.drop > 0:
            self.drop -= 1
            self.dropped.append(answer)
            client.close()  # the response is lost
            return
        client.sendall(answer)

    @contextmanager
    def serve(self) -> Iterator[LossyProxy]:
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy.handle(self.request)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.port = server.server_address[1]
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


def versioner_cli_post(port: int, path: str, token: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST as the Versioner CLI does: retry network errors and 5xx, same body."""
    payload = json.dumps(body).encode()
    last: Exception | None = None
    for attempt in range(4):
        if attempt:
            time.sleep(BACKOFF[attempt - 1])  # the client's own backoff, not a wait on us
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request(
                "POST",
                path,
                body=payload,
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {token}",
                    "User-Agent": "versioner-cli/test",
                },
            )
            resp = conn.getresponse()
            data = json.loads(resp.read() or b"null")
        except (OSError, http.client.HTTPException) as exc:
            last = exc
            continue
        finally:
            conn.close()
        if resp.status < 500 and resp.status != 429:
            return resp.status, data
        last = RuntimeError(f"HTTP {resp.status}")
    raise AssertionError(f"request failed after 3 retries: {last}")


def _get(port: int, path: str, token: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, str, str]]:
    ctx = Context(settings=Settings(database_url=database_url), engine=make_engine(database_url))
    try:
        write = create_key(ctx, "ci", "write").token
        read = create_key(ctx, "reader", "read").token
    finally:
        ctx.close()
    with ServerProcess(database_url, log_path=tmp_path / "server.log") as server:
        yield server, write, read


EVENT = {
    "product_name": "my-service",
    "version": "1.2.3",
    "environment_name": "production",
    "source_system": "github",
    "scm_sha": "abc123def456",
    "invoke_id": "4711",
    "deployed_by": "ci-bot",
    "extra_metadata": {"vi_gh_run_attempt": "1"},
}
PATH = "/versioner/deployment-events/"


def test_finish_retried_after_lost_response_is_one_deployment(
    served: tuple[ServerProcess, str, str],
) -> None:
    server, write, read = served
    with LossyProxy(upstream=server.port).serve() as proxy:
        status, started = versioner_cli_post(
            proxy.port, PATH, write, {**EVENT, "status": "started"}
        )
        assert status == 201 and started["status"] == "started"

        proxy.drop = 1  # shipmate commits the finish; its answer never arrives
        status, done = versioner_cli_post(proxy.port, PATH, write, {**EVENT, "status": "success"})
        assert proxy.forwarded == 3 and len(proxy.dropped) == 1  # the retry reached shipmate
        lost = json.loads(proxy.dropped[0].split(b"\r\n\r\n", 1)[1])
        assert proxy.dropped[0].startswith(b"HTTP/1.1 201")
        assert status == 200  # a replay, not a new record
        assert done == lost  # the answer the first attempt would have had
        assert done["id"] == started["id"] and done["status"] == "completed"

        history = _get(proxy.port, "/api/v1/deployments?product=my-service", read)
        assert [d["id"] for d in history["items"]] == [started["id"]]
        stats = _get(proxy.port, "/api/v1/stats?product=my-service", read)
        assert (stats["total"], stats["completed"]) == (1, 1)
        shown = _get(proxy.port, f"/api/v1/deployments/{started['id']}", read)
        assert [e["to_status"] for e in shown["events"]] == ["started", "completed"]

        # A CI re-run (same run id) sends started again: a new attempt, a new deployment.
        status, rerun = versioner_cli_post(proxy.port, PATH, write, {**EVENT, "status": "started"})
        assert status == 201 and rerun["id"] != started["id"]
        status, rerun_done = versioner_cli_post(
            proxy.port, PATH, write, {**EVENT, "status": "success"}
        )
        assert rerun_done["id"] == rerun["id"] and rerun_done["status"] == "completed"
        history = _get(proxy.port, "/api/v1/deployments?product=my-service", read)
        assert history["count"] == 2


def test_direct_failure_retried_after_lost_response_is_one_deployment(
    served: tuple[ServerProcess, str, str],
) -> None:
    """A ``failed`` with no ``started`` before it (the event opens the deployment)."""
    server, write, read = served
    with LossyProxy(upstream=server.port, drop=2).serve() as proxy:
        status, failed = versioner_cli_post(proxy.port, PATH, write, {**EVENT, "status": "failed"})
        assert (status, failed["status"], len(proxy.dropped)) == (200, "failed", 2)
        assert json.loads(proxy.dropped[0].split(b"\r\n\r\n", 1)[1])["id"] == failed["id"]
        stats = _get(proxy.port, "/api/v1/stats?product=my-service", read)
        assert (stats["total"], stats["failed"]) == (1, 1)
        # Another CI run is another attempt, even for the same version and status.
        status, other = versioner_cli_post(
            proxy.port, PATH, write, {**EVENT, "status": "failed", "invoke_id": "4712"}
        )
        assert status == 201 and other["id"] != failed["id"]
