"""Remote mode needs no database code: the backend interface and the HTTP backend
import and work with SQLAlchemy and Alembic refused by the import system, and so does
every command with a remote backend, run as ``shipmate`` against a real server, and
``--help`` and ``version show``.  Local commands on a migrated database run without
Alembic."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.cli import remote_world
from tests.cli.remote_world import World

world = remote_world.world  # the module's server and data

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


#: ``shipmate *argv`` with the modules named in argv[1] (and their submodules)
#: refused; exits 99 when one of them was imported anyway.
_CLI = textwrap.dedent(
    """
    import importlib.abc
    import sys

    BLOCKED = tuple(sys.argv[1].split(","))


    def blocked(name):
        return any(name == b or name.startswith(b + ".") for b in BLOCKED)


    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if blocked(name):
                raise ImportError(f"{name} is refused in this test")
            return None


    sys.meta_path.insert(0, Refuse())
    from shipmate.cli import main

    try:
        code = main(sys.argv[2:])
    except SystemExit as exc:
        code = exc.code
    loaded = sorted(m for m in sys.modules if blocked(m))
    if loaded:
        print("imported:", loaded, file=sys.stderr)
        code = 99
    sys.exit(code)
    """
)

#: Every command with a remote backend, in an order that works on the world's data
#: (deployment 6 is the one ``record`` here starts, 7 the one ``unlock`` aborts).
REMOTE_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("version", "next", "--product", "api", "--version", "3.0.0", "--no-file"),
    (
        "record",
        "--product",
        "api",
        "--version",
        "3.0.0+build.1",
        "--env",
        "qa",
        "--status",
        "started",
        "--no-detect",
    ),
    ("record", "--id", "6", "--env", "qa", "--status", "completed", "--no-detect"),
    ("mark-rollback", "6", "--reason", "bad"),
    ("history", "--product", "api"),
    ("history", "--json"),
    ("show", "3"),
    ("current",),
    ("stats", "--product", "api"),
    ("keys", "create", "--name", "deployer", "--scope", "write"),
    ("keys", "list"),
    ("keys", "revoke", "deployer"),
    ("gates", "add", "--name", "one-at-a-time", "--kind", "concurrency"),
    ("gates", "list"),
    ("gates", "set-mode", "one-at-a-time", "report_only"),
    ("gates", "check", "--product", "api", "--version", "1.5.0", "--env", "production"),
    ("gates", "remove", "one-at-a-time"),
    ("approve", "--product", "api", "--version", "1.5.0+build.1", "--env", "production"),
    (
        "record",
        "--product",
        "web",
        "--version",
        "2.0.0",
        "--env",
        "qa",
        "--status",
        "started",
        "--no-detect",
    ),
    ("unlock", "--product", "web", "--env", "qa", "--reason", "stuck"),
    ("dora", "--product", "api", "--json"),
    # deploy and rollback in remote mode: tests/cli/test_remote_runs_cli.py (with an agent).
    ("runs", "list"),
    ("hosts",),
    ("versions", "--product", "api"),
)

LOCAL_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("version", "next", "--product", "api", "--version", "4.0.0", "--no-file"),
    (
        "record",
        "--product",
        "api",
        "--version",
        "4.0.0+build.1",
        "--env",
        "dev",
        "--status",
        "completed",
        "--no-detect",
    ),
    ("history",),
    ("current",),
    ("show", "1"),
)


def _shipmate(
    blocked: str, argv: tuple[str, ...], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CLI, blocked, *argv],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_remote_command_runs_without_database_code(world: World) -> None:
    """In order, as one test: each command relies on what the previous ones wrote."""
    for argv in REMOTE_COMMANDS:
        done = _shipmate("sqlalchemy,alembic", argv, world.remote_env(), world.work)
        assert done.returncode == 0, (argv, done.stderr)
        assert done.stdout, argv


@pytest.mark.parametrize("argv", [("--help",), ("version", "show"), ("version", "show", "--json")])
def test_help_and_version_show_import_no_database_code(
    argv: tuple[str, ...], tmp_path: Path
) -> None:
    (tmp_path / "VERSION").write_text("1.2.3\n", encoding="utf-8")
    done = _shipmate("sqlalchemy,alembic", argv, {}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1.2.3" in done.stdout or "usage: shipmate" in done.stdout


def test_local_commands_on_a_migrated_database_import_no_alembic(world: World) -> None:
    """Nor, on SQLite, PostgreSQL's dialect or driver."""
    sqlite = world.database_url.startswith("sqlite")
    blocked = "alembic,sqlalchemy.dialects.postgresql,psycopg" if sqlite else "alembic"
    for argv in LOCAL_COMMANDS:
        done = _shipmate(blocked, argv, world.local_env(), world.work)
        assert done.returncode == 0, (argv, done.stderr)


def test_the_cli_refusal_is_real(world: World) -> None:
    """The same script does catch a command that needs the refused module."""
    done = _shipmate("sqlalchemy", ("history",), world.local_env(), world.work)
    assert done.returncode != 0 and "sqlalchemy" in done.stderr
