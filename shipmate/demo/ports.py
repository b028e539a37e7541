"""Ports for throwaway servers (nginx, apps, PostgreSQL, ``shipmate serve``).

Asking the kernel for port 0 and closing the socket is racy: the next call may get the
same port back, and any outgoing connection may take it before the server binds it.
Ports here come from below the kernel's ephemeral range (so no outgoing connection
takes them), from a band of their own per pytest-xdist worker (so two workers never
hand out the same one), and never twice in one process.  Each is checked free by a
bind before it is handed out.
"""

from __future__ import annotations

import os
import random
import socket
import threading

__all__ = ["free_port"]

#: Below Linux's default ephemeral range (32768-60999).
_LOW, _HIGH = 10000, 32000
_BAND = 1100

_lock = threading.Lock()
_given: set[int] = set()
_cursor: list[int] = []


def _band() -> tuple[int, int]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    digits = "".join(ch for ch in worker if ch.isdigit())
    index = int(digits) if digits else 0
    bands = (_HIGH - _LOW) // _BAND
    # Worker k uses band k + 1; band 0 is for processes outside pytest-xdist.
    start = _LOW + ((index + 1 if worker else 0) % bands) * _BAND
    return start, start + _BAND


def _is_free(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that nothing listens on and this process has not given out."""
    start, end = _band()
    with _lock:
        if not _cursor:
            # Another test run may share the band (two checkouts at once): start anywhere.
            _cursor.append(random.randrange(start, end))
        for _ in range(end - start):
            port = _cursor[0]
            _cursor[0] = start + (port + 1 - start) % (end - start)
            if port not in _given and _is_free(port, host):
                _given.add(port)
                return port
    raise RuntimeError(f"no free port left in {start}-{end}")
