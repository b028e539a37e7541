"""PostgreSQL goes away under a running `shipmate serve --workers 2`, then comes back.

While it is stopped every route that needs the database answers 503 ``store_error``
with ``Retry-After`` (never 500); the server's log gets one line per worker and
transition, not a traceback per request; once it is started again the same server
answers without a restart (its pooled connections were cut), and every write that
was acknowledged with a 2xx is in the database.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from shipmate.config import Settings
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.store.engine import make_engine
from shipmate.store.migrate import ensure_schema
from shipmate.store.schema import deployments
from tests.conftest import require_real_part
from tests.support.postgres import PostgresNotAvailable, PostgresServer
from tests.support.server import ServerProcess

WORKERS = 2
PASSWORD = "pw-Outage-7"  # trust auth ignores it; it must never show up anywhere
ROUNDS = 8  # requests per route while the database is down (spread over the workers)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> dict[str, object]:
        parsed: dict[str, object] = json.loads(self.body)
        return parsed


def _lower(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in items}


def call(base: str, method: str, path: str, token: str, body: object = None) -> Answer:
    req = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return Answer(resp.status, _lower(resp.headers.items()), resp.read().decode())
    except urllib.error.HTTPError as err:
        return Answer(err.code, _lower(err.headers.items()), err.read().decode())


@pytest.fixture
def cluster() -> Iterator[PostgresServer]:
    """A cluster of this test's own: it is stopped and started under the server."""
    try:
        server = PostgresServer().start()
    except PostgresNotAvailable as exc:
        require_real_part("PostgreSQL", str(exc))
        raise
    try:
        yield server
    finally:
        server.stop()


class Writer(threading.Thread):
    """Records a deployment per call until stopped; keeps what was acknowledged."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(daemon=True)
        self.base, self.token = base, token
        self.stop = threading.Event()
        self.acknowledged: dict[int, str] = {}  # deployment id -> ci_run_id
        self.refused = 0
        self.other: list[Answer] = []
        self.calls = 0

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            run_id = f"writer-{n}"
            try:
                answer = self.post(n, run_id)
            except OSError as exc:  # the server itself is gone: the test failed already
                self.other.append(Answer(0, {}, repr(exc)))
                return
            self.calls += 1
            if answer.status == 201:
                self.acknowledged[int(answer.json()["id"])] = run_id  # type: ignore[call-overload]
            elif answer.status == 503:
                self.refused += 1
            else:
                self.other.append(answer)

    def post(self, n: int, run_id: str) -> Answer:
        return call(
            self.base,
            "POST",
            "/api/v1/deployments",
            self.token,
            {
                "product": "api",
                "environment": f"env-{n % 3}",
                "version": f"1.0.{n}",
                "status": "completed",
                "ci_run_id": run_id,
            },
        )


def wait_for(condition: object, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def test_a_stopped_postgres_is_503_everywhere_and_the_server_recovers(
    cluster: PostgresServer, tmp_path: Path
) -> None:
    url = cluster.url.replace("shipmate@", f"shipmate:{PASSWORD}@")
    ctx = Context(settings=Settings(database_url=url), engine=make_engine(url))
    ensure_schema(ctx.engine)
    token = create_key(ctx, "ci", "write").token
    ctx.close()
    log_path = tmp_path / "server.log"
    server = ServerProcess(url, workers=WORKERS, log_path=log_path).start(timeout=90)
    writer = Writer(server.base_url, token)
    try:
        base = server.base_url
        first = call(
            base,
            "POST",
            "/api/v1/deployments",
            token,
            {"product": "api", "environment": "staging", "version": "0.9.0", "status": "started"},
        )
        assert first.status == 201, first.body
        dep = first.json()["id"]
        writer.start()
        wait_for(lambda: len(writer.acknowledged) >= 3, "writes before the outage")

        cluster.halt("fast")  # a restart's shutdown: every pooled connection is cut
        wait_for(lambda: writer.refused >= 3, "writes refused during the outage")

        routes: list[tuple[str, str, object]] = [
            ("GET", "/api/v1/deployments", None),
            ("POST", f"/api/v1/deployments/{dep}/events", {"status": "success"}),
            (
                "POST",
                "/versioner/deployment-events/",
                {
                    "product_name": "api",
                    "version": "2.0.0",
                    "environment_name": "production",
                    "status": "started",
                },
            ),
            ("GET", "/api/deployments?product=api", None),  # bloqr
            ("GET", "/history", None),  # a dashboard page (HTML)
            ("GET", "/history?format=json", None),  # and its JSON twin
            ("GET", "/readyz", None),
        ]
        for method, path, body in routes:
            for _ in range(ROUNDS):
                answer = call(base, method, path, token, body)
                assert answer.status == 503, (method, path, answer.status, answer.body)
                assert answer.headers.get("retry-after", "").isdigit(), (path, answer.headers)
                for secret in (PASSWORD, str(cluster.port), "127.0.0.1"):
                    assert secret not in answer.body, (path, answer.body)
                if path.startswith("/versioner"):
                    assert "database is unavailable" in answer.json()["detail"]  # type: ignore[operator]
                elif path.startswith("/api/deployments"):
                    assert answer.json()["code"] == "store_error"
                elif path == "/history":
                    assert "database is unavailable" in answer.body
                else:
                    error = answer.json()["error"]
                    assert isinstance(error, dict) and error["code"] == "store_error", answer.body
        alive = call(base, "GET", "/healthz", token)  # liveness never needs the database
        assert alive.status == 200

        cluster.resume()
        # No restart of the server: the very next requests are answered.
        for method, path, body in routes:
            if path.endswith("/events"):
                continue  # done below: the deployment may complete only once
            answer = call(base, method, path, token, body)
            assert answer.status in (200, 201), (method, path, answer.status, answer.body)
        done = call(base, "POST", f"/api/v1/deployments/{dep}/events", token, {"status": "success"})
        assert done.status == 200 and done.json()["status"] == "completed", done.body
        acknowledged_before = len(writer.acknowledged)
        wait_for(
            lambda: len(writer.acknowledged) >= acknowledged_before + 5, "writes after recovery"
        )
        wait_for(
            lambda: log_path.read_text().count("database reachable again") >= 1,
            "the recovery in the log",
        )
    finally:
        writer.stop.set()
        if writer.is_alive():
            writer.join(timeout=90)
        server.stop()

    assert writer.other == [], writer.other  # only 201 or 503: never a 500
    check = Context(settings=Settings(database_url=url), engine=make_engine(url))
    with check.read() as conn:
        stored = dict(
            (row.id, row.ci_run_id)
            for row in conn.execute(select(deployments.c.id, deployments.c.ci_run_id))
        )
    check.close()
    for dep_id, run_id in writer.acknowledged.items():
        assert stored.get(dep_id) == run_id, f"acknowledged deployment {dep_id} was lost"

    log = log_path.read_text()
    requests = len(routes) * ROUNDS + writer.refused
    down = log.count("database unreachable:")
    up = log.count("database reachable again")
    assert 1 <= down <= WORKERS, log  # once per worker that noticed, not once per request
    reasons = [line for line in log.splitlines() if line.startswith("database unreachable: ")]
    assert all(len(line) > len("database unreachable: ") for line in reasons), reasons
    assert 1 <= up <= down, log
    assert down < requests
    assert "Traceback" not in log, log
    assert PASSWORD not in log
