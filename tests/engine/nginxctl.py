"""A private nginx for tests (see :mod:`shipmate.demo.nginx`), skipping without nginx.

::

    server = NginxServer(tmp_path)          # picks a free 127.0.0.1 port
    server.start(upstream_port=8001)        # writes upstream.conf, starts the master
    server.get("/version")                  # -> (200, '{"version": ...}')
    server.switch_table()                   # a [deploy.switch] table aimed at it
    server.stop()

:func:`require_nginx` returns the nginx binary, or skips the test, or fails it when
``CI=true``.
"""

from __future__ import annotations

from pathlib import Path

from shipmate.demo import nginx as _nginx
from shipmate.demo.nginx import find_nginx, free_port, wait_for_port
from tests.conftest import require_real_part

__all__ = ["NginxServer", "find_nginx", "free_port", "require_nginx", "wait_for_port"]


def require_nginx() -> str:
    """The nginx binary; skip without it, but fail when CI=true."""
    found = find_nginx()
    if found is None:
        require_real_part("nginx", "not installed (apt-get install nginx-light)")
    return found


class NginxServer(_nginx.NginxServer):
    def __init__(
        self,
        tmp_path: Path,
        *,
        upstream_name: str = "app",
        port: int | None = None,
        address: str = "127.0.0.1",
    ):
        super().__init__(
            tmp_path,
            upstream_name=upstream_name,
            port=port,
            nginx_bin=require_nginx(),
            address=address,
        )
