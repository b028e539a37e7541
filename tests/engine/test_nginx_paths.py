"""The private nginx starts from a relative folder too (``make demo`` passes ``demo-data``)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.engine.nginxctl import NginxServer


def test_a_relative_folder_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    server = NginxServer(Path("demo-data") / "bluegreen")
    try:
        server.start(upstream_port=9)
        assert server.conf.is_absolute()
        with socket.create_connection(("127.0.0.1", server.port), timeout=5):
            pass  # the master listens
    finally:
        server.stop()
