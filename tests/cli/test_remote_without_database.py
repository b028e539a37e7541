"""Remote mode needs no database code: the backend interface and the HTTP backend
import and work with SQLAlchemy and Alembic refused by the import system."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import importlib.abc
    import json
    import sys
    import threading
    from datetime import UTC, datetime
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    BLOCKED = ("sqlalchemy", "alembic")


    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is refused in this test")
            return None


    sys.meta_path.insert(0, Refuse())

    from shipmate.cli.backends.interface import Backend, open_backend
    from shipmate.cli.backends.remote import RemoteBackend
    from shipmate.config import Settings
    from shipmate.domain.records import DeploymentRecord
    from shipmate.domain.requests import HistoryFilter, RecordRequest

    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    dep = DeploymentRecord(
        id=7, product="api", environment="prod", environment_kind="production",
        version="1.4.0", build_number=3, full_version="1.4.0+build.3", status="completed",
        kind="deploy", reverts_id=None, commit_sha="abc", commit_time=None, branch="main",
        repository=None, deployed_by="ci", ci_platform=None, ci_run_id=None, ci_run_url=None,
        source_system="shipmate-cli", metadata={"k": "v"}, deployed_at=at, created_at=at,
        updated_at=at, started_at=at, finished_at=at, duration_ms=0,
    )
    seen = []


    class Server(BaseHTTPRequestHandler):
        def _answer(self, body):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            seen.append(("GET", self.path))
            self._answer({"items": [dep.to_dict()], "next_cursor": None})

        def do_POST(self):
            length = int(self.headers["Content-Length"])
            seen.append(("POST", self.path, json.loads(self.rfile.read(length))))
            self._answer(dep.to_dict())

        def log_message(self, *args):
            pass


    server = ThreadingHTTPServer(("127.0.0.1", 0), Server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    backend: Backend = open_backend(Settings(url=url))
    assert isinstance(backend, RemoteBackend)
    page = backend.history(HistoryFilter(product="api"), limit=5, cursor=None)
    recorded = backend.record(
        RecordRequest(environment="prod", status="completed", product="api", version="1.4.0")
    )
    marked = backend.mark_rollback("7", product=None, environment=None, reason="bad")
    backend.close()
    server.shutdown()

    assert [d.to_dict() for d in page.items] == [dep.to_dict()]
    assert recorded.to_dict() == marked.to_dict() == dep.to_dict()
    assert seen[0] == ("GET", "/api/v1/deployments?product=api&limit=5")
    assert seen[1][:2] == ("POST", "/api/v1/deployments")
    assert seen[1][2]["product"] == "api" and seen[1][2]["status"] == "completed"
    assert seen[2] == ("POST", "/api/v1/deployments/7/rollback-mark", {"reason": "bad"})
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not loaded, loaded
    print("remote ok")
    """
)


def test_remote_backend_works_without_database_code() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "remote ok"


def test_the_refusal_is_real() -> None:
    """The same finder does stop the services the local backend calls."""
    script = _SCRIPT.split("from shipmate.cli.backends.interface")[0] + textwrap.dedent(
        """
        try:
            import shipmate.services.queries  # noqa: F401
        except ImportError as exc:
            print("refused:", exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused: sqlalchemy")
