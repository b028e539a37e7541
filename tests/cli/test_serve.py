"""``shipmate serve``: several workers share one TCP socket with Nagle off."""

from __future__ import annotations

import asyncio
import http.client
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shipmate.cli.records.handlers import bind_tcp
from shipmate.errors import ConflictError
from tests.support.server import ServerProcess


def _nodelay_of_accepted(listening: socket.socket) -> int:
    """TCP_NODELAY on the server side of a connection asyncio accepted on ``listening``."""

    async def main() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_connect(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            sock = w.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            w.close()

        server = await asyncio.start_server(on_connect, sock=listening)
        port = listening.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(seen, 10)
        finally:
            writer.close()
            server.close()

    return asyncio.run(main())


def test_the_shared_socket_gives_connections_tcp_nodelay() -> None:
    sock = bind_tcp("127.0.0.1", 0)
    assert sock.proto == socket.IPPROTO_TCP
    assert sock.get_inheritable()
    assert _nodelay_of_accepted(sock) != 0


def test_a_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConflictError) as err:
            bind_tcp("127.0.0.1", port)
    assert err.value.field == "port"
    assert f"127.0.0.1:{port}" in str(err.value)


def test_the_socket_queues_connections_once_bound() -> None:
    sock = bind_tcp("127.0.0.1", 0)
    try:
        with socket.create_connection(sock.getsockname(), timeout=10):
            pass  # accepted by the kernel before any server runs
    finally:
        sock.close()


def test_two_workers_serve_requests(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    with ServerProcess(url, workers=2, log_path=tmp_path / "server.log") as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            for _ in range(20):  # one kept-alive connection, request after request
                conn.request("GET", "/readyz")
                resp = conn.getresponse()
                assert resp.status == 200, resp.read()
                resp.read()
        finally:
            conn.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_on_a_taken_port_exits_1_naming_it(tmp_path: Path, workers: int) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "shipmate",
                "--database-url",
                f"sqlite:///{tmp_path / 'x.db'}",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        f"shipmate: error [port]: cannot listen on 127.0.0.1:{port}: the address is already "
        "in use (another server runs there; stop it or pick another --port)\n"
    )
    assert "serving" not in done.stdout
