"""One HTTP request and its answer, for remote mode, on the standard library's socket.

``http.client`` (and ``urllib.request`` above it) import the ``email`` package to
parse headers: a third of the CLI's start-up in remote mode, where a command is a
single JSON request.  This module speaks the little HTTP/1.1 that needs: one
request per connection (``Connection: close``), an answer read to its
``Content-Length``, its chunks, or the end of the connection.  ``ssl`` is imported
for ``https://`` only.

A proxy named in the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, in
either case) sends the request through ``urllib.request`` instead, which knows
proxies and ``NO_PROXY``.

Errors: :class:`OSError` when the server cannot be reached (or the connection
breaks), :class:`ValueError` for a URL that cannot be sent, :class:`BrokenAnswer`
for an answer that is not HTTP.  Every status, 4xx and 5xx included, is returned.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from collections.abc import Mapping
from typing import BinaryIO, NamedTuple

__all__ = ["Answer", "BrokenAnswer", "idempotency_key", "send"]

_PROXY_VARIABLES = ("https_proxy", "http_proxy", "all_proxy")
_MAX_LINE = 65536
_MAX_HEADERS = 100


class Answer(NamedTuple):
    status: int
    body: bytes
    #: The ``Shipmate-Warning`` header (``[catalog] unknown = "warn"`` on the server).
    warning: str | None = None


class BrokenAnswer(Exception):
    """The server's answer is not HTTP (a bad status line, headers or chunk)."""


def idempotency_key() -> str:
    """A random UUID (version 4) as text, without importing :mod:`uuid`."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def send(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: float,
    environ: Mapping[str, str] | None = None,
) -> Answer:
    """Send one request and return the answer, whatever its status."""
    if any(ch <= " " or ch == "\x7f" for ch in url):
        raise ValueError("the URL holds a space or a control character")
    for name, value in headers.items():
        if any(ch in "\r\n\0" for ch in name + value):
            raise ValueError(f"the {name} header holds a line break")
    env = os.environ if environ is None else environ
    if any(env.get(name) or env.get(name.upper()) for name in _PROXY_VARIABLES):
        return _send_via_urllib(method, url, headers=headers, body=body, timeout=timeout)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the URL needs http:// or https:// and a host")
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)  # .port raises ValueError for a bad port
    host = parts.hostname
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    shown_host = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        shown_host += f":{port}"
    lines = [f"{method} {target} HTTP/1.1", f"Host: {shown_host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    # An ASCII name goes to getaddrinfo as bytes: a str is IDNA-encoded first, which
    # imports the idna codec, stringprep and unicodedata.
    address = host.encode("ascii") if host.isascii() else host
    sock = socket.create_connection((address, port), timeout=timeout)  # type: ignore[arg-type]
    try:
        if secure:
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        sock.sendall(head + (body or b""))
        with sock.makefile("rb") as stream:
            return _read_answer(stream, method)
    finally:
        sock.close()


def _line(stream: BinaryIO) -> bytes:
    line = stream.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise BrokenAnswer("a line of the answer is too long")
    return line


def _read_answer(stream: BinaryIO, method: str) -> Answer:
    while True:
        status_line = _line(stream)
        if not status_line:
            raise BrokenAnswer("the server closed the connection without an answer")
        version, _, rest = status_line.partition(b" ")
        code = rest[:3]
        if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise BrokenAnswer("the answer does not start with an HTTP status line")
        status = int(code)
        fields = _read_headers(stream)
        if not 100 <= status < 200:
            break  # an interim answer (100 Continue) is followed by the real one
    warning = fields.get("shipmate-warning")
    if method == "HEAD" or status in (204, 304):
        return Answer(status, b"", warning)
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return Answer(status, _read_chunks(stream), warning)
    length = fields.get("content-length")
    if length is None:
        return Answer(status, stream.read(), warning)
    if not length.strip().isdigit():
        raise BrokenAnswer("the answer's Content-Length is not a number")
    data = stream.read(int(length))
    if len(data) < int(length):
        raise BrokenAnswer("the connection closed before the whole answer arrived")
    return Answer(status, data, warning)


def _read_headers(stream: BinaryIO) -> dict[str, str]:
    fields: dict[str, str] = {}
    for _ in range(_MAX_HEADERS + 1):
        line = _line(stream)
        if line in (b"\r\n", b"\n", b""):
            return fields
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            raise BrokenAnswer("a header line of the answer has no colon")
        fields[name.strip().lower()] = value.strip()
    raise BrokenAnswer(f"the answer has more than {_MAX_HEADERS} headers")


def _read_chunks(stream: BinaryIO) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_text = _line(stream).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BrokenAnswer("a chunk of the answer has no size") from None
        if size == 0:
            _read_headers(stream)  # the trailer
            return b"".join(chunks)
        data = stream.read(size)
        if len(data) < size:
            raise BrokenAnswer("the connection closed inside a chunk")
        chunks.append(data)
        _line(stream)  # the CRLF after the chunk


def _send_via_urllib(
    method: str, url: str, *, headers: Mapping[str, str], body: bytes | None, timeout: float
) -> Answer:
    import http.client
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
    # An opener of its own: urlopen's shared one keeps the proxies of its first call.
    opener = urllib.request.build_opener()
    try:
        with opener.open(req, timeout=timeout) as resp:
            return Answer(resp.status, resp.read(), resp.headers.get("Shipmate-Warning"))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read())
    except urllib.error.URLError as exc:
        reason = exc.reason
        raise reason if isinstance(reason, OSError) else OSError(str(reason)) from None
    except http.client.InvalidURL as exc:
        raise ValueError(str(exc)) from None
    except http.client.HTTPException as exc:
        raise BrokenAnswer(type(exc).__name__) from None
