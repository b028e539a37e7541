"""The HTTP remote mode speaks (cli/backends/transport.py): answers by length, by chunks
and to the end of the connection, interim answers skipped, broken answers and bad URLs
told apart, and a proxy from the environment used through urllib."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import pytest

from shipmate import errors
from shipmate.cli.backends import transport
from shipmate.cli.backends.remote import RemoteBackend
from shipmate.config import Settings


class CannedServer:
    """Answers each connection with the next canned bytes, then closes it; keeps what
    each request sent."""

    def __init__(self, *answers: bytes) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        for answer in self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed by the test: the answers left were not asked for
                return
            with conn:
                conn.settimeout(10)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest)
                conn.sendall(answer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def canned() -> Iterator[type[CannedServer]]:
    made: list[CannedServer] = []

    def make(*answers: bytes) -> CannedServer:
        server = CannedServer(*answers)
        made.append(server)
        return server

    yield make  # type: ignore[misc]
    for server in made:
        server.close()


def _send(
    url: str, body: bytes | None = None, env: dict[str, str] | None = None
) -> transport.Answer:
    return transport.send(
        "POST" if body is not None else "GET",
        url,
        headers={"Accept": "application/json"},
        body=body,
        timeout=10,
        environ=env or {},
    )


def test_an_answer_by_length_and_what_the_request_sent(canned) -> None:  # type: ignore[no-untyped-def]
    server = canned(b'HTTP/1.1 201 Created\r\nContent-Length: 7\r\n\r\n{"a":1}')
    answer = _send(server.url + "/api/v1/builds?x=1", b'{"b":2}')
    assert answer == transport.Answer(201, b'{"a":1}')
    request = server.requests[0]
    assert request.startswith(b"POST /api/v1/builds?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in request
    assert b"Connection: close\r\n" in request and b"Content-Length: 7\r\n" in request
    assert request.endswith(b'\r\n\r\n{"b":2}')


def test_chunks_an_interim_answer_and_an_answer_to_the_end(canned) -> None:  # type: ignore[no-untyped-def]
    server = canned(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4;ext=1\r\n{"a"\r\n3\r\n:1}\r\n0\r\nX-Trailer: t\r\n\r\n',
        b"HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno such thing",
        b"HTTP/1.1 204 No Content\r\n\r\n",
    )
    assert _send(server.url) == transport.Answer(200, b'{"a":1}')
    assert _send(server.url) == transport.Answer(404, b"no such thing")
    assert _send(server.url) == transport.Answer(204, b"")


@pytest.mark.parametrize(
    "answer",
    [
        b"",
        b"SSH-2.0-OpenSSH\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_a_broken_answer_is_told_apart(canned, answer: bytes) -> None:  # type: ignore[no-untyped-def]
    server = canned(answer)
    with pytest.raises(transport.BrokenAnswer):
        _send(server.url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:99999/x", "http://127.0.0.1:80/x y", "ftp://host/x", "http:///x"]
)
def test_a_url_that_cannot_be_sent_is_a_value_error(url: str) -> None:
    with pytest.raises(ValueError):
        _send(url)


def test_a_header_with_a_line_break_is_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        transport.send("GET", "http://127.0.0.1:9/", headers={"X": "a\r\nb"}, body=None, timeout=1)


def test_nothing_listening_is_an_os_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(OSError):
        _send(f"http://127.0.0.1:{port}/")


def test_a_proxy_from_the_environment_gets_the_request(  # type: ignore[no-untyped-def]
    canned, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]")
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    url = "http://shipmate.example.invalid/api/v1/keys"
    answer = transport.send("GET", url, headers={}, body=None, timeout=10)
    assert answer == transport.Answer(200, b"[]")
    assert proxy.requests[0].startswith(b"GET http://shipmate.example.invalid/api/v1/keys ")


def test_idempotency_keys_are_random_uuid4() -> None:
    keys = {transport.idempotency_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(uuid.UUID(k).version == 4 and str(uuid.UUID(k)) == k for k in keys)


def test_a_server_that_answers_no_json_is_a_remote_error(canned) -> None:  # type: ignore[no-untyped-def]
    server = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n<html>hi</html>")
    backend = RemoteBackend(Settings(url=server.url, retry_seconds=0))
    with pytest.raises(errors.RemoteError, match="not JSON; is the url that of a shipmate"):
        backend.gate_rules()
